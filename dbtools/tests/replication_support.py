"""Shared pieces of the replication tests: a real Litestream started the way
``make serve`` starts it (``python -m dbtools.replication serve -- CMD``),
real SQLite files, the commands as real ``manage.py`` processes."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from dbtools import replication, sqlite
from dbtools.tests.backup_support import base_env, manage
from dbtools.tests.maintenance_support import copy_database, seeded_template

# Short intervals keep the tests quick; the defaults (1s) are for production.
SYNC = "200ms"
SYNC_SECONDS = replication.seconds(SYNC)

# The replication tests open their own SQLite files and do not depend on
# DATABASE_URL: they run once, in the SQLite leg of the test matrix.
sqlite_files = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="Litestream replicates SQLite files; they run in the SQLite leg"
)


def replica(url: str, **extra: str) -> replication.Replica:
    return replication.Replica(
        url=url, sync_interval=SYNC, snapshot_interval="24h", retention="72h", max_lag_seconds=30, **extra
    )


def site_env(db: Path, replica_url: str, **extra: str) -> dict[str, str]:
    """The environment of a site with its database at ``db`` replicated to ``replica_url``."""
    return base_env(
        DATABASE_URL=f"sqlite:///{db}",
        REPLICA_URL=replica_url,
        REPLICA_SYNC_INTERVAL=SYNC,
        BACKUP_DIR=str(db.parent / "backups"),
        ENV_FILE=str(db.parent / "no.env"),
        # The launcher's generated configuration goes here: the tests stop it
        # with SIGKILL, which leaves the file behind (as a kill -9 would).
        TMPDIR=str(db.parent),
        **extra,
    )


def new_site(tmp_path_factory, folder: Path) -> Path:
    """A migrated database with demo users and posts, and a ``marks`` table the tests write."""
    folder.mkdir(parents=True, exist_ok=True)
    db = copy_database(seeded_template(tmp_path_factory), folder / "db.sqlite3")
    conn = sqlite.connect(db)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE marks (name TEXT PRIMARY KEY, written_at REAL NOT NULL)")
    finally:
        conn.close()
    return db


def add_marks(db: Path, *names: str) -> None:
    conn = sqlite.connect(db)
    try:
        for name in names:
            conn.execute("INSERT INTO marks (name, written_at) VALUES (?, ?)", (name, time.time()))
    finally:
        conn.close()


def marks(db: Path) -> set[str]:
    conn = sqlite.connect(db, mode="ro")
    try:
        return {row[0] for row in conn.execute("SELECT name FROM marks")}
    finally:
        conn.close()


def restored_marks(target: replication.Replica, db: Path, at: datetime | None = None) -> set[str]:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "restored.sqlite3"
        replication.restore_to(target, db, out, at=at)
        return marks(out)


def wait_replicated(target: replication.Replica, db: Path, *names: str, timeout: float = 30) -> None:
    """Until the replica's newest state holds ``names``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if set(names) <= restored_marks(target, db):
                return
        except replication.ReplicationError:
            pass  # no snapshot yet
        if time.monotonic() > deadline:
            raise AssertionError(f"the replica did not get {names} within {timeout} s")
        time.sleep(SYNC_SECONDS)


def moment_between() -> datetime:
    """A time with more than two sync intervals on either side: what was
    written before it is in an older change set than anything written after."""
    time.sleep(3 * SYNC_SECONDS)
    at = datetime.now(timezone.utc)
    time.sleep(3 * SYNC_SECONDS)
    return at


@contextlib.contextmanager
def litestream(env: dict[str, str]) -> Iterator[subprocess.Popen]:
    """Litestream replicating the site's database, as ``make serve`` runs it
    (here around a ``sleep`` instead of gunicorn), killed afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "dbtools.replication", "serve", "--", "sleep", "600"],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


__all__ = ["manage"]
