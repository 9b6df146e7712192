"""List the backups in BACKUP_DIR with their manifest and checksum state."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandParser

from dbtools import replication
from dbtools.backup import backup_dir, checksum_state, list_backups
from dbtools.engines import EngineError, sqlite_file


class Command(BaseCommand):
    help = (
        "List backups: name, created, size, engine, checksum state (sha256 re-read) and row counts; and the "
        "replica's restorable window when REPLICA_URL is set."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="One JSON array on stdout.")

    def handle(self, *args, **options) -> None:
        items = list_backups()
        rows = []
        for item in items:
            manifest = item.manifest or {}
            rows.append(
                {
                    "name": item.name,
                    "created_at": manifest.get("created_at"),
                    "size": item.path.stat().st_size,
                    "engine": manifest.get("engine"),
                    "database": manifest.get("database"),
                    "reason": manifest.get("reason"),
                    "checksum": checksum_state(item),
                    "row_counts": manifest.get("row_counts"),
                }
            )
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        self._replica_window()
        if not rows:
            self.stdout.write(f"No backups in {backup_dir()}.")
            return
        self.stdout.write(f"{'NAME':<48} {'CREATED (UTC)':<20} {'SIZE':>14} {'ENGINE':<10} {'CHECKSUM':<18} ROWS")
        for row in rows:
            created = (row["created_at"] or "?")[:19].replace("T", " ")
            total = sum(row["row_counts"].values()) if row["row_counts"] else "?"
            state = row["checksum"]
            styled = self.style.SUCCESS(f"{state:<18}") if state == "ok" else self.style.ERROR(f"{state:<18}")
            self.stdout.write(
                f"{row['name']:<48} {created:<20} {row['size']:>14,} {row['engine'] or '?':<10} {styled} {total}"
            )

    def _replica_window(self) -> None:
        replica = replication.configured()
        if replica is None:
            return
        try:
            span = replication.window(replica, sqlite_file("default", "list"))
        except (replication.ReplicationError, EngineError) as exc:
            self.stdout.write(self.style.ERROR(f"Replica {replica.url}: {exc}"))
            return
        self.stdout.write(
            f"Replica {replica.url}: restorable from {span.earliest.isoformat()} to {span.latest.isoformat()} "
            "(dbrestore --replica [--at TIME])."
        )
