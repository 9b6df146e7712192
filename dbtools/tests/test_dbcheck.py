"""dbcheck: findings and exit codes on real SQLite files, and on the
PostgreSQL / MariaDB servers when the suite runs against them."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from dbtools import health
from dbtools.sqlite import Database
from dbtools.tests.maintenance_support import (
    copy_database,
    database_alias,
    file_digest,
    manage,
    seeded_template,
)
from dbtools.tests.sqlite_pages import corrupt_a_page

OLD_SQLITE = Database.sqlite_version_info < health.WAL_RESET_FIXED_IN


# The SQLite file tests open their own files and do not depend on
# DATABASE_URL: they run once, in the SQLite leg of the test matrix.
sqlite_files = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="SQLite file tests run in the SQLite leg of the test matrix"
)


@pytest.fixture
def db_copy(tmp_path_factory, tmp_path):
    """A fresh copy of the seeded SQLite file, registered as the "checked" alias."""
    path = copy_database(seeded_template(tmp_path_factory), tmp_path / "copy.sqlite3")
    with database_alias("checked", f"sqlite:///{path}"):
        yield path


def dbcheck(*args: str, database: str = "checked") -> tuple[int, dict]:
    """Run dbcheck --json in-process; return (exit code, report)."""
    out = StringIO()
    try:
        call_command("dbcheck", "--database", database, "--json", *args, stdout=out)
        code = 0
    except CommandError as exc:
        code = exc.returncode
    report = json.loads(out.getvalue())
    assert report["exit_code"] == code
    return code, report


def findings(report: dict, check: str) -> list[dict]:
    return [f for f in report["findings"] if f["check"] == check]


def levels(report: dict) -> dict[str, str]:
    """check -> worst level seen for it."""
    order = {level: i for i, level in enumerate(health.LEVELS)}
    worst: dict[str, str] = {}
    for f in report["findings"]:
        if f["check"] not in worst or order[f["level"]] > order[worst[f["check"]]]:
            worst[f["check"]] = f["level"]
    return worst


# --- SQLite: healthy, corrupt, missing ---------------------------------------------


@sqlite_files
def test_a_healthy_file_passes_every_check(db_copy, monkeypatch):
    # Pretend this SQLite has the WAL-reset fix, to see the rest all healthy.
    monkeypatch.setattr(health, "WAL_RESET_FIXED_IN", Database.sqlite_version_info)
    code, report = dbcheck()
    assert code == 0, report
    assert report["status"] == "healthy"
    assert levels(report) == {
        "sqlite.file": "ok",
        "sqlite.writable": "ok",
        "disk": "ok",
        "sqlite.journal_mode": "ok",
        "sqlite.version": "ok",
        "sqlite.quick_check": "ok",
        "sqlite.foreign_keys": "ok",
        "sqlite.free_pages": "ok",
        "sqlite.wal": "ok",
        "migrations": "ok",
    }
    # A check leaves the folder as it found it: no -wal / -shm left behind.
    assert sorted(p.name for p in db_copy.parent.iterdir()) == ["copy.sqlite3"]


@sqlite_files
def test_this_machines_sqlite_library_is_judged_against_the_wal_reset_fix(db_copy):
    code, report = dbcheck()
    (version,) = findings(report, "sqlite.version")
    assert version["data"]["library"] == Database.sqlite_version
    if OLD_SQLITE:
        assert code == 1
        assert version["level"] == "warning"
        assert "WAL-reset bug" in version["message"]
        assert Database.sqlite_version in version["message"]
    else:
        assert code == 0
        assert version["level"] == "ok"


@pytest.mark.parametrize(
    ("library", "journal_mode", "level"),
    [
        ((3, 51, 2), "wal", "warning"),
        ((3, 40, 1), "wal", "warning"),
        ((3, 51, 3), "wal", "ok"),
        ((3, 53, 0), "wal", "ok"),
        ((3, 40, 1), "delete", "ok"),  # the bug needs WAL mode
    ],
)
def test_wal_reset_version_threshold(library, journal_mode, level):
    report = health.Report("x", "sqlite")
    health.sqlite_version_findings(report, journal_mode=journal_mode, library=library)
    assert [f.level for f in report.findings] == [level]


@sqlite_files
def test_a_copy_with_a_corrupted_page_is_a_problem_that_names_the_table(db_copy, tmp_path_factory):
    corrupt_a_page(db_copy)
    before = file_digest(db_copy)
    code, report = dbcheck()
    assert code == 2
    (quick,) = findings(report, "sqlite.quick_check")
    assert quick["level"] == "problem"
    assert "corruption in posts_post" in quick["message"]
    assert quick["data"]["errors"]
    # --full runs the complete integrity_check, which finds it too.
    code, report = dbcheck("--full")
    assert code == 2
    assert levels(report)["sqlite.integrity_check"] == "problem"
    # Checking changed nothing, and the original it was copied from is fine.
    assert file_digest(db_copy) == before
    with database_alias("original", f"sqlite:///{seeded_template(tmp_path_factory)}"):
        code, report = dbcheck(database="original")
    assert levels(report)["sqlite.quick_check"] == "ok"
    assert code < 2


@sqlite_files
def test_a_missing_file_is_a_problem_and_is_not_created(tmp_path):
    path = tmp_path / "gone.sqlite3"
    with database_alias("gone", f"sqlite:///{path}"):
        code, report = dbcheck(database="gone")
    assert code == 2
    (finding,) = report["findings"]
    assert finding["check"] == "sqlite.file"
    assert "does not exist" in finding["message"]
    assert not path.exists()


@sqlite_files
@pytest.mark.parametrize(("content", "why"), [(b"", "it is empty"), (b"PK\x03\x04 a zip file" * 40, "header")])
def test_a_file_that_is_not_sqlite_is_a_problem(tmp_path, content, why):
    path = tmp_path / "notes.sqlite3"
    path.write_bytes(content)
    with database_alias("notdb", f"sqlite:///{path}"):
        code, report = dbcheck(database="notdb")
    assert code == 2
    assert why in findings(report, "sqlite.file")[0]["message"]
    assert path.read_bytes() == content


@sqlite_files
def test_rows_pointing_at_missing_rows_are_a_problem(db_copy):
    conn = Database.connect(db_copy)
    conn.execute("PRAGMA foreign_keys=OFF")  # how such rows get in: a tool that skipped the check
    conn.execute("UPDATE posts_post SET author_id = 999999 WHERE id IN (SELECT id FROM posts_post LIMIT 3)")
    conn.commit()
    conn.close()
    code, report = dbcheck()
    assert code == 2
    (fk,) = findings(report, "sqlite.foreign_keys")
    assert fk["level"] == "problem"
    assert fk["data"] == {"violations": 3, "tables": ["posts_post -> users_user"]}


@sqlite_files
def test_unapplied_migrations_are_a_problem(db_copy):
    conn = Database.connect(db_copy)
    conn.execute("DELETE FROM django_migrations WHERE app = 'posts' AND name = '0001_initial'")
    conn.commit()
    conn.close()
    code, report = dbcheck()
    assert code == 2
    (migrations,) = findings(report, "migrations")
    assert migrations["data"]["pending"] == ["posts.0001_initial"]
    assert "python manage.py migrate" in migrations["message"]


@sqlite_files
def test_a_database_in_rollback_journal_mode_gets_a_warning(db_copy):
    conn = Database.connect(db_copy)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    code, report = dbcheck()
    assert code == 1
    assert levels(report)["sqlite.journal_mode"] == "warning"
    # The version warning is about WAL mode only, and there is no WAL to check.
    assert levels(report)["sqlite.version"] == "ok"
    assert "sqlite.wal" not in levels(report)


@sqlite_files
def test_free_pages_left_by_deletes_are_reported_until_vacuum(db_copy):
    conn = Database.connect(db_copy)
    conn.execute("DELETE FROM posts_post WHERE id > (SELECT MIN(id) + 1000 FROM posts_post)")
    conn.commit()
    conn.close()
    _, report = dbcheck()
    (free,) = findings(report, "sqlite.free_pages")
    assert free["level"] == "warning"
    assert free["data"]["free_share"] > 0.25
    assert "dbvacuum --full" in free["message"]
    call_command("dbvacuum", "--database", "checked", "--full", stdout=StringIO())
    _, report = dbcheck()
    (free,) = findings(report, "sqlite.free_pages")
    assert free["level"] == "ok"
    assert free["data"]["free_pages"] == 0


# --- SQLite: the WAL and checkpoints ------------------------------------------------


@sqlite_files
def test_a_long_lived_reader_that_stops_checkpoints_makes_dbcheck_warn(db_copy):
    writer = Database.connect(db_copy, isolation_level=None)
    reader = Database.connect(db_copy, isolation_level=None)
    try:
        writer.execute("PRAGMA journal_mode=WAL")
        # The reader's snapshot predates every write below: no checkpoint may
        # copy those pages back while it lasts, so the WAL only grows.
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM posts_post").fetchone()
        author = writer.execute("SELECT MIN(id) FROM users_user").fetchone()[0]
        for batch in range(30):
            writer.execute("BEGIN")
            writer.executemany(
                "INSERT INTO posts_post (author_id, title, body, created_at, updated_at)"
                " VALUES (?, ?, ?, '2026-01-01', '2026-01-01')",
                [(author, f"long post {batch}-{i}", "x" * 3000) for i in range(200)],
            )
            writer.execute("COMMIT")  # each commit tries an automatic checkpoint, in vain
        code, report = dbcheck()
        (wal,) = findings(report, "sqlite.wal")
        assert wal["level"] == "warning", wal
        assert wal["data"]["pages_not_checkpointed"] > health.Thresholds().wal_pending_pages
        assert "long-running read transaction" in wal["message"]
        assert code >= 1
        # The reader is still there and sees its old snapshot: dbcheck took nothing from it.
        assert reader.execute("SELECT COUNT(*) FROM posts_post WHERE title LIKE 'long post%'").fetchone()[0] == 0
        reader.execute("COMMIT")
        # Once the reader is gone the next commit's checkpoint catches up.
        writer.execute(
            "INSERT INTO posts_post (author_id, title, body, created_at, updated_at)"
            " VALUES (?, 'after', 'b', '2026-01-02', '2026-01-02')",
            [author],
        )
        _, report = dbcheck()
        (wal,) = findings(report, "sqlite.wal")
        assert wal["level"] == "ok", wal
        assert wal["data"]["pages_not_checkpointed"] == 0
    finally:
        reader.close()
        writer.close()


def test_a_wal_file_above_the_size_limit_is_a_warning():
    report = health.Report("x", "sqlite")
    limits = health.Thresholds()
    health.wal_findings(
        report, wal_bytes=limits.wal_file_bytes + 1, wal_index=(10, 10), page_size=4096, thresholds=limits
    )
    health.wal_findings(report, wal_bytes=limits.wal_file_bytes, wal_index=(10, 10), page_size=4096, thresholds=limits)
    assert [f.level for f in report.findings] == ["warning", "ok"]


# --- SQLite: folder and disk ---------------------------------------------------------


# Runs a command with one folder mounted read-only, in a private mount
# namespace: only that process sees the read-only folder.
READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" && exec "$@"'


def read_only_prefix(folder: Path) -> tuple[str, ...] | None:
    """How to make ``folder`` read-only for a subprocess, or None if this
    machine cannot. Root writes through any permission bits, so as root the
    folder is mounted read-only instead (needs unshare and CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return ()
    if not shutil.which("unshare"):
        return None
    prefix = ("unshare", "--mount", "sh", "-c", READ_ONLY_MOUNT, str(folder))
    try:
        probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if probe.returncode == 0 or (folder / "probe").exists():
        return None  # the mount did not make it read-only
    return prefix


@sqlite_files
def test_a_folder_that_is_not_writable_is_reported(tmp_path_factory, tmp_path):
    """For real: manage.py dbcheck in a process that cannot write the folder."""
    folder = tmp_path / "ro"
    folder.mkdir()
    path = copy_database(seeded_template(tmp_path_factory), folder / "db.sqlite3")
    try:
        prefix = read_only_prefix(folder)
        if prefix is None:
            pytest.skip("running as root without a way to mount a folder read-only: the finding logic is tested below")
        done = manage("dbcheck", "--json", database_url=f"sqlite:///{path}", prefix=prefix)
        report = json.loads(done.stdout)
        assert done.returncode == 2, done.stderr
        (finding,) = [f for f in findings(report, "sqlite.writable") if f["data"].get("path") == str(folder)]
        assert finding["level"] == "problem"
        assert "-wal and -shm" in finding["message"]
        assert "Traceback" not in done.stderr
        # No -shm can be created, so SQLite cannot open the WAL database
        # normally; nothing can be writing either, so it is read as immutable
        # and still checked.
        assert levels(report)["sqlite.open"] == "info"
        assert levels(report)["sqlite.quick_check"] == "ok"
        assert sorted(p.name for p in folder.iterdir()) == ["db.sqlite3"]
    finally:
        folder.chmod(0o755)


def test_writable_finding_logic(tmp_path):
    """The decision, with the operating system's answer given: what the real
    test above cannot show as root when switching user is not possible."""
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"")
    report = health.Report("x", "sqlite")
    ok = health.sqlite_access_findings(report, path, access=lambda p, mode, **kw: Path(p) != tmp_path)
    assert not ok
    assert [(f.level, f.data) for f in report.findings] == [("problem", {"path": str(tmp_path)})]
    report = health.Report("x", "sqlite")
    ok = health.sqlite_access_findings(report, path, access=lambda p, mode, **kw: Path(p) != path)
    assert not ok
    assert report.findings[0].data == {"paths": [str(path)]}
    report = health.Report("x", "sqlite")
    assert health.sqlite_access_findings(report, path, access=lambda p, mode, **kw: True)
    assert [f.level for f in report.findings] == ["ok"]


