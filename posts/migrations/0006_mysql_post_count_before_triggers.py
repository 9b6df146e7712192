"""MariaDB/MySQL: the post-count triggers of inserts and author changes run
BEFORE the row is written, not after.

Writing a post reads its author's row with a shared lock (the search
trigger's copy of the username, BEFORE INSERT; the foreign key check); the
AFTER trigger then updated that row, which needs an exclusive lock. Two
posts by one author written at once each held the shared lock and waited
for the other's: InnoDB killed one (error 1213, "Deadlock found"), 8% of the
posts written by 32 clients at once. The count now runs BEFORE the row is
written and ahead of the search trigger (PRECEDES), so it takes the
exclusive lock first and the later reads find it held by their own
transaction; writers of one author queue instead. A write that fails after
the trigger ran is undone with it (statements are atomic).

Other engines have nothing to change. The SQL is written out here, as it ran
when this migration was made: a migration is history.
"""

from django.db import migrations

COUNT_INSERT = "UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id"
COUNT_AUTHOR_CHANGE = """BEGIN
        IF NOT (OLD.author_id <=> NEW.author_id) THEN
            UPDATE users_user SET post_count = post_count - 1 WHERE id = OLD.author_id;
            UPDATE users_user SET post_count = post_count + 1 WHERE id = NEW.author_id;
        END IF;
    END"""

BEFORE = [
    "DROP TRIGGER IF EXISTS posts_post_count_insert",
    f"""CREATE TRIGGER posts_post_count_insert BEFORE INSERT ON posts_post FOR EACH ROW
    PRECEDES posts_post_search_insert
    {COUNT_INSERT}""",
    "DROP TRIGGER IF EXISTS posts_post_count_author",
    f"""CREATE TRIGGER posts_post_count_author BEFORE UPDATE ON posts_post FOR EACH ROW
    PRECEDES posts_post_search_update
    {COUNT_AUTHOR_CHANGE}""",
]

# What 0003 created, for going back.
AFTER = [
    "DROP TRIGGER IF EXISTS posts_post_count_insert",
    f"CREATE TRIGGER posts_post_count_insert AFTER INSERT ON posts_post FOR EACH ROW {COUNT_INSERT}",
    "DROP TRIGGER IF EXISTS posts_post_count_author",
    f"CREATE TRIGGER posts_post_count_author AFTER UPDATE ON posts_post FOR EACH ROW {COUNT_AUTHOR_CHANGE}",
]


# Through a cursor, not schema_editor.execute(): Django refuses DDL inside the
# migration's transaction on MariaDB/MySQL (which commit CREATE TRIGGER at once).


def _run(statements, schema_editor):
    if schema_editor.connection.vendor != "mysql":
        return
    with schema_editor.connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def lock_before_writing(apps, schema_editor):
    _run(BEFORE, schema_editor)


def count_after_writing(apps, schema_editor):
    _run(AFTER, schema_editor)


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0005_post_search_vocabulary'),
    ]

    operations = [
        migrations.RunPython(lock_before_writing, count_after_writing, elidable=False),
    ]
