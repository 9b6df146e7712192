"""Database triggers that keep ``users_user.post_count`` equal to the number of
posts each user has written.

Why triggers and not signals or services: the count must stay right whatever
writes the rows, including ``bulk_create`` (``seed_demo``), ``QuerySet.update``
and ``QuerySet.delete``, the cascade when a user is deleted, ``loaddata`` and
raw SQL. Only the database sees all of those, and it updates the counter in
the same transaction as the post.

One definition per engine:

- SQLite and MariaDB/MySQL: row triggers (one indexed UPDATE of one user row
  per post written).
- PostgreSQL: statement triggers with transition tables, so a bulk insert of
  5,000 posts updates each author row once, not once per post (repeated
  updates of one row in one transaction leave a chain of row versions that
  every further update must walk), plus a ``TRUNCATE`` trigger.

An insert into ``users_user`` recounts that user's posts, so a user row loaded
after its posts (``loaddata`` defers foreign key checks; copy tools may load
tables in any order) still gets the right number.

The triggers are created by migration ``posts.0003_post_count_triggers``,
which holds its own copy of this SQL (a migration is history; see
``PostsConfig`` for the rule on migrations that rebuild a table). The
definitions here are today's, for repairs only: ``manage.py recount_posts``
puts back triggers a database lost. A change to them is a new migration, and
``posts/tests/test_schema.py`` holds the migrated database equal to them.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

# The posts migration that installs the triggers ends with this name.
MIGRATION_SUFFIX = "_post_count_triggers"

TRIGGERS = (
    "posts_post_count_insert",
    "posts_post_count_delete",
    "posts_post_count_author",
    "users_user_post_count_recount",
)

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS posts_post_count_insert AFTER INSERT ON posts_post
    BEGIN
        UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_count_delete AFTER DELETE ON posts_post
    BEGIN
        UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id;
    END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_count_author AFTER UPDATE OF author_id ON posts_post
    WHEN OLD.author_id IS NOT NEW.author_id
    BEGIN
        UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id;
        UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id;
    END""",
    # SQLite's BEFORE triggers cannot change NEW, so an AFTER trigger fixes
    # the row, and only when the inserted number is wrong (almost never).
    """CREATE TRIGGER IF NOT EXISTS users_user_post_count_recount AFTER INSERT ON users_user
    WHEN NEW.post_count IS NOT (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)
    BEGIN
        UPDATE users_user SET post_count = (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)
        WHERE id = NEW.id;
    END""",
]