@pytest.mark.parametrize(
    ("free_mib", "database_mib", "level"),
    [(10_000, 100, "ok"), (150, 100, "warning"), (200, 100, "ok"), (63, 1, "problem")],
)
def test_free_disk_against_the_database_size(free_mib, database_mib, level):
    report = health.Report("x", "sqlite")
    health.disk_findings(
        report, free=free_mib * health.MIB, database_bytes=database_mib * health.MIB, thresholds=health.Thresholds()
    )
    assert [f.level for f in report.findings] == [level]


# --- exit codes from a real process -------------------------------------------------------


@sqlite_files
def test_exit_codes_from_manage_py(tmp_path_factory, tmp_path):
    healthy = copy_database(seeded_template(tmp_path_factory), tmp_path / "healthy.sqlite3")
    done = manage("dbcheck", database_url=f"sqlite:///{healthy}")
    assert done.returncode == (1 if OLD_SQLITE else 0), done.stdout + done.stderr
    assert "sqlite.quick_check: quick_check: no errors" in done.stdout

    broken = copy_database(healthy, tmp_path / "broken.sqlite3")
    corrupt_a_page(broken)
    done = manage("dbcheck", "--json", database_url=f"sqlite:///{broken}")
    assert done.returncode == 2
    assert json.loads(done.stdout)["status"] == "problem"
    assert "CommandError: database 'default': 2 problem(s)" in done.stderr
    assert "Traceback" not in done.stderr

    missing = tmp_path / "missing.sqlite3"
    done = manage("dbcheck", database_url=f"sqlite:///{missing}")
    assert done.returncode == 2
    assert "does not exist" in done.stdout
    assert not missing.exists()


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the test database is in memory only on SQLite")
@pytest.mark.django_db
def test_the_in_memory_test_database_has_no_file_to_check():
    code, report = dbcheck(database="default")
    assert code == 0
    assert [f["level"] for f in report["findings"]] == ["info"]


