from django.apps import AppConfig
from django.db.models.signals import post_migrate


class PostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"

    def ready(self) -> None:
        post_migrate.connect(restore_search_triggers, sender=self)


def restore_search_triggers(using: str, **kwargs) -> None:
    """SQLite copies a table to alter it, and the copy has no triggers: a later
    migration on posts_post would silently stop the search index from following
    the table. Put the triggers back and re-index when any is missing."""
    from django.db import connections, transaction

    from posts.search import SqliteBackend, backend_for, rebuild_index

    connection = connections[using]
    if connection.vendor != "sqlite":
        return
    backend = backend_for(connection)
    if isinstance(backend, SqliteBackend) and backend.is_installed(connection) and backend.missing_triggers(connection):
        with transaction.atomic(using=using):
            rebuild_index(using)
