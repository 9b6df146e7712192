"""Case-insensitive uniqueness of username and email on MariaDB/MySQL.

The model states the rule as unique constraints on LOWER(username) and
LOWER(email). SQLite and PostgreSQL build them as expression indexes, but
Django cannot create expression indexes on MariaDB (the constraints are skipped
there, system check models.W044), so without this migration MariaDB would
accept "Alice@example.com" next to "alice@example.com".

MariaDB compares strings with the column's collation, and a "_ci" collation
(the default for utf8mb4: utf8mb4_general_ci, or the utf8mb4_unicode_ci this
project asks for) is case-insensitive. So a plain unique index on the column
enforces the same rule: username is already unique (AbstractUser), email gets
its index here. The migration refuses a case-sensitive (or non-utf8mb4)
collation instead of silently creating an index that would not enforce the rule.

On SQLite and PostgreSQL it does nothing. It changes no model state.
"""

from django.db import migrations

TABLE = "users_user"
EMAIL_INDEX = "users_user_email_ci_unique"


def _is_mysql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "mysql"


def create_email_index(apps, schema_editor):
    if not _is_mysql(schema_editor):
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = %s AND column_name IN ('username', 'email')",
            [TABLE],
        )
        collations = {name.lower(): collation for name, collation in cursor.fetchall()}
    # utf8mb4 too: a latin1 or 3-byte utf8 column cannot store every name.
    wrong = {
        name: c
        for name, c in collations.items()
        if not ((c or "").lower().startswith("utf8mb4_") and (c or "").lower().endswith("_ci"))
    }
    if wrong:
        raise RuntimeError(
            f"{TABLE} columns {wrong} do not use a case-insensitive utf8mb4 collation, so a unique index "
            "would not make usernames and emails unique regardless of case. Create the database with "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci."
        )
    schema_editor.execute(
        f"CREATE UNIQUE INDEX {schema_editor.quote_name(EMAIL_INDEX)} ON {schema_editor.quote_name(TABLE)} (email)"
    )


def drop_email_index(apps, schema_editor):
    if not _is_mysql(schema_editor):
        return
    schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(EMAIL_INDEX)} ON {schema_editor.quote_name(TABLE)}")


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0001_initial"),
    ]

    operations = [
        # Not atomic: MariaDB cannot roll back DDL, and Django refuses DDL inside
        # a transaction there.
        migrations.RunPython(create_email_index, drop_email_index, atomic=False, elidable=False),
    ]