# --- PostgreSQL and MariaDB ------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("scheme", "driver"), [("postgres", "psycopg"), ("mysql", "MySQLdb")])
def test_a_server_that_does_not_answer_is_a_problem(scheme, driver):
    pytest.importorskip(driver, reason=f"the {scheme} driver is not installed")
    with database_alias("down", f"{scheme}://user@127.0.0.1:{closed_port()}/nothing"):
        code, report = dbcheck(database="down")
    assert code == 2
    (finding,) = report["findings"]
    assert finding["check"] == "connection"
    assert "does not answer" in finding["message"]


server_only = pytest.mark.skipif(
    connection.vendor not in ("postgresql", "mysql"),
    reason="needs DATABASE_URL pointing at PostgreSQL or MariaDB",
)
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL only")
mysql_only = pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB/MySQL only")


def make_posts(count: int) -> None:
    from posts.models import Post
    from users.models import User

    author = User.objects.create_user(username="writer", email="writer@example.com", password=None)
    Post.objects.bulk_create(Post(author=author, title=f"post {i}", body="b" * 200) for i in range(count))


@server_only
@pytest.mark.django_db(transaction=True)
def test_a_migrated_server_database_is_healthy_with_table_sizes():
    make_posts(50)
    code, report = dbcheck(database="default")
    assert code == 0, report
    assert levels(report)["connection"] == "ok"
    assert levels(report)["migrations"] == "ok"
    table_check = f"{connection.vendor}.table"
    tables = {f["data"]["table"] for f in findings(report, table_check)}
    assert {"posts_post", "users_user", "django_session"} <= tables
    version = findings(report, f"{connection.vendor}.version")[0]
    assert version["level"] == "info"