MYSQL = [
    """CREATE TRIGGER posts_post_count_insert AFTER INSERT ON posts_post FOR EACH ROW
    UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id""",
    """CREATE TRIGGER posts_post_count_delete AFTER DELETE ON posts_post FOR EACH ROW
    UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id""",
    """CREATE TRIGGER posts_post_count_author AFTER UPDATE ON posts_post FOR EACH ROW
    BEGIN
        IF NOT (OLD.author_id <=> NEW.author_id) THEN
            UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id;
            UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id;
        END IF;
    END""",
    # MySQL forbids a trigger to update its own table; a BEFORE trigger sets
    # the value being inserted instead.
    """CREATE TRIGGER users_user_post_count_recount BEFORE INSERT ON users_user FOR EACH ROW
    SET NEW.post_count = (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)""",
]

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION posts_post_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users_user AS u SET post_count = u.post_count + c.n
        FROM (SELECT author_id, COUNT(*) AS n FROM new_rows GROUP BY author_id) AS c
        WHERE u.id = c.author_id;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION posts_post_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users_user AS u SET post_count = u.post_count - c.n
        FROM (SELECT author_id, COUNT(*) AS n FROM old_rows GROUP BY author_id) AS c
        WHERE u.id = c.author_id;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION posts_post_count_author() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users_user AS u SET post_count = u.post_count + c.n
        FROM (
            SELECT author_id, SUM(d) AS n FROM (
                SELECT n.author_id, 1 AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                WHERE o.author_id IS DISTINCT FROM n.author_id
                UNION ALL
                SELECT o.author_id, -1 AS d FROM new_rows AS n JOIN old_rows AS o ON o.id = n.id
                WHERE o.author_id IS DISTINCT FROM n.author_id
            ) AS moves GROUP BY author_id
        ) AS c
        WHERE u.id = c.author_id;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION posts_post_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE users_user SET post_count = 0 WHERE post_count <> 0;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE FUNCTION users_user_post_count_recount() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.post_count := (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id);
        RETURN NEW;
    END $$""",
    """CREATE OR REPLACE TRIGGER posts_post_count_insert AFTER INSERT ON posts_post
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_insert()""",
    """CREATE OR REPLACE TRIGGER posts_post_count_delete AFTER DELETE ON posts_post
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_delete()""",
    # Transition tables cannot be combined with UPDATE OF <column>; the join
    # finds the rows whose author changed (none, for an ordinary edit).
    """CREATE OR REPLACE TRIGGER posts_post_count_author AFTER UPDATE ON posts_post
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_author()""",
    """CREATE OR REPLACE TRIGGER posts_post_count_truncate AFTER TRUNCATE ON posts_post
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_truncate()""",
    """CREATE OR REPLACE TRIGGER users_user_post_count_recount BEFORE INSERT ON users_user
    FOR EACH ROW EXECUTE FUNCTION users_user_post_count_recount()""",
]

RECOUNT = (
    "UPDATE users_user SET post_count = (SELECT COUNT(*) FROM posts_post WHERE posts_post.author_id = users_user.id)"
)


class TriggerSet:
    """One engine's post-count triggers: how to create, list and drop them."""

    def __init__(self, statements: list[str], *, list_sql: str, extra: tuple[str, ...] = ()) -> None:
        self.statements = statements
        self.list_sql = list_sql
        # Triggers of the engine beyond the common four (PostgreSQL's TRUNCATE one).
        self.names = (*TRIGGERS, *extra)

    def installed(self, cursor: Any) -> set[str]:
        cursor.execute(self.list_sql)
        return {row[0] for row in cursor.fetchall()} & set(self.names)

    def create(self, cursor: Any) -> None:
        for sql in self.statements:
            cursor.execute(sql)

    def drop(self, cursor: Any) -> None:
        for name in self.names:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class PostgresTriggerSet(TriggerSet):
    def drop(self, cursor: Any) -> None:
        # A trigger belongs to its table there, and each calls a function of its own name.
        for name in self.names:
            table = "users_user" if name.startswith("users_") else "posts_post"
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in self.names:
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


class MysqlTriggerSet(TriggerSet):
    def create(self, cursor: Any) -> None:
        # No CREATE TRIGGER IF NOT EXISTS in every MariaDB/MySQL flavour: skip the ones that exist.
        present = self.installed(cursor)
        for sql in self.statements:
            if sql.split()[2] not in present:
                cursor.execute(sql)


ENGINES: dict[str, TriggerSet] = {
    "sqlite": TriggerSet(SQLITE, list_sql="SELECT name FROM sqlite_master WHERE type = 'trigger'"),
    "postgresql": PostgresTriggerSet(
        POSTGRESQL,
        list_sql="SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
        "('posts_post'::regclass, 'users_user'::regclass)",
        extra=("posts_post_count_truncate",),
    ),
    "mysql": MysqlTriggerSet(
        MYSQL, list_sql="SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
    ),
}


def _engine(connection: BaseDatabaseWrapper) -> TriggerSet:
    try:
        return ENGINES[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"No post-count triggers for {connection.vendor}") from None


def installed(connection: BaseDatabaseWrapper) -> set[str]:
    """Names of the four common triggers present in the database."""
    with connection.cursor() as cursor:
        return _engine(connection).installed(cursor) & set(TRIGGERS)


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers (where missing) and recount every user's posts."""
    with connection.cursor() as cursor:
        _engine(connection).create(cursor)
        cursor.execute(RECOUNT)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        _engine(connection).drop(cursor)


def ensure_installed(connection: BaseDatabaseWrapper) -> bool:
    """Put back missing triggers (and recount) while the migration that
    installs them is applied; returns whether anything had to be done."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return False
    applied = recorder.applied_migrations()
    if not any(app == "posts" and name.endswith(MIGRATION_SUFFIX) for app, name in applied):
        return False
    if installed(connection) == set(TRIGGERS):
        return False
    install(connection)
    return True
