"""Behaviour that differs between SQLite, PostgreSQL and MariaDB unless the
project pins it down. The whole suite runs on each engine (``make test``,
``make test-postgres``, ``make test-mysql``); these tests are the ones that
would break first when an engine is configured wrongly."""

import importlib
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from posts.models import TITLE_MAX_LENGTH, Post
from users.models import User

pytestmark = pytest.mark.django_db

NEW_YORK = ZoneInfo("America/New_York")


@pytest.fixture
def author():
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")


def insert_user(username, email):
    # Bypasses the manager and model validation: only the database decides.
    return User.objects.bulk_create([User(username=username, email=email, password="!")])


@pytest.mark.parametrize(
    ("taken", "clash"),
    [
        (("alice", "a@example.com"), ("ALICE", "b@example.com")),
        (("Bob", "b@example.com"), ("bOB", "c@example.com")),
        (("carol", "Carol@Example.COM"), ("dave", "carol@example.com")),
        (("erin", "erin@example.com"), ("frank", "ERIN@EXAMPLE.COM")),
    ],
    ids=["username-upper", "username-mixed", "email-lower", "email-upper"],
)
def test_case_insensitive_uniqueness_is_enforced_by_the_database(taken, clash):
    insert_user(*taken)
    with pytest.raises(IntegrityError), transaction.atomic():
        insert_user(*clash)
    assert list(User.objects.values_list("username", "email")) == [taken]


def test_different_names_and_emails_are_still_accepted():
    insert_user("alice", "alice@example.com")
    insert_user("alicia", "alice@example.org")
    assert User.objects.count() == 2


def test_unique_indexes_for_case_insensitive_rules_exist():
    """The rule lives in the schema, not only in Django's model validation."""
    constraints = connection.introspection.get_constraints(connection.cursor(), User._meta.db_table)
    unique_names = {name for name, info in constraints.items() if info["unique"] and not info["primary_key"]}
    if connection.vendor == "mysql":
        # Expression indexes are impossible there; the email index comes from
        # users migration 0002 and username's own unique index, both on a
        # case-insensitive collation.
        assert "users_user_email_ci_unique" in unique_names
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT collation_name FROM information_schema.columns "
                "WHERE table_schema = DATABASE() AND table_name = 'users_user' AND column_name IN ('username', 'email')"
            )
            assert {row[0].endswith("_ci") for row in cursor.fetchall()} == {True}
    else:
        assert {"users_user_username_ci_unique", "users_user_email_ci_unique"} <= unique_names


@pytest.mark.skipif(connection.vendor != "mysql", reason="the step runs on MariaDB/MySQL only")
@pytest.mark.django_db(transaction=True)
def test_mariadb_migration_refuses_a_case_sensitive_collation():
    step = importlib.import_module("users.migrations.0002_mariadb_case_insensitive_unique")
    alter = "ALTER TABLE users_user MODIFY email VARCHAR(254) COLLATE {} NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(alter.format("utf8mb4_bin"))
    try:
        with connection.schema_editor() as editor, pytest.raises(RuntimeError, match="case-insensitive utf8mb4"):
            step.create_email_index(None, editor)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(alter.format("utf8mb4_unicode_ci"))


def test_title_length_counts_characters_not_bytes(author):
    # 4-byte UTF-8 characters: MariaDB needs utf8mb4 and counts characters.
    title = "\N{SNAKE}" * TITLE_MAX_LENGTH
    Post.objects.create(author=author, title=title, body="\N{GRINNING FACE} body")
    assert Post.objects.get().title == title
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        Post.objects.create(author=author, title=title + "\N{SNAKE}", body="b")
    assert Post.objects.count() == 1


@pytest.mark.parametrize(
    ("username", "email"),
    [("u" * 151, "long@example.com"), ("long", "e" * 243 + "@example.com")],
    ids=["username-151", "email-255"],
)
def test_over_long_username_or_email_is_refused_by_every_database(username, email):
    # SQLite would store them (it does not enforce VARCHAR) but for the CHECK
    # constraints; PostgreSQL and MariaDB refuse them at the column already.
    insert_user("u" * 150, "e" * 242 + "@example.com")  # exactly the limits
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        insert_user(username, email)
    assert User.objects.count() == 1
    user = User(username=username, email=email, password="!")
    with pytest.raises(ValidationError, match="at most"):
        user.full_clean()


def test_times_are_stored_as_instants_with_microseconds(author):
    local = datetime(2024, 3, 10, 1, 59, 59, 123456, tzinfo=NEW_YORK)  # minutes before a DST jump
    post = Post.objects.create(author=author, title="t", body="b", created_at=local)
    stored = Post.objects.get(pk=post.pk).created_at
    assert stored == local
    assert stored.utcoffset() == timedelta(0)  # read back in UTC on every engine
    assert stored.microsecond == 123456


def test_date_lookups_follow_the_current_time_zone(author):
    # 02:30 UTC on 2 June is still 1 June in New York. On MariaDB this needs the
    # server's time zone tables (mariadb-tzinfo-to-sql); without them
    # CONVERT_TZ returns NULL and the lookup finds nothing.
    instant = datetime(2024, 6, 2, 2, 30, tzinfo=ZoneInfo("UTC"))
    Post.objects.create(author=author, title="late", body="b", created_at=instant)
    with timezone.override(NEW_YORK):
        assert list(Post.objects.filter(created_at__date="2024-06-01").values_list("title", flat=True)) == ["late"]
        assert not Post.objects.filter(created_at__date="2024-06-02").exists()
    assert list(Post.objects.filter(created_at__date="2024-06-02").values_list("title", flat=True)) == ["late"]


def test_pages_of_tied_timestamps_neither_repeat_nor_skip(author):
    now = timezone.now()
    Post.objects.bulk_create([Post(author=author, title=f"t{i}", body="b", created_at=now) for i in range(25)])
    pages = [
        list(Post.objects.newest_first().values_list("id", flat=True)[start : start + 10]) for start in (0, 10, 20)
    ]
    seen = [pk for page in pages for pk in page]
    assert seen == sorted(Post.objects.values_list("id", flat=True), reverse=True)


def test_default_ordering_is_stated_in_the_sql(author):
    # Without ORDER BY an engine returns rows in whatever order its plan gives
    # (PostgreSQL after an UPDATE, MariaDB by the index it picked).
    with CaptureQueriesContext(connection) as queries:
        list(Post.objects.all())
        list(User.objects.all())
    assert all("ORDER BY" in q["sql"] for q in queries.captured_queries)