@server_only
@pytest.mark.django_db(transaction=True)
def test_unapplied_migrations_on_a_server_are_a_problem():
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_migrations WHERE app = 'posts' AND name = '0001_initial'")
    try:
        code, report = dbcheck(database="default")
    finally:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO django_migrations (app, name, applied) VALUES ('posts', '0001_initial', CURRENT_TIMESTAMP)"
            )
    assert code == 2
    assert findings(report, "migrations")[0]["data"]["pending"] == ["posts.0001_initial"]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_postgresql_dead_rows_are_a_warning_until_vacuum():
    from posts.models import Post

    with connection.cursor() as cursor:
        # Autovacuum must not clean up behind the test's back.
        cursor.execute("ALTER TABLE posts_post SET (autovacuum_enabled = false)")
    try:
        make_posts(4000)
        Post.objects.filter(id__in=list(Post.objects.values_list("id", flat=True)[:3000])).delete()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_force_next_flush()")  # publish this session's counts now
        code, report = dbcheck(database="default")
        (dead,) = findings(report, "postgresql.dead_rows")
        assert code == 1
        assert dead["data"]["table"] == "posts_post"
        assert dead["data"]["dead_rows"] >= 3000
        call_command("dbvacuum", stdout=StringIO())
        code, report = dbcheck(database="default")
        assert code == 0, report
        assert not findings(report, "postgresql.dead_rows")
        assert Post.objects.count() == 1000
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE posts_post RESET (autovacuum_enabled)")


