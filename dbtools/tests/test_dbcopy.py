"""manage.py dbcopy, against real databases.

The other side of every copy here is the suite's own database (``default``),
so the same tests prove SQLite -> PostgreSQL -> SQLite when the suite runs
with a postgres:// DATABASE_URL (``make test-postgres``), SQLite -> MariaDB ->
SQLite with mysql:// (``make test-mysql``) and SQLite -> SQLite otherwise.
SQLite sides are real files in a temporary folder.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from contextlib import contextmanager
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.admin.models import ADDITION, LogEntry
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connections

from dbtools.copying import copied_fields, models_in_dependency_order, open_side, read_only_snapshot
from dbtools.sqlite import Database
from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt_timezone.utc)
HASHED = "pbkdf2_sha256$1000000$salt$c2VjcmV0LWhhc2gtbm90LXJlYWwtYnV0LXdlbGwtZm9ybWVk"


@contextmanager
def alias_for(url: str):
    """A temporary connection alias for a URL, as dbcopy itself makes one."""
    with open_side(url, role="to") as side:
        yield side.alias


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory, django_db_blocker) -> Path:
    """One migrated SQLite file, copied for every test (migrating is the slow part)."""
    path = tmp_path_factory.mktemp("dbcopy-template") / "template.sqlite3"
    Database.connect(path).close()
    with django_db_blocker.unblock(), alias_for(f"sqlite:///{path}") as alias:
        call_command("migrate", database=alias, verbosity=0)
    # Closing the last connection checkpointed the WAL into the file.
    assert not Path(f"{path}-wal").exists()
    return path


@pytest.fixture
def sqlite_url(tmp_path, migrated_template):
    def make(name: str) -> str:
        path = tmp_path / f"{name}.sqlite3"
        shutil.copyfile(migrated_template, path)
        return f"sqlite:///{path}"

    return make


def fill(alias: str) -> None:
    """Rows in every kind of table, with values engines like to change:
    4-byte characters, microseconds, tied timestamps, booleans, NULLs."""
    users = User.objects.db_manager(alias)
    alice = users.create_user(username="Alice", email="Alice@Example.com", password=None, first_name="Al \N{SNAKE}")
    bob = users.create_user(username="bob", email="bob@example.com", password=None, last_login=T0)
    admin = users.create_superuser(username="root", email="root@example.com", password=None)
    User.objects.using(alias).filter(pk=admin.pk).update(password=HASHED)
    editors = Group.objects.using(alias).create(name="editors")
    post_type = ContentType.objects.db_manager(alias).get_for_model(Post)
    editors.permissions.set(Permission.objects.using(alias).filter(content_type=post_type))
    bob.groups.add(editors)
    alice.user_permissions.add(Permission.objects.using(alias).get(codename="view_post"))
    posts = [
        Post(
            author=alice,
            title="\N{GRINNING FACE}" * 200,
            body="line 1\nline 2 'quoted' \"double\" \\ back",
            created_at=T0,
        ),
        Post(author=alice, title="tie one", body="b", created_at=T0 + timedelta(hours=1)),
        Post(author=bob, title="tie two", body="b", created_at=T0 + timedelta(hours=1)),
    ] + [Post(author=bob, title=f"post {i}", body="x" * i, created_at=T0 - timedelta(days=i)) for i in range(1, 8)]
    Post.objects.using(alias).bulk_create(posts)
    # auto_now: the copy must keep this value, not stamp the time of the copy.
    Post.objects.using(alias).filter(title="tie one").update(updated_at=T0 + timedelta(days=3))
    LogEntry.objects.using(alias).create(
        user=admin, content_type=post_type, object_id="1", object_repr="tie one", action_flag=ADDITION
    )
    Session.objects.using(alias).create(session_key="k" * 32, session_data="data", expire_date=T0)


def snapshot(alias: str) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    result = {}
    for model in models_in_dependency_order():
        attnames = [f.attname for f in copied_fields(model)]
        rows = list(model._base_manager.using(alias).values_list(*attnames))
        pk_index = attnames.index(model._meta.pk.attname)
        result[model._meta.db_table] = sorted(rows, key=lambda row, i=pk_index: row[i])
    return result


def dbcopy(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("dbcopy", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def file_digest(url: str) -> str:
    return hashlib.sha256(Path(url.removeprefix("sqlite:///")).read_bytes()).hexdigest()


def test_round_trip_through_the_suite_database_gives_identical_data(sqlite_url):
    source, back = sqlite_url("source"), sqlite_url("back")
    with alias_for(source) as alias:
        fill(alias)
        original = snapshot(alias)
    assert len(original["posts_post"]) == 10
    before = file_digest(source)

    out, err = dbcopy("--from", source, "--to", "default", "--batch-size", "3")
    assert "Copied" in out
    assert "row counts and checksums match" in out
    assert "posts_post: 10/10 (100%)" in err  # progress on stderr
    assert snapshot("default") == original
    assert file_digest(source) == before  # the source file was not written

    dbcopy("--from", "default", "--to", back, "--batch-size", "4")
    with alias_for(back) as alias:
        assert snapshot(alias) == original


def test_counters_continue_after_the_copied_ids(sqlite_url):
    source = sqlite_url("source")
    with alias_for(source) as alias:
        fill(alias)
    dbcopy("--from", source, "--to", "default", "-v", "0")
    highest_user, highest_post = max(User.objects.values_list("pk", flat=True)), Post.objects.latest("id").id
    user = User.objects.create_user(username="new", email="new@example.com", password=None)
    post = Post.objects.create(author=user, title="new", body="b")
    assert user.pk > highest_user
    assert post.pk > highest_post


def make_target_data() -> dict:
    owner = User.objects.create_user(username="keeper", email="keeper@example.com", password=None)
    Post.objects.create(author=owner, title="keep me", body="b")
    return snapshot("default")


def test_target_holding_data_is_refused_unless_confirmed(sqlite_url, monkeypatch):
    source = sqlite_url("source")
    with alias_for(source) as alias:
        fill(alias)
    before = make_target_data()
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="replacing it was not confirmed; nothing was copied"):
        dbcopy("--from", source, "--to", "default")
    assert snapshot("default") == before

    monkeypatch.setattr("builtins.input", lambda prompt: "yes")
    dbcopy("--from", source, "--to", "default", "-v", "0")
    assert not User.objects.filter(username="keeper").exists()
    assert Post.objects.count() == 10


def test_noinput_replaces_the_target_data(sqlite_url):
    source = sqlite_url("source")
    with alias_for(source) as alias:
        fill(alias)
        original = snapshot(alias)
    make_target_data()
    out, _ = dbcopy("--from", source, "--to", "default", "--noinput")
    assert "Replacing the data in default" in out
    assert snapshot("default") == original


def filled_with_bad_post(sqlite_url, pragma: str, author_sql: str, title: str) -> str:
    """A filled source SQLite file plus one post written past one of SQLite's
    own checks (``pragma`` turns it off): a row every target refuses."""
    source = sqlite_url("source")
    with alias_for(source) as alias:
        fill(alias)
        with connections[alias].cursor() as cursor:
            cursor.execute(pragma)
            cursor.execute(
                "INSERT INTO posts_post (author_id, title, body, created_at, updated_at) "  # noqa: S608
                f"SELECT {author_sql}, %s, 'b', '2024-01-01 00:00:00', '2024-01-01 00:00:00' FROM users_user LIMIT 1",
                [title],
            )
    return source


def test_failure_midway_rolls_the_target_back_and_leaves_the_source_alone(sqlite_url):
    # A row every target refuses, written around SQLite's CHECK constraint:
    # the copy fails inside posts_post, after users and earlier posts.
    source = filled_with_bad_post(sqlite_url, "PRAGMA ignore_check_constraints=ON", "MIN(id)", "x" * 300)
    with alias_for(source) as alias:
        original = snapshot(alias)
    digest = file_digest(source)
    before = make_target_data()

    with pytest.raises(CommandError) as excinfo:
        dbcopy("--from", source, "--to", "default", "--noinput", "--batch-size", "2")
    message = str(excinfo.value)
    # After the 10 good rows on the engines that insert batch by batch; a
    # COPY reports the bad row when the table's stream ends (after all 11),
    # and PostgreSQL's own message names its line.
    assert re.search(r"while copying posts_post after 1[01] rows", message)
    assert "The target was rolled back and holds what it held before" in message
    assert snapshot("default") == before
    assert file_digest(source) == digest
    with alias_for(source) as alias:
        assert snapshot(alias) == original


def test_a_target_that_changes_rows_fails_verification(sqlite_url):
    target = sqlite_url("target")
    with alias_for(target) as alias, connections[alias].cursor() as cursor:
        # A trigger that alters what was written: exactly what the checksum is for.
        cursor.execute(
            "CREATE TRIGGER tamper AFTER INSERT ON users_user BEGIN "
            "UPDATE users_user SET first_name = first_name || '!' WHERE id = NEW.id; END"
        )
    fill("default")
    with pytest.raises(CommandError, match=r"Verification failed for users_user: .*checksum.*rolled back"):
        dbcopy("--from", "default", "--to", target, "-v", "0")
    with alias_for(target) as alias:
        assert Post.objects.using(alias).count() == 0
        assert User.objects.using(alias).count() == 0


def test_unmigrated_target_is_refused(tmp_path, sqlite_url):
    empty = tmp_path / "empty.sqlite3"
    Database.connect(empty).close()
    with pytest.raises(CommandError, match=r"--to: .* is not migrated to this code"):
        dbcopy("--from", sqlite_url("source"), "--to", f"sqlite:///{empty}")
    assert Database.connect(empty).execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["--from", "nowhere", "--to", "default"], "'nowhere' is neither a URL nor a database alias"),
        (["--from", "default", "--to", "default"], "are the same database"),
        (["--from", "default", "--to", "sqlite:///{tmp}/missing.sqlite3"], "does not exist"),
        (["--from", "default", "--to", "ftp://x@y/z"], "not a database URL"),
        (["--from", "default", "--to", "oracle://x@y/z"], "is not supported"),
        (["--from", "default", "--to", "{target}", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
    ids=["unknown-alias", "same-database", "missing-file", "bad-url", "other-engine", "bad-batch-size"],
)
def test_bad_arguments_are_clear_errors(tmp_path, sqlite_url, args, error):
    target = sqlite_url("target")
    args = [a.format(tmp=tmp_path, target=target) for a in args]
    User.objects.create_user(username="stay", email="stay@example.com", password=None)
    with pytest.raises(CommandError, match=error):
        dbcopy(*args)
    assert list(User.objects.values_list("username", flat=True)) == ["stay"]
    assert not (tmp_path / "missing.sqlite3").exists()


def test_the_source_session_refuses_writes():
    source = connections["default"]
    with read_only_snapshot(source), pytest.raises(DatabaseError):
        User.objects.create_user(username="sneaky", email="sneaky@example.com", password=None)
    assert not User.objects.filter(username="sneaky").exists()
    # Afterwards the connection writes again.
    User.objects.create_user(username="normal", email="normal@example.com", password=None)
    assert User.objects.filter(username="normal").exists()


def test_tables_come_after_the_tables_they_reference():
    order = [m._meta.db_table for m in models_in_dependency_order()]
    for before, after in [
        ("users_user", "posts_post"),
        ("django_content_type", "auth_permission"),
        ("auth_permission", "auth_group_permissions"),
        ("users_user", "django_admin_log"),
        ("auth_group", "users_user_groups"),
    ]:
        assert order.index(before) < order.index(after)
    assert "django_session" in order
    assert "django_migrations" not in order


def test_errors_never_show_a_password():
    # Port 1: nothing listens, so the connection fails (or the driver is missing).
    with pytest.raises(CommandError) as excinfo:
        dbcopy("--from", "default", "--to", "postgres://app:hunter2-secret@127.0.0.1:1/app")
    assert "hunter2-secret" not in str(excinfo.value)
    assert "--to" in str(excinfo.value)


# Values a hand-made COPY (text format) or a careless INSERT gets wrong.
AWKWARD_TEXTS = [
    "tab\there",
    "line\nbreak and\r\ncarriage return",
    "back\\slash \\N \\t \\\\ and a lone \\",
    "quotes ' \" `; -- not SQL",
    "\N{GRINNING FACE} e\N{COMBINING ACUTE ACCENT} \N{HEBREW LETTER ALEF} \u200b zero width",
    "NULL",
    "\\.",  # the end-of-data marker of COPY's text format, alone on a line
    "x" * 2_500_000,  # larger than one COPY block and than the send queue's bound
]
AWARE_TIMES = [
    datetime(2024, 3, 31, 1, 59, 59, 999999, tzinfo=dt_timezone(timedelta(hours=5, minutes=30))),
    datetime(1901, 12, 13, 20, 45, 52, 1, tzinfo=dt_timezone(timedelta(hours=-8))),
    datetime(2200, 1, 1, 0, 0, 0, 0, tzinfo=dt_timezone.utc),
]


def test_awkward_values_arrive_unchanged_and_verified(sqlite_url):
    source, back = sqlite_url("source"), sqlite_url("back")
    with alias_for(source) as alias:
        author = User.objects.db_manager(alias).create_user(
            username="awkward", email="a@example.com", password=None, first_name="", last_name="\t"
        )
        Post.objects.using(alias).bulk_create(
            Post(author=author, title=f"text {i}", body=body, created_at=AWARE_TIMES[i % len(AWARE_TIMES)])
            for i, body in enumerate(AWKWARD_TEXTS)
        )
        post_type = ContentType.objects.db_manager(alias).get_for_model(Post)
        # object_id is a nullable text column: NULL and "" must stay apart.
        for object_id in (None, "", "NULL", "\\N"):
            LogEntry.objects.using(alias).create(
                user=author, content_type=post_type, object_id=object_id, object_repr="r", action_flag=ADDITION
            )
        original = snapshot(alias)

    out, _ = dbcopy("--from", source, "--to", "default", "-v", "0")
    assert "row counts and checksums match" in out
    assert snapshot("default") == original
    by_title = dict(Post.objects.values_list("title", "body"))
    assert [by_title[f"text {i}"] for i in range(len(AWKWARD_TEXTS))] == AWKWARD_TEXTS
    assert sorted(Post.objects.values_list("created_at", flat=True)) == sorted(
        AWARE_TIMES[i % len(AWARE_TIMES)] for i in range(len(AWKWARD_TEXTS))
    )
    object_ids = list(LogEntry.objects.order_by("pk").values_list("object_id", flat=True))
    assert object_ids == [None, "", "NULL", "\\N"]
    assert User.objects.get(username="awkward").first_name == ""

    dbcopy("--from", "default", "--to", back, "-v", "0")
    with alias_for(back) as alias:
        assert snapshot(alias) == original


def schema(alias: str) -> dict[str, dict]:
    """Every constraint and index of the copied tables, as Django sees them."""
    conn = connections[alias]
    with conn.cursor() as cursor:
        return {
            model._meta.db_table: conn.introspection.get_constraints(cursor, model._meta.db_table)
            for model in models_in_dependency_order()
        }


def test_a_row_without_its_parent_fails_and_the_indexes_and_keys_stay(sqlite_url):
    source = filled_with_bad_post(sqlite_url, "PRAGMA foreign_keys=OFF", "999999", "orphan")
    before = make_target_data()
    indexes_and_keys = schema("default")

    with pytest.raises(CommandError, match="The target was rolled back and holds what it held before"):
        dbcopy("--from", source, "--to", "default", "--noinput", "-v", "0")
    assert snapshot("default") == before
    assert schema("default") == indexes_and_keys

    with alias_for(source) as alias:
        Post.objects.using(alias).filter(title="orphan").delete()
    dbcopy("--from", source, "--to", "default", "--noinput", "-v", "0")
    assert schema("default") == indexes_and_keys
    assert Post.objects.count() == 10
