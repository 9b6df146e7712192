"""Recompute every user's ``post_count`` from the posts table.

The database triggers keep the counter right for every ordinary write; this
repairs it after writes that bypass triggers (a MariaDB/MySQL ``TRUNCATE``
of the posts table, a bulk load with triggers disabled).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from posts import triggers
from users.models import User, real_post_count


class Command(BaseCommand):
    help = "Recompute users' post counts from the posts table, and put back missing count triggers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))

    def handle(self, *args, **options) -> None:
        using = options["database"]
        repaired = triggers.ensure_installed(connections[using])
        with transaction.atomic(using=using):
            wrong = User.objects.using(using).exclude(post_count=real_post_count()).count()
            User.objects.using(using).recount_posts()
        if repaired:
            self.stdout.write(self.style.WARNING("The post count triggers were missing and have been put back."))
        self.stdout.write(self.style.SUCCESS(f"Recounted posts; {wrong} user(s) had a wrong count."))
