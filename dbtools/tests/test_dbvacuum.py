"""dbvacuum: space given back, statistics refreshed, rows untouched, on real
SQLite files and on the PostgreSQL / MariaDB servers."""

from __future__ import annotations

import shutil
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dbtools import maintenance
from dbtools.sqlite import Database
from dbtools.tests.maintenance_support import (
    POSTS,
    copy_database,
    database_alias,
    file_digest,
    manage,
    rows_digest,
    seeded_template,
)
from dbtools.tests.sqlite_pages import corrupt_a_page

# The SQLite file tests open their own files and do not depend on
# DATABASE_URL: they run once, in the SQLite leg of the test matrix.
sqlite_files = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite file tests run in the SQLite leg of the test matrix"
)


@pytest.fixture
def db_copy(tmp_path_factory, tmp_path):
    path = copy_database(seeded_template(tmp_path_factory), tmp_path / "copy.sqlite3")
    with database_alias("maintained", f"sqlite:///{path}", timeout=1):
        yield path


def dbvacuum(*args: str, database: str = "maintained") -> str:
    out = StringIO()
    call_command("dbvacuum", "--database", database, *args, stdout=out)
    return out.getvalue()


def delete_every_other_post(path: Path) -> None:
    conn = Database.connect(path)
    conn.execute("DELETE FROM posts_post WHERE id % 2 = 0")
    conn.commit()
    conn.close()


def files_size(path: Path) -> int:
    return maintenance.sqlite_files_size(path)


def scalar(path: Path, sql: str):
    conn = Database.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


@sqlite_files
def test_full_vacuum_after_deleting_half_the_posts_shrinks_the_file_and_keeps_every_row(db_copy):
    delete_every_other_post(db_copy)
    count, digest = rows_digest(db_copy)
    assert scalar(db_copy, "SELECT COUNT(*) FROM posts_post") == POSTS // 2
    before = files_size(db_copy)

    out = dbvacuum("--full")

    after = files_size(db_copy)
    assert after < before * 0.75, (before, after)
    assert rows_digest(db_copy) == (count, digest)
    assert scalar(db_copy, "PRAGMA quick_check") == "ok"
    assert scalar(db_copy, "PRAGMA freelist_count") == 0
    assert not Path(f"{db_copy}-wal").exists() or Path(f"{db_copy}-wal").stat().st_size == 0
    # It says what it did: the wait for writers, the steps, the sizes and the time.
    assert "writers wait" in out
    assert "VACUUM (" in out
    assert f"{maintenance.human_bytes(before)} before, {maintenance.human_bytes(after)} after" in out
    assert "reclaimed" in out
    assert " took " in out


@sqlite_files
def test_plain_vacuum_empties_the_wal_and_refreshes_statistics_without_rewriting(db_copy):
    delete_every_other_post(db_copy)
    writer = Database.connect(db_copy, isolation_level=None)
    try:
        # Keep pages in the WAL: no automatic checkpoint, and the connection
        # stays open so closing it does not checkpoint either.
        writer.execute("PRAGMA wal_autocheckpoint=0")
        writer.execute("UPDATE posts_post SET body = body || '!'")
        wal = Path(f"{db_copy}-wal")
        assert wal.stat().st_size > 1_000_000
        count, digest = rows_digest(db_copy)
        pages_before = scalar(db_copy, "PRAGMA page_count")
        assert scalar(db_copy, "PRAGMA freelist_count") > 50

        out = dbvacuum()

        assert wal.stat().st_size == 0
        assert "PRAGMA wal_checkpoint(TRUNCATE)" in out
        assert scalar(db_copy, "SELECT COUNT(*) FROM sqlite_stat1 WHERE tbl = 'posts_post'") > 0
        assert rows_digest(db_copy) == (count, digest)
        # Without --full nothing is rewritten: the file keeps its pages (the
        # statistics table may take one of the free ones).
        assert scalar(db_copy, "PRAGMA page_count") == pages_before
        assert scalar(db_copy, "PRAGMA freelist_count") > 50
        assert "VACUUM (" not in out
    finally:
        writer.close()


@sqlite_files
def test_dry_run_changes_nothing(db_copy):
    delete_every_other_post(db_copy)
    digest = file_digest(db_copy)
    out = dbvacuum("--full", "--dry-run")
    assert file_digest(db_copy) == digest
    assert "would run: VACUUM" in out
    assert "nothing was changed" in out
    assert sorted(p.name for p in db_copy.parent.iterdir()) == ["copy.sqlite3"]


