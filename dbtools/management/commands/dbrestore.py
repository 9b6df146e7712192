"""Restore a backup after checking it, with a safety backup of the current data."""

from __future__ import annotations

from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.backup import (
    RESTORE_VERIFY,
    VERIFY_CHOICES,
    BackupError,
    check_restorable,
    resolve,
    restore_backup,
    restore_replica,
)


def moment(text: str) -> datetime:
    """An ISO-8601 time (2026-12-01T17:58:00Z); one without an offset is UTC."""
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise CommandError(f"--at {text!r} is not an ISO-8601 time such as 2026-12-01T17:58:00Z.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


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
        parser.add_argument(
            "--replica",
            action="store_true",
            help="Restore from the Litestream replica (REPLICA_URL) instead of a backup file.",
        )
        parser.add_argument(
            "--at",
            metavar="TIME",
            help="With --replica: the replica's state at this ISO-8601 time (UTC when no offset is given) "
            "instead of its newest.",
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

        if options["at"] and not options["replica"]:
            raise CommandError("--at needs --replica: a backup file holds one moment only.")
        if options["replica"]:
            self._restore_replica(alias, options, report)
            return
        try:
            path = resolve(options["input"])
            manifest = check_restorable(path, alias)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows = sum(manifest.get("row_counts", {}).values())
        if options["interactive"]:
            self._confirm(alias, f"{path.name} (taken {manifest['created_at']}, {rows:,} rows)")
        try:
            result = restore_backup(path=path, alias=alias, verify=options["verify"], report=report)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self._done(result, alias, path.name)

    def _restore_replica(self, alias: str, options: dict, report) -> None:
        at = moment(options["at"]) if options["at"] else None
        if options["interactive"]:
            self._confirm(alias, f"the replica's copy at {at.isoformat() if at else 'its newest state'}")
        try:
            result = restore_replica(at=at, alias=alias, verify=options["verify"], report=report)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self._done(result, alias, "the replica")

    def _confirm(self, alias: str, source: str) -> None:
        answer = input(
            f"This replaces every table of database {alias!r} ({connections[alias].settings_dict['NAME']}) "
            f"with {source}.\n"
            "A safety backup of the current data is taken first. Type 'yes' to continue: "
        )
        if answer.strip().lower() != "yes":
            raise CommandError("Restore cancelled; nothing was changed.")

    def _done(self, result, alias: str, source: str) -> None:
        for warning in result.warnings:
            self.stdout.write(self.style.WARNING(warning))
        if result.safety_backup:
            self.stdout.write(f"The previous data is saved in {result.safety_backup}.")
        self.stdout.write(
            self.style.SUCCESS(f"Restored {source}: {sum(result.row_counts.values()):,} rows in {alias!r}.")
        )
