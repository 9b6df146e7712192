from django.apps import AppConfig


class PostsConfig(AppConfig):
    """The posts app.

    Its database triggers (the search index, users' post counts) are created
    by its migrations and by nothing else: no ``post_migrate`` hook re-creates
    them from today's code. SQLite drops a table's triggers when a migration
    rebuilds that table (an ``ALTER`` it cannot do in place), so the rule is:
    a migration that makes SQLite rebuild ``posts_post`` or ``users_user``
    drops the triggers that read the table first and creates them again
    afterwards, with the SQL written out in that migration. The schema test
    (``posts/tests/test_schema.py``) fails when a migration forgets.
    """

    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"