@sqlite_files
def test_a_reader_holding_an_old_snapshot_is_reported_not_waited_for_forever(db_copy):
    reader = Database.connect(db_copy, isolation_level=None)
    writer = Database.connect(db_copy, isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM posts_post").fetchone()
        writer.execute("DELETE FROM posts_post WHERE id % 3 = 0")
        started = time.monotonic()
        out, err = StringIO(), StringIO()
        # The alias has a 1 s busy timeout; -v0 as from cron.
        call_command("dbvacuum", "--database", "maintained", "-v0", stdout=out, stderr=err)
        assert time.monotonic() - started < 15
        assert out.getvalue() == ""
        assert "the WAL could not be emptied" in err.getvalue()
        assert "old read snapshot" in err.getvalue()
    finally:
        reader.close()
        writer.close()


@sqlite_files
def test_a_corrupt_file_is_refused_before_vacuum_and_left_as_it_was(db_copy):
    corrupt_a_page(db_copy, nth=0, garbage=b"\xff")
    digest = file_digest(db_copy)
    with pytest.raises(CommandError, match="VACUUM refused"):
        dbvacuum("--full")
    assert file_digest(db_copy) == digest


@sqlite_files
def test_too_little_free_disk_stops_vacuum_before_it_starts(db_copy, monkeypatch):
    delete_every_other_post(db_copy)
    digest = file_digest(db_copy)
    real = shutil.disk_usage

    def nearly_full(path):
        usage = real(path)
        return usage._replace(free=1024)

    monkeypatch.setattr(maintenance.shutil, "disk_usage", nearly_full)
    with pytest.raises(CommandError, match="not enough free disk for VACUUM"):
        dbvacuum("--full")
    assert file_digest(db_copy) == digest


def test_vacuum_space_covers_the_temp_copy_and_the_journal(tmp_path):
    needs = maintenance.vacuum_space_needed(database_dir=tmp_path, temp_dir=tmp_path, live_bytes=1000)
    # Same file system: both copies counted against it.
    assert [needed for needed, _free in needs.values()] == [2200]


@sqlite_files
def test_a_missing_file_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "gone.sqlite3"
    with database_alias("gone", f"sqlite:///{path}"), pytest.raises(CommandError, match="does not exist"):
        dbvacuum(database="gone")
    assert not path.exists()


@sqlite_files
def test_exit_status_from_manage_py(tmp_path_factory, tmp_path):
    path = copy_database(seeded_template(tmp_path_factory), tmp_path / "db.sqlite3")
    done = manage("dbvacuum", "--full", database_url=f"sqlite:///{path}")
    assert done.returncode == 0, done.stderr
    assert "took" in done.stdout
    missing = tmp_path / "missing.sqlite3"
    done = manage("dbvacuum", database_url=f"sqlite:///{missing}")
    assert done.returncode == 1
    assert "CommandError: the database file" in done.stderr
    assert "Traceback" not in done.stderr
    assert not missing.exists()


# --- PostgreSQL and MariaDB ---------------------------------------------------------


def make_posts(count: int) -> None:
    from posts.models import Post
    from users.models import User

    author = User.objects.create_user(username="writer", email="writer@example.com", password=None)
    Post.objects.bulk_create(Post(author=author, title=f"post {i}", body="b" * 500) for i in range(count))


def server_rows() -> list[tuple]:
    from posts.models import Post

    return list(Post.objects.order_by("id").values_list("id", "author_id", "title", "body", "created_at"))


@pytest.mark.parametrize(("scheme", "driver"), [("postgres", "psycopg"), ("mysql", "MySQLdb")])
def test_a_server_that_does_not_answer_is_an_error(scheme, driver):
    pytest.importorskip(driver, reason=f"the {scheme} driver is not installed")
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with (
        database_alias("down", f"{scheme}://user@127.0.0.1:{port}/nothing"),
        pytest.raises(CommandError, match="does not answer"),
    ):
        dbvacuum(database="down")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
@pytest.mark.django_db(transaction=True)
def test_postgresql_vacuum_analyze_of_the_project_tables():
    from posts.models import Post

    make_posts(2000)
    Post.objects.filter(id__in=list(Post.objects.values_list("id", flat=True)[:1000])).delete()
    rows = server_rows()

    out = dbvacuum(database="default")

    assert 'VACUUM (ANALYZE) "posts_post"' in out
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, last_vacuum IS NOT NULL, last_analyze IS NOT NULL, n_dead_tup"
            " FROM pg_stat_user_tables WHERE relname IN ('posts_post', 'users_user') ORDER BY relname"
        )
        assert cursor.fetchall() == [("posts_post", True, True, 0), ("users_user", True, True, 0)]
    assert server_rows() == rows

    out = dbvacuum("--full", database="default")
    assert 'VACUUM (FULL, ANALYZE) "posts_post"' in out
    assert "exclusive lock" in out
    assert server_rows() == rows


@pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB/MySQL only")
@pytest.mark.django_db(transaction=True)
def test_mariadb_analyze_and_optimize_table():
    from posts.models import Post

    make_posts(2000)
    Post.objects.filter(id__in=list(Post.objects.values_list("id", flat=True)[:1000])).delete()
    rows = server_rows()

    def table_id() -> int:
        # OPTIMIZE TABLE on InnoDB recreates the table: it gets a new id.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_ID FROM information_schema.INNODB_SYS_TABLES"
                " WHERE NAME = CONCAT(DATABASE(), '/posts_post')"
            )
            return cursor.fetchone()[0]

    first = table_id()
    out = dbvacuum(database="default")
    assert "ANALYZE TABLE" in out
    assert "OPTIMIZE" not in out
    assert "  posts_post: OK" in out
    assert table_id() == first
    assert server_rows() == rows

    out = dbvacuum("--full", database="default")
    assert "OPTIMIZE TABLE" in out
    assert table_id() != first
    assert server_rows() == rows
