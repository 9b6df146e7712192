"""Lift a log-in lockout before its window ends: ``manage.py unlock alice``
or ``manage.py unlock 203.0.113.7`` (users.lockout)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from users.lockout import unlock


class Command(BaseCommand):
    help = "Clear the failed log-in counts of a username or a client address, lifting its lockout."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("target", help="A username, or the client address (IPv4 or IPv6) the lockout counted.")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            what, failures = unlock(options["target"], using=options["database"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if failures is None:
            raise CommandError(f"No failed log-ins are counted for {what}; nothing to unlock.")
        self.stdout.write(self.style.SUCCESS(f"Unlocked {what}: {failures} failed log-in(s) cleared."))
