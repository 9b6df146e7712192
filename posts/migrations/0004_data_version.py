# The table that versions what the API's lists show, and the triggers that
# give it a new random version on every write to posts and to the user
# columns the API shows (see posts/triggers.py for why triggers, and
# project/httpcache.py for what reads it).
#
# The trigger SQL is written out here as it ran when this migration was made:
# a migration is history. A change to these triggers is a new migration.

from django.db import migrations, models

SQLITE = [
    """CREATE TRIGGER IF NOT EXISTS posts_post_version_insert AFTER INSERT ON posts_post
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_version_update AFTER UPDATE ON posts_post
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_version_delete AFTER DELETE ON posts_post
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
    """CREATE TRIGGER IF NOT EXISTS users_user_version_insert AFTER INSERT ON users_user
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
    """CREATE TRIGGER IF NOT EXISTS users_user_version_update AFTER UPDATE OF username, email, date_joined, post_count ON users_user
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
    """CREATE TRIGGER IF NOT EXISTS users_user_version_delete AFTER DELETE ON users_user
    BEGIN
        INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER));
    END""",
]

POSTGRESQL = [
    """CREATE OR REPLACE FUNCTION posts_post_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO posts_dataversion (id, version, changed_at)
        VALUES (1, floor(random() * 9007199254740991)::bigint, floor(extract(epoch FROM clock_timestamp()))::bigint)
        ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, changed_at = EXCLUDED.changed_at;
        RETURN NULL;
    END $$""",
    """CREATE OR REPLACE TRIGGER posts_post_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON posts_post
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_version_bump()""",
    """CREATE OR REPLACE TRIGGER users_user_version
    AFTER INSERT OR DELETE OR TRUNCATE OR UPDATE OF username, email, date_joined, post_count ON users_user
    FOR EACH STATEMENT EXECUTE FUNCTION posts_post_version_bump()""",
]

MYSQL = [
    """CREATE TRIGGER posts_post_version_insert AFTER INSERT ON posts_post FOR EACH ROW
    INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)""",
    """CREATE TRIGGER posts_post_version_update AFTER UPDATE ON posts_post FOR EACH ROW
    INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)""",
    """CREATE TRIGGER posts_post_version_delete AFTER DELETE ON posts_post FOR EACH ROW
    INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)""",
    """CREATE TRIGGER users_user_version_insert AFTER INSERT ON users_user FOR EACH ROW
    INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)""",
    """CREATE TRIGGER users_user_version_delete AFTER DELETE ON users_user FOR EACH ROW
    INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at)""",
    """CREATE TRIGGER users_user_version_update AFTER UPDATE ON users_user FOR EACH ROW
    BEGIN
        IF NOT (OLD.username <=> NEW.username AND OLD.email <=> NEW.email AND OLD.date_joined <=> NEW.date_joined AND OLD.post_count <=> NEW.post_count) THEN
            INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP()) ON DUPLICATE KEY UPDATE version = VALUES(version), changed_at = VALUES(changed_at);
        END IF;
    END""",
]

ROW_TRIGGERS = ('posts_post_version_insert', 'posts_post_version_update', 'posts_post_version_delete', 'users_user_version_insert', 'users_user_version_update', 'users_user_version_delete')

FIRST_ROW = {
    "sqlite": "INSERT OR REPLACE INTO posts_dataversion (id, version, changed_at) VALUES (1, random(), CAST(strftime('%s', 'now') AS INTEGER))",
    "postgresql": "INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, floor(random() * 9007199254740991)::bigint, floor(extract(epoch FROM clock_timestamp()))::bigint)",
    "mysql": "INSERT INTO posts_dataversion (id, version, changed_at) VALUES (1, FLOOR(RAND() * 9007199254740991), UNIX_TIMESTAMP())",
}


# Through a cursor, not schema_editor.execute(): Django refuses DDL inside the
# migration's transaction on MariaDB/MySQL (which commit CREATE TRIGGER at once).


def install_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mysql": MYSQL}[vendor]
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FIRST_ROW[vendor])
        for statement in statements:
            cursor.execute(statement)


def uninstall_triggers(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS posts_post_version ON posts_post")
            cursor.execute("DROP TRIGGER IF EXISTS users_user_version ON users_user")
            cursor.execute("DROP FUNCTION IF EXISTS posts_post_version_bump()")
        else:
            for name in ROW_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0003_post_count_triggers'),
        ('users', '0007_post_count_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='DataVersion',
            fields=[
                ('id', models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ('version', models.BigIntegerField()),
                ('changed_at', models.BigIntegerField(help_text='Unix time (seconds) of the last change.')),
            ],
        ),
        migrations.RunPython(install_triggers, uninstall_triggers),
    ]
