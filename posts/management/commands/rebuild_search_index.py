"""Re-index every post for full-text search, or check the index against the table.

The index is kept in step by database triggers; this command is for repairs:
after restoring an old backup, after a raw bulk load with triggers off, or on
SQLite after a migration that rebuilt the posts table (which drops its
triggers; the command re-creates them).
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction

from posts.models import Post
from posts.search import index_problems, rebuild_index


class Command(BaseCommand):
    help = "Rebuild the full-text search index of posts (or --check it against the posts table)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))
        parser.add_argument(
            "--check",
            action="store_true",
            help="Only compare the index with the posts table; exit non-zero when they differ.",
        )

    def handle(self, *args, **options) -> None:
        using = options["database"]
        try:
            if options["check"]:
                self._check(using)
                return
            started = time.monotonic()
            with transaction.atomic(using=using):
                rebuild_index(using)
            posts = Post.objects.using(using).count()
        except (RuntimeError, NotImplementedError, DatabaseError) as exc:
            raise CommandError(f"Could not rebuild the search index: {exc}") from exc
        elapsed = time.monotonic() - started
        self.stdout.write(self.style.SUCCESS(f"Search index rebuilt: {posts:,} posts in {elapsed:.1f} s."))

    def _check(self, using: str) -> None:
        problems = index_problems(using)
        if problems:
            raise CommandError(
                "The search index differs from the posts table: "
                + "; ".join(problems)
                + ". Run `manage.py rebuild_search_index` to repair it."
            )
        self.stdout.write(self.style.SUCCESS("The search index agrees with the posts table."))
