"""Give space back and refresh the planner's statistics, and say what it did.

SQLite: checkpoint and truncate the WAL, refresh statistics; --full also runs
VACUUM. PostgreSQL: VACUUM (ANALYZE) of the project's tables (--full: VACUUM
FULL). MariaDB/MySQL: ANALYZE TABLE (--full: OPTIMIZE TABLE first).
Rows are never changed.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.health import human_bytes
from dbtools.maintenance import MaintenanceError, vacuum_database


class Command(BaseCommand):
    help = (
        "Reclaim space and refresh planner statistics (SQLite: WAL checkpoint, optimize, VACUUM with --full; "
        "PostgreSQL: VACUUM (ANALYZE); MariaDB: ANALYZE/OPTIMIZE TABLE). Reports sizes before and after."
    )
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            choices=tuple(connections),
            help='The database to maintain (default "default").',
        )
        parser.add_argument(
            "--full",
            action="store_true",
            help="Also rewrite the storage to give free space back: SQLite VACUUM, PostgreSQL VACUUM FULL, "
            "MariaDB OPTIMIZE TABLE. Writers wait while it runs.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Say what would run; change nothing.")

    def handle(self, *args, **options) -> None:
        verbose = options["verbosity"] > 0

        def say(line: str) -> None:
            if verbose:
                self.stdout.write(line)

        try:
            result = vacuum_database(options["database"], full=options["full"], dry_run=options["dry_run"], say=say)
        except MaintenanceError as exc:
            raise CommandError(str(exc)) from exc
        for warning in result.warnings:
            # On stderr whatever the verbosity: cron mails it.
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        if not verbose:
            return
        before, after = result.size_before, result.size_after
        if result.dry_run:
            self.stdout.write(f"dry run: nothing was changed ({human_bytes(before)} now, {result.seconds:.2f} s).")
            return
        change = before - after
        summary = (
            f"database {result.alias!r} ({result.vendor}): {human_bytes(before)} before, {human_bytes(after)} after "
            f"({'reclaimed ' + human_bytes(change) if change > 0 else 'no space reclaimed'}), "
            f"took {result.seconds:.2f} s."
        )
        style = self.style.WARNING if result.warnings else self.style.SUCCESS
        self.stdout.write(style(summary))
