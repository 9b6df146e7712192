"""The restore drill (``dbcheck --restore-drill``): prove, on a schedule,
that the newest backup and the replica can be restored.

Each copy is restored into a temporary folder next to the live database
(where the space is), checked with the full ``integrity_check`` and its row
counts compared with the live database's; the live database is only read.
Findings go into a health ``Report``: exit 0 when every copy restored and
checked, 1 for a warning (no backup yet, a replica behind the live data),
2 for a copy that cannot be restored or fails its check.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from dbtools import replication
from dbtools.backup import BackupError, list_backups, verify
from dbtools.backup.base import decompress_to
from dbtools.backup.sqlite import SQLiteConnector, check_file, file_contents
from dbtools.engines import EngineError, SQLiteEngine, engine_for
from dbtools.health import INFO, OK, PROBLEM, WARNING, Report


def _differences(live: dict[str, int], restored: dict[str, int]) -> list[str]:
    return [
        f"{table} {restored.get(table, 'missing')} (live {live.get(table, 'missing')})"
        for table in sorted(set(live) | set(restored))
        if live.get(table) != restored.get(table)
    ]


def restore_drill(alias: str = "default") -> Report:
    try:
        engine = engine_for(alias)
    except EngineError as exc:
        report = Report(alias, "unknown")
        report.add(PROBLEM, "drill", str(exc))
        return report
    report = Report(alias, engine.vendor)
    if not isinstance(engine, SQLiteEngine):
        report.add(INFO, "drill", f"the restore drill restores SQLite copies; {engine.label} has its own tools")
        return report
    try:
        live = engine.require_path("drill")
        live_counts, _ = file_contents(engine, live)
    except (EngineError, BackupError) as exc:
        report.add(PROBLEM, "drill", f"the live database cannot be read: {exc}")
        return report
    staging = Path(tempfile.mkdtemp(prefix=f".{live.name}.drill-", dir=live.parent))
    try:
        _drill_backup(report, engine, alias, live_counts, staging)
        replica = replication.configured()
        if replica is not None and alias == "default":
            _drill_replica(report, engine, replica, live, live_counts, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return report


def _drill_backup(report: Report, engine: SQLiteEngine, alias: str, live: dict[str, int], staging: Path) -> None:
    ours = [
        item
        for item in list_backups()
        if item.manifest and item.manifest.get("engine") == "sqlite" and item.manifest.get("alias") == alias
    ]
    if not ours:
        report.add(WARNING, "drill.backup", "no backup of this database to restore: run dbbackup")
        return
    newest = ours[0]
    started = time.monotonic()
    try:
        manifest = verify(newest.path)
        staged = staging / f"backup{SQLiteConnector.suffix}"
        decompress_to(newest.path, manifest.get("compression", "none"), staged)
        check_file(staged, "full")
        counts, _ = file_contents(engine, staged)
    except BackupError as exc:
        report.add(PROBLEM, "drill.backup", f"{newest.name} cannot be restored: {exc}", backup=newest.name)
        return
    seconds = time.monotonic() - started
    if counts != (manifest.get("row_counts") or {}):
        diff = _differences(manifest.get("row_counts") or {}, counts)
        report.add(PROBLEM, "drill.backup", f"{newest.name} restored rows that differ from its manifest: {diff[:5]}")
        return
    changed = _differences(live, counts)
    since = f"; since then: {', '.join(changed[:5])}" if changed else "; the live database holds the same rows"
    report.add(
        OK,
        "drill.backup",
        f"{newest.name} (taken {manifest.get('created_at')}) restored and passed integrity_check in "
        f"{seconds:.2f} s, {sum(counts.values()):,} rows{since}",
        seconds=round(seconds, 3),
        backup=newest.name,
    )


def _drill_replica(
    report: Report,
    engine: SQLiteEngine,
    replica: replication.Replica,
    live: Path,
    live_counts: dict[str, int],
    staging: Path,
) -> None:
    started = time.monotonic()
    staged = staging / live.name
    try:
        replication.restore_to(replica, live, staged)
        check_file(staged, "full")
        counts, _ = file_contents(engine, staged)
    except (replication.ReplicationError, BackupError) as exc:
        report.add(PROBLEM, "drill.replica", f"{replica.url} cannot be restored: {exc}", url=replica.url)
        return
    seconds = time.monotonic() - started
    data = {"seconds": round(seconds, 3), "url": replica.url}
    done = f"{replica.url} restored and passed integrity_check in {seconds:.2f} s, {sum(counts.values()):,} rows"
    if changed := _differences(live_counts, counts):
        report.add(
            WARNING,
            "drill.replica",
            f"{done}, but the row counts differ from the live database: {', '.join(changed[:5])} "
            "(writes not yet replicated, or Litestream is not running)",
            **data,
        )
    else:
        report.add(OK, "drill.replica", f"{done}, the same row counts as the live database", **data)
