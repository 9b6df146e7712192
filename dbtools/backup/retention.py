"""Which backups to keep: the newest N plus one per day, ISO week and month."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from dbtools.backup.base import BackupError
from dbtools.backup.manifest import BackupFile, manifest_path


@dataclass(frozen=True)
class Policy:
    keep: int
    daily: int
    weekly: int
    monthly: int

    @classmethod
    def from_settings(cls) -> Policy:
        return cls(
            settings.BACKUP_KEEP_LAST,
            settings.BACKUP_KEEP_DAILY,
            settings.BACKUP_KEEP_WEEKLY,
            settings.BACKUP_KEEP_MONTHLY,
        )

    def validate(self) -> None:
        if min(self.keep, self.daily, self.weekly, self.monthly) < 0:
            raise BackupError("Retention counts cannot be negative.")
        if self.keep + self.daily + self.weekly + self.monthly == 0:
            raise BackupError("This policy keeps nothing and would delete every backup; keep at least one.")


def _buckets(created: datetime) -> tuple[date, tuple[int, int], tuple[int, int]]:
    local = timezone.localtime(created)
    iso = local.isocalendar()
    return local.date(), (iso[0], iso[1]), (local.year, local.month)


def plan_retention(items: Iterable[BackupFile], policy: Policy) -> tuple[list[BackupFile], list[BackupFile]]:
    """(kept, deleted) among backups with a manifest, per database.

    Like ``borg prune``: the newest ``keep`` backups, plus the newest backup
    of each of the latest ``daily`` days, ``weekly`` ISO weeks and
    ``monthly`` months that have a backup. Dates come from the manifest.
    """
    groups: dict[tuple[str, str], list[BackupFile]] = {}
    for item in items:
        if item.manifest is None or item.created_at is None:
            continue
        key = (item.manifest.get("engine", ""), item.manifest.get("database", ""))
        groups.setdefault(key, []).append(item)
    kept: list[BackupFile] = []
    deleted: list[BackupFile] = []
    for members in groups.values():
        members.sort(key=lambda i: i.created_at, reverse=True)
        keep_ids = {id(i) for i in members[: policy.keep]}
        for position, limit in ((0, policy.daily), (1, policy.weekly), (2, policy.monthly)):
            seen: list[Any] = []
            for item in members:
                bucket = _buckets(item.created_at)[position]
                if bucket in seen:
                    continue
                if len(seen) >= limit:
                    break
                seen.append(bucket)
                keep_ids.add(id(item))
        for item in members:
            (kept if id(item) in keep_ids else deleted).append(item)
    return kept, deleted


def delete_backup(item: BackupFile) -> None:
    item.path.unlink(missing_ok=True)
    manifest_path(item.path).unlink(missing_ok=True)
