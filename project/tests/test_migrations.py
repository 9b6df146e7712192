from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder


def test_models_and_migrations_agree(db):
    out = StringIO()
    call_command("makemigrations", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()


# --- the schema as the database's own catalog describes it --------------------
# Rows of (kind, table, name, definition). Migrations also create objects that
# are not models (triggers, trigger functions, full-text tables and indexes),
# so table names alone say little about what a reversal left behind.

SCHEMA_QUERIES = {
    "sqlite": [
        "SELECT type, tbl_name, name, COALESCE(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'",
    ],
    "postgresql": [
        """SELECT 'table', table_name, table_name, '' FROM information_schema.tables
           WHERE table_schema = current_schema()""",
        """SELECT 'column', table_name, column_name, data_type FROM information_schema.columns
           WHERE table_schema = current_schema()""",
        "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()",
        """SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) FROM pg_trigger
           WHERE NOT tgisinternal""",
        """SELECT 'function', '', p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = current_schema()""",
        """SELECT 'constraint', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
           FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()""",
    ],
    "mysql": [
        """SELECT 'table', table_name, table_name, '' FROM information_schema.tables
           WHERE table_schema = DATABASE()""",
        """SELECT 'column', table_name, column_name, CONCAT(column_type, ' ', COALESCE(collation_name, ''))
           FROM information_schema.columns WHERE table_schema = DATABASE()""",
        """SELECT 'index', table_name, index_name,
                  CONCAT(index_type, ' ', GROUP_CONCAT(column_name ORDER BY seq_in_index))
           FROM information_schema.statistics WHERE table_schema = DATABASE()
           GROUP BY table_name, index_name, index_type""",
        """SELECT 'trigger', event_object_table, trigger_name,
                  CONCAT(action_timing, ' ', event_manipulation, ' ', action_statement)
           FROM information_schema.triggers WHERE trigger_schema = DATABASE()""",
        """SELECT 'constraint', t.table_name, t.constraint_name, c.check_clause
           FROM information_schema.table_constraints t JOIN information_schema.check_constraints c
             ON c.constraint_schema = t.constraint_schema AND c.constraint_name = t.constraint_name
           WHERE t.table_schema = DATABASE() AND t.constraint_type = 'CHECK'""",
    ],
}


def schema() -> set[tuple[str, str, str, str]]:
    rows = set()
    with connection.cursor() as cursor:
        for sql in SCHEMA_QUERIES[connection.vendor]:
            cursor.execute(sql)
            rows |= {tuple(str(value) for value in row) for row in cursor.fetchall()}
    return rows


def names(rows, kind: str, table: str | None = None) -> set[str]:
    return {name for k, t, name, _ in rows if k == kind and (table is None or t == table)}


def search_objects(rows) -> set[str]:
    """The full-text search objects each engine's migration creates."""
    if connection.vendor == "sqlite":
        return {name for kind, _, name, sql in rows if kind == "table" and "USING fts5" in sql}
    if connection.vendor == "postgresql":
        vectors = {f"column {name}" for kind, _, name, type_ in rows if kind == "column" and type_ == "tsvector"}
        return vectors | {f"index {name}" for kind, _, name, sql in rows if kind == "index" and "USING gin" in sql}
    return {name for kind, _, name, definition in rows if kind == "index" and definition.startswith("FULLTEXT")}


def project_objects(rows) -> set[tuple[str, str, str, str]]:
    """Whatever belongs to the users or posts apps, or is a trigger or a trigger function."""
    return {
        row
        for row in rows
        if row[0] in {"trigger", "function"}
        or row[1].startswith(("posts_", "users_"))
        or row[2].startswith(("posts_", "users_"))
    }


@pytest.mark.django_db(transaction=True)
def test_all_migrations_run_backwards_to_zero_and_forwards_again():
    migrated = schema()
    # What the forward migrations build beyond the models' tables.
    assert names(migrated, "trigger", "posts_post")  # post counts, search
    assert names(migrated, "trigger", "users_user")  # post count recount, author name in the search index
    assert search_objects(migrated)
    assert {"posts_post_title_idx", "posts_post_updated_idx"} <= names(migrated, "index", "posts_post")

    # Back to before the search objects: tables stay, triggers and indexes go.
    call_command("migrate", "posts", "0001", verbosity=0)
    early = schema()
    assert names(early, "trigger") == set()
    assert names(early, "function") == set()
    assert search_objects(early) == set()
    assert not {"posts_post_title_idx", "posts_post_updated_idx"} & names(early, "index")
    assert early < migrated  # nothing new appeared on the way back

    call_command("migrate", "users", "zero", verbosity=0)
    assert project_objects(schema()) == set()
    assert not MigrationRecorder.Migration.objects.filter(app__in=["users", "posts", "admin"]).exists()

    call_command("migrate", verbosity=0)
    assert schema() == migrated
    out = StringIO()
    call_command("showmigrations", "--plan", stdout=out)
    assert "[ ]" not in out.getvalue()
