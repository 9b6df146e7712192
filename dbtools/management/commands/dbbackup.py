"""Take a verified, consistent backup of a database while it stays online."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.backup import (
    BACKUP_VERIFY,
    VERIFY_CHOICES,
    BackupError,
    Policy,
    create_backup,
    delete_backup,
    list_backups,
    plan_retention,
)


class Command(BaseCommand):
    help = (
        "Back up a database: SQLite through the online backup API (the copy checked with quick_check, or "
        "integrity_check with --verify full), "
        "PostgreSQL with pg_dump, MariaDB/MySQL with mariadb-dump. Writes the file and its manifest "
        "to BACKUP_DIR."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, choices=tuple(connections))
        parser.add_argument(
            "--output", type=Path, help="A new file, or an existing folder, to write to (default: BACKUP_DIR)."
        )
        parser.add_argument(
            "--no-compress", action="store_false", dest="compress", help="Store the dump without compression."
        )
        parser.add_argument(
            "--clean", action="store_true", help="Afterwards, delete old backups the retention policy does not keep."
        )
        parser.add_argument(
            "--verify",
            choices=VERIFY_CHOICES,
            default=BACKUP_VERIFY,
            help=f"How deeply a SQLite copy is checked before it is kept (default {BACKUP_VERIFY}): "
            "full runs PRAGMA integrity_check, quick runs PRAGMA quick_check (no index-to-table comparison, "
            "a fraction of the time on a large file). PostgreSQL and MariaDB dumps are checked the same either way.",
        )
        parser.add_argument("--quiet", action="store_true", help="Print nothing but errors (for cron).")

    def handle(self, *args, **options) -> None:
        quiet = options["quiet"]

        def report(message: str) -> None:
            if not quiet and options["verbosity"] > 0:
                self.stderr.write(message)

        try:
            backup = create_backup(
                alias=options["database"],
                output=options["output"],
                compress=options["compress"],
                verify=options["verify"],
                report=report,
            )
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not quiet:
            tables = backup.manifest["row_counts"] if backup.manifest else {}
            self.stdout.write(
                self.style.SUCCESS(
                    f"Backup written to {backup.path} ({backup.manifest['size']:,} bytes, "
                    f"{sum(tables.values()):,} rows in {len(tables)} tables, sha256 {backup.manifest['sha256'][:12]})."
                )
            )
        if options["clean"]:
            policy = Policy.from_settings()
            try:
                policy.validate()
            except BackupError as exc:
                raise CommandError(f"Backup kept, but --clean refused: {exc}") from exc
            _, deleted = plan_retention(list_backups(backup.path.parent), policy)
            for item in deleted:
                delete_backup(item)
                if not quiet:
                    self.stdout.write(f"Deleted {item.name}")
