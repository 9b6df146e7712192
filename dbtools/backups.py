"""Backup files, their manifests, verification, restore and retention.

A backup is one file in the backup folder plus a manifest beside it named
``<file>.json``: engine, database, creation time, size, sha256, row counts
per table, latest migration per app, versions. Everything here reads the
manifest, never the file name, so renamed files or any naming scheme work.

Files are written as hidden ``.partial`` temporaries in the destination
folder, fsynced and renamed into place: a crash leaves either no backup or a
whole one, never a half-written file under a backup's name.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

import django
from django.conf import settings
from django.utils import timezone

from dbtools.connectors import BackupError, Connector, connector_for, fsync_dir, sha256_file
from dbtools.sqlite import Database

MANIFEST_SUFFIX = ".json"
MANIFEST_FORMAT = 1
Report = Callable[[str], None]


def _quiet(_: str) -> None:
    return None


@dataclass
class BackupFile:
    path: Path
    manifest: dict[str, Any] | None
    problem: str = ""  # why the manifest could not be read

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def created_at(self) -> datetime | None:
        if not self.manifest:
            return None
        try:
            return datetime.fromisoformat(self.manifest["created_at"])
        except (KeyError, TypeError, ValueError):
            return None


def manifest_path(path: Path) -> Path:
    return path.with_name(path.name + MANIFEST_SUFFIX)


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def _storage_error(exc: OSError, folder: Path) -> BackupError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return BackupError(f"No space left for the backup in {folder} ({exc.strerror}); the partial file was removed.")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return BackupError(f"The backup folder {folder} is not writable ({exc.strerror}).")
    return BackupError(f"Writing the backup in {folder} failed: {exc}.")


def ensure_folder(folder: Path) -> Path:
    """Create the folder owner-only (0700); check it takes new files."""
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise _storage_error(exc, folder) from exc
    return folder


def _write_json_atomically(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _default_name(connector: Connector, created: datetime, reason: str, compressed: bool) -> str:
    stamp = created.strftime("%Y%m%d-%H%M%S-%f")
    label = "" if reason == "manual" else f"-{reason}"
    gz = ".gz" if compressed and connector.engine != "postgresql" else ""
    return f"{connector.alias}{label}-{stamp}{connector.suffix}{gz}"


def create_backup(
    *,
    alias: str = "default",
    output: Path | None = None,
    compress: bool = True,
    reason: str = "manual",
    report: Report = _quiet,
) -> BackupFile:
    """Take a verified backup of database ``alias``; return the stored file."""
    connector = connector_for(alias)
    created = timezone.now().astimezone(dt_timezone.utc)
    if output is not None and not output.is_dir():
        folder, final_name = output.parent, output.name
        if output.exists():
            raise BackupError(f"{output} already exists; choose another name.")
    else:
        folder = output or backup_dir()
        final_name = _default_name(connector, created, reason, compress)
    ensure_folder(folder)
    report(f"Backing up {connector.engine} database {connector.database_name!r} ...")
    connector.report = report
    try:
        dump = connector.dump(folder, compress=compress)
    except OSError as exc:
        raise _storage_error(exc, folder) from exc
    final = folder / final_name
    try:
        size = dump.path.stat().st_size
        manifest = {
            "format": MANIFEST_FORMAT,
            "file": final_name,
            "engine": connector.engine,
            "alias": alias,
            "database": connector.database_name,
            "created_at": created.isoformat(),
            "reason": reason,
            "size": size,
            "sha256": dump.sha256,
            "compression": dump.compression,
            "row_counts": dump.row_counts,
            "migrations": dump.migrations,
            "django_version": django.get_version(),
            # The library that made a SQLite backup (read from its own
            # connection); for the other engines, this process's.
            "sqlite_version": dump.server_version if connector.engine == "sqlite" else Database.sqlite_version,
            "server_version": dump.server_version,
            "notes": dump.notes,
        }
        # Link, not rename: link() refuses to replace an existing file, so two
        # backups started in the same microsecond cannot overwrite each other.
        os.link(dump.path, final)
        dump.path.unlink()
        _write_json_atomically(manifest_path(final), manifest)
        fsync_dir(folder)
    except OSError as exc:
        dump.path.unlink(missing_ok=True)
        if final.exists() and not manifest_path(final).exists():
            final.unlink()
        raise _storage_error(exc, folder) from exc
    report(f"Wrote {final} ({size:,} bytes).")
    return BackupFile(final, manifest)


# --- reading and checking backups -------------------------------------------


def read_backup(path: Path) -> BackupFile:
    mpath = manifest_path(path)
    if not mpath.exists():
        return BackupFile(path, None, "no manifest")
    try:
        data = json.loads(mpath.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or "sha256" not in data or "engine" not in data:
            raise ValueError("required fields are missing")
    except (OSError, ValueError) as exc:
        return BackupFile(path, None, f"unreadable manifest: {exc}")
    return BackupFile(path, data)


def list_backups(folder: Path | None = None) -> list[BackupFile]:
    """Every backup file in the folder, newest first (files without a readable
    manifest last, by modification time)."""
    folder = folder or backup_dir()
    if not folder.is_dir():
        return []
    found = [
        read_backup(path)
        for path in folder.iterdir()
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(MANIFEST_SUFFIX)
    ]

    def order(item: BackupFile) -> tuple[int, float]:
        created = item.created_at
        if created is not None:
            return (1, created.timestamp())
        return (0, item.path.stat().st_mtime)

    return sorted(found, key=order, reverse=True)


def checksum_state(item: BackupFile) -> str:
    if item.manifest is None:
        return item.problem
    try:
        size = item.path.stat().st_size
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    if size != item.manifest.get("size"):
        return "size mismatch"
    if sha256_file(item.path) != item.manifest["sha256"]:
        return "checksum mismatch"
    return "ok"


def resolve(name: str, folder: Path | None = None) -> Path:
    """``latest``, a file name in the backup folder, or a path."""
    folder = folder or backup_dir()
    if name == "latest":
        usable = [item for item in list_backups(folder) if item.manifest is not None]
        if not usable:
            raise BackupError(f"There are no backups in {folder}.")
        return usable[0].path
    candidate = Path(name)
    for path in (candidate, folder / name):
        if path.is_file():
            return path
    raise BackupError(f"No backup named {name!r} (looked in {folder} and at {candidate.resolve()}).")


def verify(path: Path) -> dict[str, Any]:
    """The manifest of ``path`` once size and sha256 match it."""
    item = read_backup(path)
    if item.manifest is None:
        raise BackupError(f"{path.name}: {item.problem} ({manifest_path(path).name}); refusing an unverifiable file.")
    state = checksum_state(item)
    if state != "ok":
        raise BackupError(f"{path.name}: {state} against its manifest; the file is damaged or was changed.")
    return item.manifest


# --- restore -----------------------------------------------------------------


@dataclass
class RestoreResult:
    restored: Path
    safety_backup: Path | None
    row_counts: dict[str, int]
    warnings: list[str]


def check_restorable(path: Path, alias: str) -> dict[str, Any]:
    """Every check that needs no change to the live database."""
    manifest = verify(path)
    connector = connector_for(alias)
    if manifest["engine"] != connector.engine:
        raise BackupError(
            f"{path.name} is a {manifest['engine']} backup; database {alias!r} is {connector.engine}. "
            "A backup can only be restored into a database of the engine it was taken from."
        )
    connector.check_dump(path, manifest.get("compression", "none"))
    return manifest


def restore_backup(*, path: Path, alias: str = "default", report: Report = _quiet) -> RestoreResult:
    manifest = check_restorable(path, alias)
    connector = connector_for(alias)
    safety: Path | None = None
    if _has_live_data(connector):
        report("Taking a safety backup of the current database ...")
        safety = create_backup(alias=alias, reason="pre-restore", report=report).path
    report(f"Restoring {path.name} ...")
    folder = ensure_folder(backup_dir())
    connector.report = report
    counts = connector.restore(path, manifest.get("compression", "none"), folder)
    warnings = []
    expected = manifest.get("row_counts", {})
    differing = sorted(t for t in set(expected) | set(counts) if expected.get(t) != counts.get(t))
    if differing:
        message = "Row counts differ from the manifest for: " + ", ".join(
            f"{t} ({counts.get(t)} now, {expected.get(t)} in the manifest)" for t in differing[:10]
        )
        if connector.engine == "mysql":
            # MariaDB's counts come from a snapshot next to (not inside) the dump's.
            warnings.append(message)
        else:
            raise BackupError(message + (f". The previous database is in {safety}." if safety else ""))
    return RestoreResult(path, safety, counts, warnings)


def _has_live_data(connector: Connector) -> bool:
    if connector.engine == "sqlite" and not Path(connector.database_name).exists():
        return False
    try:
        return connector.holds_data()
    except Exception as exc:  # a damaged live database: still worth restoring over
        raise BackupError(f"Could not read the current database to back it up first ({exc}); restore refused.") from exc


# --- retention ---------------------------------------------------------------


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
        members.sort(key=lambda i: i.created_at, reverse=True)  # type: ignore[arg-type, return-value]
        keep_ids = {id(i) for i in members[: policy.keep]}
        for position, limit in ((0, policy.daily), (1, policy.weekly), (2, policy.monthly)):
            seen: list[Any] = []
            for item in members:
                bucket = _buckets(item.created_at)[position]  # type: ignore[arg-type]
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
