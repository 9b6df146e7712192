"""Full-text search objects for posts, per engine (see posts/search/).

SQLite: an FTS5 table and triggers; PostgreSQL: a tsvector column, triggers and
a GIN index; MariaDB/MySQL: a username column, triggers and a FULLTEXT index.
Existing posts are indexed here. None of these objects is a model field, so
the migration state (and `makemigrations --check`) does not change.

The SQL is written out here, as it ran when this migration was made: a
migration is history, and the search code may change after it. A change to
these objects is a new migration.
"""

from django.db import migrations

SQLITE_INSTALL = [
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_post_fts USING fts5(title, body, username, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS posts_post_fts_vocab USING fts5vocab(posts_post_fts, 'row')",
    """CREATE TRIGGER IF NOT EXISTS posts_post_search_insert AFTER INSERT ON posts_post BEGIN
                INSERT INTO posts_post_fts(rowid, title, body, username) VALUES (new.id, new.title, new.body, (SELECT username FROM users_user WHERE id = new.author_id));
            END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_search_delete AFTER DELETE ON posts_post BEGIN
                DELETE FROM posts_post_fts WHERE rowid = old.id;
            END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_search_update AFTER UPDATE OF id, title, body, author_id ON posts_post BEGIN
                DELETE FROM posts_post_fts WHERE rowid = old.id;
                INSERT INTO posts_post_fts(rowid, title, body, username) VALUES (new.id, new.title, new.body, (SELECT username FROM users_user WHERE id = new.author_id));
            END""",
    """CREATE TRIGGER IF NOT EXISTS posts_post_search_username AFTER UPDATE OF username ON users_user
            WHEN old.username IS NOT new.username BEGIN
                UPDATE posts_post_fts SET username = new.username
                WHERE rowid IN (SELECT id FROM posts_post WHERE author_id = new.id);
            END""",
    'DELETE FROM posts_post_fts',
    """INSERT INTO posts_post_fts(rowid, title, body, username)
                SELECT p.id, p.title, p.body, u.username FROM posts_post p JOIN users_user u ON u.id = p.author_id""",
    "INSERT INTO posts_post_fts(posts_post_fts) VALUES ('optimize')",
]

SQLITE_UNINSTALL = [
    'DROP TRIGGER IF EXISTS posts_post_search_insert',
    'DROP TRIGGER IF EXISTS posts_post_search_delete',
    'DROP TRIGGER IF EXISTS posts_post_search_update',
    'DROP TRIGGER IF EXISTS posts_post_search_username',
    'DROP TABLE IF EXISTS posts_post_fts_vocab',
    'DROP TABLE IF EXISTS posts_post_fts',
]

POSTGRESQL_INSTALL = [
    'ALTER TABLE posts_post ADD COLUMN IF NOT EXISTS search_vector tsvector',
    """CREATE OR REPLACE FUNCTION posts_post_search_vector() RETURNS trigger AS $$
            BEGIN
                NEW.search_vector := setweight(to_tsvector('english', coalesce(NEW.title, '')), 'A') || setweight(to_tsvector('english', coalesce((SELECT username FROM users_user WHERE id = NEW.author_id), '')), 'B') || setweight(to_tsvector('english', coalesce(NEW.body, '')), 'D');
                RETURN NEW;
            END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER posts_post_search_vector BEFORE INSERT OR UPDATE OF title, body, author_id
            ON posts_post FOR EACH ROW EXECUTE FUNCTION posts_post_search_vector()""",
    """CREATE OR REPLACE FUNCTION posts_post_search_username() RETURNS trigger AS $$
            BEGIN
                UPDATE posts_post SET author_id = author_id WHERE author_id = NEW.id;
                RETURN NULL;
            END $$ LANGUAGE plpgsql""",
    """CREATE TRIGGER posts_post_search_username AFTER UPDATE OF username ON users_user
            FOR EACH ROW WHEN (OLD.username IS DISTINCT FROM NEW.username)
            EXECUTE FUNCTION posts_post_search_username()""",
    "UPDATE posts_post p SET search_vector = setweight(to_tsvector('english', coalesce(p.title, '')), 'A') || setweight(to_tsvector('english', coalesce((SELECT username FROM users_user WHERE id = p.author_id), '')), 'B') || setweight(to_tsvector('english', coalesce(p.body, '')), 'D')",
    'CREATE INDEX IF NOT EXISTS posts_post_search_vector_idx ON posts_post USING gin (search_vector)',
]

POSTGRESQL_UNINSTALL = [
    'DROP TRIGGER IF EXISTS posts_post_search_username ON users_user',
    'DROP TRIGGER IF EXISTS posts_post_search_vector ON posts_post',
    'DROP FUNCTION IF EXISTS posts_post_search_username()',
    'DROP FUNCTION IF EXISTS posts_post_search_vector()',
    'DROP INDEX IF EXISTS posts_post_search_vector_idx',
    'ALTER TABLE posts_post DROP COLUMN IF EXISTS search_vector',
]

MYSQL_INSTALL = [
    'ALTER TABLE posts_post ADD COLUMN search_username varchar(150) NULL',
    """CREATE TRIGGER posts_post_search_insert BEFORE INSERT ON posts_post FOR EACH ROW
            SET NEW.search_username = (SELECT username FROM users_user WHERE id = NEW.author_id)""",
    """CREATE TRIGGER posts_post_search_update BEFORE UPDATE ON posts_post FOR EACH ROW
            BEGIN
                IF NOT (NEW.author_id <=> OLD.author_id) THEN
                    SET NEW.search_username = (SELECT username FROM users_user WHERE id = NEW.author_id);
                END IF;
            END""",
    """CREATE TRIGGER posts_post_search_username AFTER UPDATE ON users_user FOR EACH ROW
            BEGIN
                IF NOT (NEW.username <=> OLD.username) THEN
                    UPDATE posts_post SET search_username = NEW.username WHERE author_id = NEW.id;
                END IF;
            END""",
    'UPDATE posts_post p JOIN users_user u ON u.id = p.author_id SET p.search_username = u.username WHERE NOT (p.search_username <=> u.username)',
    'SET SESSION innodb_ft_enable_stopword = OFF',
    'ALTER TABLE posts_post ADD FULLTEXT INDEX posts_post_search_ft (title, body, search_username)',
    'SET SESSION innodb_ft_enable_stopword = ON',
]

MYSQL_UNINSTALL = [
    'DROP TRIGGER IF EXISTS posts_post_search_username',
    'DROP TRIGGER IF EXISTS posts_post_search_update',
    'DROP TRIGGER IF EXISTS posts_post_search_insert',
    'ALTER TABLE posts_post DROP INDEX posts_post_search_ft',
    'ALTER TABLE posts_post DROP COLUMN search_username',
]


STATEMENTS = {
    "sqlite": (SQLITE_INSTALL, SQLITE_UNINSTALL),
    "postgresql": (POSTGRESQL_INSTALL, POSTGRESQL_UNINSTALL),
    "mysql": (MYSQL_INSTALL, MYSQL_UNINSTALL),
}


def create_search_objects(apps, schema_editor):
    for statement in STATEMENTS[schema_editor.connection.vendor][0]:
        schema_editor.execute(statement, params=None)


def drop_search_objects(apps, schema_editor):
    for statement in STATEMENTS[schema_editor.connection.vendor][1]:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0001_initial'),
        # After every users migration so far: on SQLite, a migration that
        # rebuilds users_user (new table, copy, rename) fails while triggers
        # that read users_user exist, so those rebuilds must come first.
        ('users', '0004_user_post_count'),
    ]

    operations = [
        # atomic=False: MariaDB/MySQL cannot roll DDL back, and Django refuses DDL
        # inside a transaction there. SQLite and PostgreSQL still run this
        # migration in one transaction (the schema editor opens it).
        migrations.RunPython(create_search_objects, drop_search_objects, atomic=False, elidable=False),
    ]
