"""Delete old backups by a retention policy read from the manifests."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dbtools.backup import BackupError, Policy, backup_dir, delete_backup, list_backups, plan_retention


class Command(BaseCommand):
    help = (
        "Delete backups the retention policy does not keep: the newest --keep, plus the newest of each of the "
        "last --keep-daily days, --keep-weekly weeks and --keep-monthly months. Defaults come from the "
        "BACKUP_KEEP_* settings. Dates come from each backup's manifest, not its file name."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--keep", type=int, help=f"Newest backups to keep (default {settings.BACKUP_KEEP_LAST}).")
        parser.add_argument(
            "--keep-daily", type=int, help=f"Days to keep one backup of ({settings.BACKUP_KEEP_DAILY})."
        )
        parser.add_argument(
            "--keep-weekly", type=int, help=f"Weeks to keep one backup of ({settings.BACKUP_KEEP_WEEKLY})."
        )
        parser.add_argument(
            "--keep-monthly", type=int, help=f"Months to keep one backup of ({settings.BACKUP_KEEP_MONTHLY})."
        )
        parser.add_argument("--dry-run", action="store_true", help="Show what would be deleted; delete nothing.")

    def handle(self, *args, **options) -> None:
        default = Policy.from_settings()
        policy = Policy(
            default.keep if options["keep"] is None else options["keep"],
            default.daily if options["keep_daily"] is None else options["keep_daily"],
            default.weekly if options["keep_weekly"] is None else options["keep_weekly"],
            default.monthly if options["keep_monthly"] is None else options["keep_monthly"],
        )
        try:
            policy.validate()
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        items = list_backups()
        kept, deleted = plan_retention(items, policy)
        unmanaged = [item for item in items if item.manifest is None]
        verb = "Would delete" if options["dry_run"] else "Deleted"
        for item in deleted:
            if not options["dry_run"]:
                delete_backup(item)
            self.stdout.write(f"{verb} {item.name}")
        for item in unmanaged:
            # Said out loud: a file this command cannot date is never silently ignored.
            self.stdout.write(self.style.WARNING(f"Left alone {item.name}: {item.problem}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(kept)} backup(s) kept, {len(deleted)} {'to delete' if options['dry_run'] else 'deleted'} "
                f"in {backup_dir()}."
            )
        )
