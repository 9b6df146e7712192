"""Full-text search objects for posts, per engine (see posts/search.py).

SQLite: an FTS5 table and triggers; PostgreSQL: a tsvector column, triggers and
a GIN index; MariaDB/MySQL: a username column, triggers and a FULLTEXT index.
Existing posts are indexed here. None of these objects is a model field, so
the migration state (and `makemigrations --check`) does not change.
"""

from django.db import migrations

from posts.search import backend_for


def create_search_objects(apps, schema_editor):
    backend = backend_for(schema_editor.connection)
    for statement in backend.install_statements():
        schema_editor.execute(statement, params=None)
    if schema_editor.connection.vendor == "sqlite":
        for statement in backend.rebuild_statements():
            schema_editor.execute(statement, params=None)


def drop_search_objects(apps, schema_editor):
    for statement in backend_for(schema_editor.connection).uninstall_statements():
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):

    dependencies = [
        ('posts', '0001_initial'),
        # After every users migration so far: on SQLite, a migration that
        # rebuilds users_user (new table, copy, rename) fails while triggers
        # that read users_user exist, so those rebuilds must come first.
        ('users', '0003_text_length_checks'),
    ]

    operations = [
        # atomic=False: MariaDB/MySQL cannot roll DDL back, and Django refuses DDL
        # inside a transaction there. SQLite and PostgreSQL still run this
        # migration in one transaction (the schema editor opens it).
        migrations.RunPython(create_search_objects, drop_search_objects, atomic=False, elidable=False),
    ]
