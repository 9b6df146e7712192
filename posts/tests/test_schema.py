"""The migrated schema holds every trigger and search object on each engine,
and today's repair definitions create exactly what the migrations created.

Migrations hold the SQL they ran (history); ``posts/triggers.py`` and
``posts/search/sqlite.py`` keep today's definitions for repairs. When the two
drift apart (a trigger edited without a new migration, or a migration that
rebuilds a table and forgets its triggers), these tests fail.
"""

import pytest
from django.db import connection

from posts import triggers
from posts.search import rebuild_index
from posts.search.sqlite import TRIGGERS as SQLITE_SEARCH_TRIGGERS

COUNT_TRIGGERS = set(triggers.TRIGGERS)
ROW_VERSION_TRIGGERS = {
    f"{table}_version_{event}" for table in ("posts_post", "users_user") for event in ("insert", "update", "delete")
}
EXPECTED = {
    "sqlite": {
        "triggers": COUNT_TRIGGERS | ROW_VERSION_TRIGGERS | set(SQLITE_SEARCH_TRIGGERS),
        # The FTS5 table, its shadow tables (FTS5's storage) and the two vocabulary views.
        "search": {
            f"table posts_post_fts{suffix}"
            for suffix in ("", "_config", "_content", "_data", "_docsize", "_idx", "_vocab", "_words")
        },
    },
    "postgresql": {
        "triggers": COUNT_TRIGGERS
        | {"posts_post_count_truncate", "posts_post_search_vector", "posts_post_search_username"}
        | {"posts_post_version", "users_user_version"},
        "search": {"column search_vector", "index posts_post_search_vector_idx"},
    },
    "mysql": {
        "triggers": COUNT_TRIGGERS
        | {"posts_post_search_insert", "posts_post_search_update", "posts_post_search_username"}
        | ROW_VERSION_TRIGGERS,
        "search": {"column search_username", "index posts_post_search_ft"},
    },
}


def definitions() -> dict[str, str]:
    """Each trigger (and PostgreSQL trigger function) of the two tables, by name, as the database stores it."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
        elif connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                "AND tgrelid IN ('posts_post'::regclass, 'users_user'::regclass) "
                "UNION ALL SELECT proname || '()', pg_get_functiondef(oid) FROM pg_proc "
                "WHERE proname LIKE 'posts\\_post\\_%%' OR proname LIKE 'users\\_user\\_%%'"
            )
        else:
            cursor.execute(
                "SELECT trigger_name, CONCAT_WS(' ', action_timing, event_manipulation, event_object_table, "
                "action_statement) FROM information_schema.triggers WHERE trigger_schema = DATABASE()"
            )
        return dict(cursor.fetchall())


def search_objects() -> set[str]:
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(
                "SELECT 'table ' || name FROM sqlite_master WHERE name LIKE 'posts_post_fts%' AND type = 'table'"
            )
            return {row[0] for row in cursor.fetchall()}
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT 'column ' || column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = 'posts_post' AND column_name LIKE 'search%%' "
                "UNION ALL SELECT 'index ' || indexname FROM pg_indexes WHERE tablename = 'posts_post' "
                "AND indexname LIKE '%%search%%'"
            )
        else:
            cursor.execute(
                "SELECT CONCAT('column ', column_name) FROM information_schema.columns WHERE table_schema = DATABASE() "
                "AND table_name = 'posts_post' AND column_name LIKE 'search%%' "
                "UNION ALL SELECT DISTINCT CONCAT('index ', index_name) FROM information_schema.statistics "
                "WHERE table_schema = DATABASE() AND table_name = 'posts_post' AND index_name LIKE '%%search%%'"
            )
        return {row[0] for row in cursor.fetchall()}


def test_the_migrated_schema_has_every_trigger_and_search_object(db):
    expected = EXPECTED[connection.vendor]
    names = {name for name in definitions() if not name.endswith("()")}
    assert names == expected["triggers"]
    assert search_objects() == expected["search"]


# MariaDB/MySQL commit implicitly on CREATE/DROP TRIGGER: a transactional
# test, so that what it does is undone by the flush afterwards on every engine.
@pytest.mark.django_db(transaction=True)
def test_the_repair_definitions_create_what_the_migrations_created():
    migrated = definitions()
    triggers.uninstall(connection)
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            for name in SQLITE_SEARCH_TRIGGERS:
                cursor.execute(f"DROP TRIGGER {name}")
    assert not triggers.expected(connection) & set(definitions())
    triggers.install(connection)
    if connection.vendor == "sqlite":
        rebuild_index(connection.alias)  # Puts the search triggers back.
    assert definitions() == migrated
