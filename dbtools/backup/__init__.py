"""Backups and restores, the same way on every engine.

The storage side (folder, names, manifest, atomic rename, retention) is here
and in ``manifest`` and ``retention``, and knows nothing about engines; the
engine side is one connector module per engine (``sqlite``, ``postgresql``,
``mysql``), chosen by ``dbtools.engines``.

Files are written as hidden ``.partial`` temporaries in the destination
folder, fsynced and linked into place: a crash leaves either no backup or a
whole one, never a half-written file under a backup's name.

A restore runs every check before the live database is touched: the file's
size and sha256 against its manifest, the engine, the dump's format, then on
a staged copy the integrity check (SQLite) and the tables and row counts
against the manifest. Only then is a safety backup of the live data taken
and the live data replaced, all or nothing.

Our own code rather than django-dbbackup, whose command names this follows:
since 5.0 it also copies SQLite with the online backup API, but it keeps no
manifest (size, sha256, tables, row counts) to check a file against, and a
restore does not stage and check the file before the live data is replaced.
Those checks are what this package is for.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timezone as dt_timezone
from pathlib import Path
from typing import Any

import django
from django.utils import timezone

from dbtools import sqlite
from dbtools.backup.base import VERIFY_CHOICES, BackupError, Connector, fsync_dir
from dbtools.backup.manifest import (
    FORMAT,
    BackupFile,
    backup_dir,
    checksum_state,
    ensure_folder,
    list_backups,
    manifest_path,
    read_backup,
    resolve,
    storage_error,
    verify,
    write_manifest,
)
from dbtools.backup.retention import Policy, delete_backup, plan_retention
from dbtools.engines import Engine, EngineError, engine_for

__all__ = [
    "BACKUP_VERIFY",
    "RESTORE_VERIFY",
    "VERIFY_CHOICES",
    "BackupError",
    "BackupFile",
    "Policy",
    "RestoreResult",
    "backup_dir",
    "check_restorable",
    "checksum_state",
    "create_backup",
    "delete_backup",
    "list_backups",
    "plan_retention",
    "read_backup",
    "resolve",
    "restore_backup",
    "restore_replica",
    "verify",
]

Report = Callable[[str], None]

# How deeply a SQLite copy is checked by default (measurements in
# docs/benchmarks.md, "Backups"): a backup runs quick_check, which catches
# damaged pages and records in about half the time of a fully checked backup
# on a large file; a restore, rare and about to replace the live data, runs
# the full integrity_check.
BACKUP_VERIFY = "quick"
RESTORE_VERIFY = "full"


def _quiet(_: str) -> None:
    return None


def connector_for(alias: str) -> Connector:
    try:
        return engine_for(alias).backup()
    except EngineError as exc:
        raise BackupError(str(exc)) from exc


def _default_name(connector: Connector, created: datetime, reason: str, compressed: bool) -> str:
    stamp = created.strftime("%Y%m%d-%H%M%S-%f")
    label = "" if reason == "manual" else f"-{reason}"
    gz = ".gz" if compressed and connector.gzips else ""
    return f"{connector.alias}{label}-{stamp}{connector.suffix}{gz}"


def create_backup(
    *,
    alias: str = "default",
    output: Path | None = None,
    compress: bool = True,
    reason: str = "manual",
    verify: str = BACKUP_VERIFY,
    report: Report = _quiet,
) -> BackupFile:
    """Take a verified backup of database ``alias``; return the stored file."""
    if verify not in VERIFY_CHOICES:
        raise BackupError(f"verify must be one of {', '.join(VERIFY_CHOICES)}, not {verify!r}.")
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
    report(f"Backing up {connector.name} database {connector.engine.database_name!r} ...")
    connector.report = report
    try:
        dump = connector.dump(folder, compress=compress, verify=verify)
    except OSError as exc:
        raise storage_error(exc, folder) from exc
    final = folder / final_name
    try:
        size = dump.path.stat().st_size
        manifest = {
            "format": FORMAT,
            "file": final_name,
            "engine": connector.name,
            "alias": alias,
            "database": connector.engine.database_name,
            "created_at": created.isoformat(),
            "reason": reason,
            "size": size,
            "sha256": dump.sha256,
            "compression": dump.compression,
            "row_counts": dump.row_counts,
            "migrations": dump.migrations,
            "verified": dump.verified,
            "django_version": django.get_version(),
            # The library that made a SQLite backup (read from its own
            # connection); for the other engines, this process's.
            "sqlite_version": dump.server_version if connector.name == "sqlite" else sqlite.sqlite_version,
            "server_version": dump.server_version,
            "notes": dump.notes,
        }
        # Link, not rename: link() refuses to replace an existing file, so two
        # backups started in the same microsecond cannot overwrite each other.
        os.link(dump.path, final)
        dump.path.unlink()
        write_manifest(final, manifest)
        fsync_dir(folder)
    except OSError as exc:
        dump.path.unlink(missing_ok=True)
        if final.exists() and not manifest_path(final).exists():
            final.unlink()
        raise storage_error(exc, folder) from exc
    report(f"Wrote {final} ({size:,} bytes).")
    return BackupFile(final, manifest)


# --- restore -----------------------------------------------------------------


@dataclass
class RestoreResult:
    restored: Path
    safety_backup: Path | None
    row_counts: dict[str, int]
    warnings: list[str]


def check_restorable(path: Path, alias: str) -> dict[str, Any]:
    """The checks that need neither a staged copy nor the live database."""
    manifest = verify(path)
    connector = connector_for(alias)
    if manifest["engine"] != connector.name:
        raise BackupError(
            f"{path.name} is a {manifest['engine']} backup; database {alias!r} is {connector.name}. "
            "A backup can only be restored into a database of the engine it was taken from."
        )
    connector.check_dump(path, manifest.get("compression", "none"))
    return manifest


def restore_backup(
    *, path: Path, alias: str = "default", verify: str = RESTORE_VERIFY, report: Report = _quiet
) -> RestoreResult:
    if verify not in VERIFY_CHOICES:
        raise BackupError(f"verify must be one of {', '.join(VERIFY_CHOICES)}, not {verify!r}.")
    manifest = check_restorable(path, alias)
    connector = connector_for(alias)
    connector.report = report
    folder = ensure_folder(backup_dir())
    safety: list[Path] = []
    report(f"Restoring {path.name} ...")
    restored = connector.restore(
        path,
        manifest.get("compression", "none"),
        folder,
        expected=manifest.get("row_counts") or {},
        verify=verify,
        before_replacing=_safety_backup(connector, alias, report, safety),
    )
    return RestoreResult(path, safety[0] if safety else None, restored.row_counts, restored.warnings)


def restore_replica(
    *, at: datetime | None = None, alias: str = "default", verify: str = RESTORE_VERIFY, report: Report = _quiet
) -> RestoreResult:
    """Restore the Litestream replica (its newest state, or its state at
    ``at``) by the path a backup takes: into a temporary file next to the
    live database, checked, a safety backup, then written into the live
    database. Refusals leave the live database untouched."""
    from dbtools import replication
    from dbtools.backup.sqlite import SQLiteConnector

    if verify not in VERIFY_CHOICES:
        raise BackupError(f"verify must be one of {', '.join(VERIFY_CHOICES)}, not {verify!r}.")
    replica = replication.configured()
    if replica is None:
        raise BackupError("No replica is configured: set REPLICA_URL (docs/replication.md).")
    connector = connector_for(alias)
    if not isinstance(connector, SQLiteConnector):
        raise BackupError(f"Database {alias!r} is {connector.name}; a Litestream replica holds SQLite only.")
    connector.report = report
    live = connector.live_path("restore into")
    live.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{live.name}.replica-", dir=live.parent))
    safety: list[Path] = []
    try:
        staged = staging / live.name
        report(f"Restoring {replica.url}{' at ' + at.isoformat() if at else ''} into a temporary file ...")
        try:
            replication.restore_to(replica, live, staged, at=at)
        except replication.ReplicationError as exc:
            raise BackupError(f"{exc} Nothing was changed.") from exc
        counts = connector.restore_file(
            staged, expected=None, verify=verify, before_replacing=_safety_backup(connector, alias, report, safety)
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreResult(Path(replica.url), safety[0] if safety else None, counts, [])


def _safety_backup(connector: Connector, alias: str, report: Report, taken: list[Path]) -> Callable[[], None]:
    def safety_backup() -> None:
        # Called by the connector once the staged copy passed every check.
        if _has_live_data(connector.engine):
            report("Taking a safety backup of the current database ...")
            taken.append(create_backup(alias=alias, reason="pre-restore", report=report).path)

    return safety_backup


def _has_live_data(engine: Engine) -> bool:
    if not engine.exists():
        return False  # a new machine (Django's SQLite connection would create an empty file)
    try:
        return engine.holds_data()
    except Exception as exc:  # a damaged live database: refuse rather than lose it unsaved
        raise BackupError(f"Could not read the current database to back it up first ({exc}); restore refused.") from exc
