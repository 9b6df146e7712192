"""Restore a backup after checking it, with a safety backup of the current data."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.backup import RESTORE_VERIFY, VERIFY_CHOICES, BackupError, check_restorable, resolve, restore_backup


class Command(BaseCommand):
    help = (
        "Restore a backup into a database. Checks the checksum, manifest and engine, then a staged copy "
        "(SQLite integrity check, tables and row counts against the manifest) before the live database is "
        "touched; takes a safety backup of the current database, then replaces it all or nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--input", default="latest", help="A backup's file name in BACKUP_DIR, a path, or 'latest' (default)."
        )
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))
        parser.add_argument(
            "--verify",
            choices=VERIFY_CHOICES,
            default=RESTORE_VERIFY,
            help=f"How deeply the staged SQLite copy is checked (default {RESTORE_VERIFY}): full runs PRAGMA "
            "integrity_check, quick runs PRAGMA quick_check.",
        )
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help="Do not ask for confirmation."
        )

    def handle(self, *args, **options) -> None:
        alias = options["database"]

        def report(message: str) -> None:
            if options["verbosity"] > 0:
                self.stderr.write(message)

        try:
            path = resolve(options["input"])
            manifest = check_restorable(path, alias)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest.get("row_counts", {}).values())
        if options["interactive"]:
            answer = input(
                f"This replaces every table of database {alias!r} ({connections[alias].settings_dict['NAME']}) "
                f"with {path.name} (taken {manifest['created_at']}, {rows:,} rows).\n"
                "A safety backup of the current data is taken first. Type 'yes' to continue: "
            )
            if answer.strip().lower() != "yes":
                raise CommandError("Restore cancelled; nothing was changed.")
        try:
            result = restore_backup(path=path, alias=alias, verify=options["verify"], report=report)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(warning))
        if result.safety_backup:
            self.stdout.write(f"The previous data is saved in {result.safety_backup}.")
        self.stdout.write(
            self.style.SUCCESS(f"Restored {path.name}: {sum(result.row_counts.values()):,} rows in {alias!r}.")
        )
