# Sort indexes for the admin's posts list, and the triggers that keep
# users_user.post_count equal to the number of posts of each user (see
# posts/triggers.py for why triggers).
#
# The trigger SQL is written out here as it ran when this migration was made:
# a migration is history. A change to these triggers is a new migration.

from django.db import migrations, models

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
    """CREATE TRIGGER IF NOT EXISTS users_user_post_count_recount AFTER INSERT ON users_user
    WHEN NEW.post_count IS NOT (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)
    BEGIN
        UPDATE users_user SET post_count = (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)
        WHERE id = NEW.id;
    END""",
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
    """CREATE OR REPLACE TRIGGER posts_post_count_author AFTER UPDATE ON posts_post
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_author()""",
    """CREATE OR REPLACE TRIGGER posts_post_count_truncate AFTER TRUNCATE ON posts_post
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_count_truncate()""",
    """CREATE OR REPLACE TRIGGER users_user_post_count_recount BEFORE INSERT ON users_user
    FOR EACH ROW EXECUTE FUNCTION users_user_post_count_recount()""",
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
    """CREATE TRIGGER users_user_post_count_recount BEFORE INSERT ON users_user FOR EACH ROW
    SET NEW.post_count = (SELECT COUNT(*) FROM posts_post WHERE author_id = NEW.id)""",
]

RECOUNT = 'UPDATE users_user SET post_count = (SELECT COUNT(*) FROM posts_post WHERE posts_post.author_id = users_user.id)'

TRIGGERS = (
    "posts_post_count_insert",
    "posts_post_count_delete",
    "posts_post_count_author",
    "users_user_post_count_recount",
)


# Through a cursor, not schema_editor.execute(): Django refuses DDL inside the
# migration's transaction on MariaDB/MySQL (which commit CREATE TRIGGER at once).


def install_triggers(apps, schema_editor):
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mysql": MYSQL}[schema_editor.connection.vendor]
    with schema_editor.connection.cursor() as cursor:
        for statement in [*statements, RECOUNT]:
            cursor.execute(statement)


def uninstall_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS posts_post_count_truncate ON posts_post")
            for name in TRIGGERS:
                table = "users_user" if name.startswith("users_") else "posts_post"
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            for name in (*TRIGGERS, "posts_post_count_truncate"):
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
        else:
            for name in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0002_post_search'),
        ('users', '0004_user_post_count'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['title', 'id'], name='posts_post_title_idx'),
        ),
        migrations.AddIndex(
            model_name='post',
            index=models.Index(fields=['updated_at', 'id'], name='posts_post_updated_idx'),
        ),
        migrations.RunPython(install_triggers, uninstall_triggers),
    ]