@mysql_only
@pytest.mark.django_db(transaction=True)
def test_mariadb_full_check_runs_check_table_on_every_project_table():
    make_posts(20)
    code, report = dbcheck("--full", database="default")
    assert code == 0, report
    checked = {f["data"]["table"]: f["level"] for f in findings(report, "mysql.check_table")}
    assert {"posts_post", "users_user"} <= set(checked)
    assert set(checked.values()) == {"ok"}
    _, quick = dbcheck(database="default")
    assert not findings(quick, "mysql.check_table")


def test_check_table_answers_become_findings():
    """The answers MariaDB gives for a damaged table, as documented for CHECK TABLE."""
    report = health.Report("x", "mysql")
    health.mysql_check_table_findings(
        report,
        [
            ("db.posts_post", "check", "warning", "Size of datafile is: 1000 Should be: 2000"),
            ("db.posts_post", "check", "error", "Corrupt"),
            ("db.users_user", "check", "warning", "1 client is using or hasn't closed the table properly"),
            ("db.users_user", "check", "status", "OK"),
            ("db.django_session", "check", "status", "OK"),
        ],
    )
    assert [(f.data["table"], f.level) for f in report.findings] == [
        ("posts_post", "problem"),
        ("users_user", "warning"),
        ("django_session", "ok"),
    ]


def test_report_exit_code_is_the_worst_level():
    report = health.Report("x", "sqlite")
    assert report.exit_code == 0
    report.add(health.INFO, "a", "info")
    assert report.exit_code == 0
    report.add(health.WARNING, "b", "warn")
    assert (report.exit_code, report.status) == (1, "warning")
    report.add(health.PROBLEM, "c", "bad")
    assert (report.exit_code, report.status) == (2, "problem")
    with pytest.raises(ValueError, match="unknown level"):
        report.add("fatal", "d", "no such level")


@sqlite_files
def test_the_lines_show_the_same_findings_as_the_json(db_copy):
    corrupt_a_page(db_copy)
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("dbcheck", "--database", "checked", stdout=out)
    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    _, report = dbcheck()
    assert caught.value.returncode == report["exit_code"] == 2
    # One line per finding, then the summary.
    assert len(lines) == len(report["findings"]) + 1
    for line, finding in zip(lines, report["findings"], strict=False):
        assert line.split()[:2] == [finding["level"].upper(), f"{finding['check']}:"]
    assert lines[-1] == "database 'checked' (sqlite): problem"


@sqlite_files
def test_verbosity_0_prints_only_what_needs_attention(db_copy, monkeypatch):
    monkeypatch.setattr(health, "WAL_RESET_FIXED_IN", Database.sqlite_version_info)
    out = StringIO()
    call_command("dbcheck", "--database", "checked", "-v0", stdout=out)
    assert out.getvalue() == ""
    corrupt_a_page(db_copy)
    with pytest.raises(CommandError):
        call_command("dbcheck", "--database", "checked", "-v0", stdout=out)
    lines = out.getvalue().splitlines()
    assert [line.split()[0] for line in lines] == ["PROBLEM", "PROBLEM", "database"]
