"""Stored backups: the folder, the manifest beside each file, and checking a
file against it.

A backup is one file in the backup folder plus a manifest beside it named
``<file>.json``: engine, database, creation time, size, sha256, row counts
per table, latest migration per app, the check the copy passed, versions.
Everything here reads the manifest, never the file name, so renamed files or
any naming scheme work.
"""

from __future__ import annotations

import errno
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings

from dbtools.backup.base import BackupError, sha256_file

SUFFIX = ".json"
FORMAT = 1


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
    return path.with_name(path.name + SUFFIX)


def backup_dir() -> Path:
    return Path(settings.BACKUP_DIR)


def storage_error(exc: OSError, folder: Path) -> BackupError:
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
        raise storage_error(exc, folder) from exc
    return folder


def write_manifest(path: Path, data: dict[str, Any]) -> None:
    """The manifest of backup ``path``, written atomically (0600)."""
    target = manifest_path(path)
    temp = target.with_name(f".{target.name}.partial")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2, sort_keys=True)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


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
        if path.is_file() and not path.name.startswith(".") and not path.name.endswith(SUFFIX)
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
