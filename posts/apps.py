from django.apps import AppConfig
from django.db import connections
from django.db.models.signals import post_migrate


def _ensure_post_count_triggers(using: str, **kwargs) -> None:
    # SQLite drops a table's triggers whenever a migration rebuilds that
    # table; put them back after every migrate (a no-op when all are there).
    from posts import triggers

    triggers.ensure_installed(connections[using])


class PostsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "posts"

    def ready(self) -> None:
        post_migrate.connect(_ensure_post_count_triggers, sender=self, dispatch_uid="posts_post_count_triggers")
