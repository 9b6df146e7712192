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

The same holds for the second set here, the *data version* triggers
(migration ``posts.0004_data_version``): every write to ``posts_post``, and
every write to the ``users_user`` columns the API shows, gives the one row of
``posts_dataversion`` a new random ``version`` and the time of the change.
The API's cache of rendered list pages and its ETags are keyed by that
version (``project/httpcache.py``), so whatever writes the rows (the API, the
admin, the pages, bulk operations, raw SQL) invalidates them in the same
transaction. The version is random rather than counted, so that a database
restored from a backup or copied elsewhere never reuses a number that meant
other data. The row is written with an upsert, so a flushed table gets it
back on the next write.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

# The posts migration that installs the post-count triggers ends with this name.
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

# Inserts and author changes count BEFORE the row is written and ahead of the
# search triggers (migration posts.0006): their shared lock on the author's
# row (and the foreign key check's), then an AFTER trigger's exclusive one,
# deadlocked two writers of one author.
MYSQL = [
    """CREATE TRIGGER posts_post_count_insert BEFORE INSERT ON posts_post FOR EACH ROW
    PRECEDES posts_post_search_insert
    UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id""",
    """CREATE TRIGGER posts_post_count_delete AFTER DELETE ON posts_post FOR EACH ROW
    UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id""",
    """CREATE TRIGGER posts_post_count_author BEFORE UPDATE ON posts_post FOR EACH ROW
    PRECEDES posts_post_search_update
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

# --- The data version (see the module docstring) ------------------------------
# Columns of users_user that the API shows (a change of last_login, say, changes no answer).
VERSION_USER_COLUMNS = ("username", "email", "date_joined", "post_count")

VERSION_MIGRATION_SUFFIX = "_data_version"

_SQLITE_BUMP = (
    "INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) "
    "VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER))"
)

SQLITE_VERSION = [
    f"""CREATE TRIGGER IF NOT EXISTS {table}_version_{event} AFTER {clause} ON {table}
    BEGIN
        {_SQLITE_BUMP};
    END"""
    for table, event, clause in (
        ("posts_post", "insert", "INSERT"),
        ("posts_post", "update", "UPDATE"),
        ("posts_post", "delete", "DELETE"),
        ("users_user", "insert", "INSERT"),
        ("users_user", "update", f"UPDATE OF {', '.join(VERSION_USER_COLUMNS)}"),
        ("users_user", "delete", "DELETE"),
    )
]

_MYSQL_BUMP = (
    "INSERT INTO posts_dataversion (id, version, changed_at) "
    "VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) "
    "ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)"
)
_MYSQL_USER_CHANGED = " AND ".join(f"OLD.{c} <=> NEW.{c}" for c in VERSION_USER_COLUMNS)

MYSQL_VERSION = [
    *(
        f"""CREATE TRIGGER {table}_version_{event.lower()} AFTER {event} ON {table} FOR EACH ROW
    {_MYSQL_BUMP}"""
        for table, event in (
            ("posts_post", "INSERT"),
            ("posts_post", "UPDATE"),
            ("posts_post", "DELETE"),
            ("users_user", "INSERT"),
            ("users_user", "DELETE"),
        )
    ),
    # No UPDATE OF <columns> there: the trigger compares the columns itself.
    f"""CREATE TRIGGER users_user_version_update AFTER UPDATE ON users_user FOR EACH ROW
    BEGIN
        IF NOT ({_MYSQL_USER_CHANGED}) THEN
            {_MYSQL_BUMP};
        END IF;
    END""",
]

# Statement triggers: a bulk write changes the row once, not once per row.
POSTGRESQL_VERSION = [
    """CREATE OR REPLACE FUNCTION posts_post_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO posts_dataversion (id, version, changed_at)
        VALUES (1, floor(random() * 9007199254740991)::bigint, floor(extract(epoch FROM clock_timestamp()))::bigint)
        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER posts_post_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON posts_post
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_version_bump()""",
    f"""CREATE OR REPLACE TRIGGER users_user_version
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF {", ".join(VERSION_USER_COLUMNS)} ON users_user
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_version_bump()""",
]

_ROW_VERSION_TRIGGERS = tuple(
    f"{table}_version_{event}" for table in ("posts_post", "users_user") for event in ("insert", "update", "delete")
)

RECOUNT = (
    "UPDATE users_user SET post_count = (SELECT COUNT(*) FROM posts_post WHERE posts_post.author_id = users_user.id)"
)


class TriggerSet:
    """One engine's triggers of one migration: how to create, list and drop them."""

    def __init__(
        self,
        statements: list[str],
        *,
        list_sql: str,
        names: tuple[str, ...],
        migration_suffix: str,
        functions: tuple[str, ...] = (),
        after_create: str | None = None,
    ) -> None:
        self.statements = statements
        self.list_sql = list_sql
        self.names = names
        # The posts migration that installs these triggers ends with this name.
        self.migration_suffix = migration_suffix
        # PostgreSQL's trigger functions, dropped with the triggers.
        self.functions = functions
        # Run after creating them: what the triggers would have kept right meanwhile.
        self.after_create = after_create

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
        # A trigger belongs to its table there.
        for name in self.names:
            table = "users_user" if name.startswith("users_") else "posts_post"
            cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        for name in self.functions:
            cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")


class MysqlTriggerSet(TriggerSet):
    def create(self, cursor: Any) -> None:
        # No CREATE TRIGGER IF NOT EXISTS in every MariaDB/MySQL flavour: skip the ones that exist.
        present = self.installed(cursor)
        for sql in self.statements:
            if sql.split()[2] not in present:
                cursor.execute(sql)


_SQLITE_LIST = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
_POSTGRES_LIST = (
    "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN "
    "('posts_post'::regclass, 'users_user'::regclass)"
)
_MYSQL_LIST = "SELECT trigger_name FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
_POSTGRES_COUNT = (*TRIGGERS, "posts_post_count_truncate")

# Per engine: the post-count triggers, then the data-version triggers.
ENGINES: dict[str, tuple[TriggerSet, ...]] = {
    "sqlite": (
        TriggerSet(
            SQLITE, list_sql=_SQLITE_LIST, names=TRIGGERS, migration_suffix=MIGRATION_SUFFIX, after_create=RECOUNT
        ),
        TriggerSet(
            SQLITE_VERSION,
            list_sql=_SQLITE_LIST,
            names=_ROW_VERSION_TRIGGERS,
            migration_suffix=VERSION_MIGRATION_SUFFIX,
        ),
    ),
    "postgresql": (
        PostgresTriggerSet(
            POSTGRESQL,
            list_sql=_POSTGRES_LIST,
            names=_POSTGRES_COUNT,
            functions=_POSTGRES_COUNT,
            migration_suffix=MIGRATION_SUFFIX,
            after_create=RECOUNT,
        ),
        PostgresTriggerSet(
            POSTGRESQL_VERSION,
            list_sql=_POSTGRES_LIST,
            names=("posts_post_version", "users_user_version"),
            functions=("posts_post_version_bump",),
            migration_suffix=VERSION_MIGRATION_SUFFIX,
        ),
    ),
    "mysql": (
        MysqlTriggerSet(
            MYSQL, list_sql=_MYSQL_LIST, names=TRIGGERS, migration_suffix=MIGRATION_SUFFIX, after_create=RECOUNT
        ),
        MysqlTriggerSet(
            MYSQL_VERSION, list_sql=_MYSQL_LIST, names=_ROW_VERSION_TRIGGERS, migration_suffix=VERSION_MIGRATION_SUFFIX
        ),
    ),
}


def _engine(connection: BaseDatabaseWrapper) -> tuple[TriggerSet, ...]:
    try:
        return ENGINES[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"No post-count triggers for {connection.vendor}") from None


def expected(connection: BaseDatabaseWrapper) -> set[str]:
    """Every trigger name the migrations give this engine (post counts and the data version)."""
    return {name for group in _engine(connection) for name in group.names}


def installed(connection: BaseDatabaseWrapper) -> set[str]:
    """Names of this module's triggers present in the database."""
    with connection.cursor() as cursor:
        return set().union(*(group.installed(cursor) for group in _engine(connection)))


def install(connection: BaseDatabaseWrapper) -> None:
    """Create the triggers (where missing) and recount every user's posts."""
    with connection.cursor() as cursor:
        for group in _engine(connection):
            group.create(cursor)
            if group.after_create:
                cursor.execute(group.after_create)


def uninstall(connection: BaseDatabaseWrapper) -> None:
    with connection.cursor() as cursor:
        for group in _engine(connection):
            group.drop(cursor)


def ensure_installed(connection: BaseDatabaseWrapper) -> bool:
    """Put back missing triggers (and recount) of each set whose migration is
    applied; returns whether anything had to be done."""
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return False
    applied = [name for app, name in recorder.applied_migrations() if app == "posts"]
    repaired = False
    with connection.cursor() as cursor:
        for group in _engine(connection):
            if not any(name.endswith(group.migration_suffix) for name in applied):
                continue
            if group.installed(cursor) == set(group.names):
                continue
            group.create(cursor)
            if group.after_create:
                cursor.execute(group.after_create)
            repaired = True
    return repaired
