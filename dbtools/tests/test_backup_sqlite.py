"""SQLite-specific guarantees, on real files and real processes: a backup
taken under continuous writes, a restore over a live -wal, a restore killed
midway. These run whatever DATABASE_URL says: they make their own files."""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from dbtools.sqlite import Database
from dbtools.tests.backup_support import MANAGE, LiveDatabase, base_env, manage, sqlite_database
from dbtools.tests.sqlite_pages import change_a_stored_value, corrupt_a_page

WRITER = r"""
import os, sys
from dbtools.sqlite import Database
conn = Database.connect(sys.argv[1], timeout=20, isolation_level=None)
conn.execute("CREATE TABLE IF NOT EXISTS ledger_a (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
conn.execute("CREATE TABLE IF NOT EXISTS ledger_b (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
print("ready", flush=True)
n = errors = 0
while True:
    try:
        # Two tables written in one transaction: a consistent copy has as
        # many rows in each.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ledger_a (n) VALUES (?)", (n,))
        conn.execute("INSERT INTO ledger_b (n) VALUES (?)", (n,))
        conn.execute("COMMIT")
        n += 1
    except Database.Error as exc:
        errors += 1
        print("error", exc, file=sys.stderr, flush=True)
    if n % 50 == 0 and os.path.exists(sys.argv[2]):
        break
print(n, errors, flush=True)
"""


def test_backup_under_continuous_writes_is_consistent_and_restorable(tmp_path):
    live = sqlite_database(tmp_path, users=50, posts=3000)
    stop = tmp_path / "stop"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(live.sqlite_path), str(stop)],
        cwd=settings.BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    result = live.ok("dbbackup")
    time.sleep(0.3)
    stop.touch()
    out, err = writer.communicate(timeout=60)
    written, errors = (int(x) for x in out.split())
    assert errors == 0, err
    (path,) = live.backups()
    counts = live.manifest(path)["row_counts"]
    # Writes went on before, during and after the backup; the copy holds a
    # moment between the first and the last write, with both tables equal.
    assert 0 < counts["ledger_a"] < written
    assert counts["ledger_a"] == counts["ledger_b"]
    assert "Backup written" in result.stdout

    # Restored into a fresh database, it passes integrity_check and holds
    # exactly the rows the manifest promised.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    other = sqlite_database(fresh, users=0)
    other.backup_dir = live.backup_dir
    other.ok("dbrestore", "--noinput", "--input", str(path))
    assert other.query("PRAGMA integrity_check") == [("ok",)]
    assert other.query("SELECT COUNT(*) FROM ledger_a") == [(counts["ledger_a"],)]
    assert other.query("SELECT COUNT(*) FROM ledger_b") == [(counts["ledger_a"],)]
    assert other.query("SELECT COUNT(*) FROM posts_post") == [(3000,)]


def test_restore_over_a_live_wal_gives_exactly_the_backup_rows(tmp_path):
    """django-dbbackup's bug: the file is overwritten while a -wal full of
    newer committed pages sits beside it, and SQLite replays them onto the
    restored file. Here a connection keeps a -wal of committed but never
    checkpointed changes open during the restore."""
    live = sqlite_database(tmp_path)
    backed_up = live.state()
    live.ok("dbbackup")
    holder = Database.connect(live.sqlite_path, isolation_level=None)
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("DELETE FROM posts_post WHERE id > 50")
    holder.execute("UPDATE users_user SET username = username || '-renamed'")
    wal = live.sqlite_path.with_name(live.sqlite_path.name + "-wal")
    assert wal.stat().st_size > 0
    assert live.state() != backed_up

    live.ok("dbrestore", "--noinput")

    assert live.state() == backed_up
    assert live.query("PRAGMA integrity_check") == [("ok",)]
    # The connection that was open all along sees the restored data too,
    # instead of going on writing into a file swapped out from under it.
    assert holder.execute("SELECT COUNT(*) FROM posts_post").fetchone() == (200,)
    holder.execute(
        "INSERT INTO posts_post (author_id, title, body, created_at, updated_at) "
        "VALUES (1, 'after', 'b', '2024-01-01', '2024-01-01')"
    )
    holder.close()
    assert live.query("SELECT COUNT(*) FROM posts_post") == [(201,)]
    assert live.query("PRAGMA integrity_check") == [("ok",)]


def test_a_restore_killed_midway_leaves_the_old_or_the_new_database_whole(tmp_path):
    live = sqlite_database(tmp_path, users=200, posts=40000)
    live.ok("dbbackup")
    live.execute("DELETE FROM posts_post WHERE id > 100")
    old_rows = live.query("SELECT COUNT(*) FROM posts_post")[0][0]
    wal = live.sqlite_path.with_name(live.sqlite_path.name + "-wal")

    proc = subprocess.Popen(
        [sys.executable, MANAGE, "dbrestore", "--noinput"],
        env=live.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    killed_midway = False
    deadline = time.monotonic() + 120
    # Kill it while it writes the restored pages into the live database's log.
    while time.monotonic() < deadline and proc.poll() is None:
        if wal.exists() and wal.stat().st_size > 2 * 1024 * 1024:
            proc.send_signal(signal.SIGKILL)
            killed_midway = True
            break
        time.sleep(0.002)
    proc.wait()
    assert killed_midway, "the restore finished before it could be killed; make the database bigger"

    assert live.query("PRAGMA integrity_check") == [("ok",)]
    assert live.query("SELECT COUNT(*) FROM posts_post") in ([(old_rows,)], [(40000,)])
    # And the next restore completes.
    live.ok(
        "dbrestore", "--noinput", "--input", sorted(p.name for p in live.backups() if "pre-restore" not in p.name)[0]
    )
    assert live.query("SELECT COUNT(*) FROM posts_post") == [(40000,)]


def test_an_in_memory_database_is_refused_with_a_clear_error(tmp_path):
    result = manage(base_env(DATABASE_URL="sqlite://:memory:", BACKUP_DIR=str(tmp_path)), "dbbackup")
    assert result.returncode != 0
    assert "in-memory SQLite database" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_restore_onto_a_new_machine_creates_the_database(tmp_path):
    live = sqlite_database(tmp_path)
    expected = live.state()
    live.ok("dbbackup")
    (backup,) = live.backups()
    target = tmp_path / "new-machine" / "db.sqlite3"
    fresh = LiveDatabase("sqlite", f"sqlite:///{target}", live.backup_dir, sqlite_path=target)
    fresh.ok("dbrestore", "--noinput", "--input", backup.name)
    assert fresh.state() == expected
    assert fresh.query("PRAGMA integrity_check") == [("ok",)]
    # Nothing to save first: no safety backup.
    assert fresh.backups() == [backup]


# --- damage the checksum cannot see ---------------------------------------------


def checkpoint(path) -> None:
    """Fold the -wal into the file, so that its pages can be edited in place."""
    conn = Database.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


def repack(backup: Path, damage) -> None:
    """Decompress a gzip backup, damage the SQLite file inside, compress it
    again and make the manifest's size and sha256 match: a valid gzip of a
    file that opens as SQLite, whose checksum is right."""
    inner = backup.with_name("inner.sqlite3")
    inner.write_bytes(gzip.decompress(backup.read_bytes()))
    damage(inner)
    backup.write_bytes(gzip.compress(inner.read_bytes()))
    inner.unlink()
    manifest_file = backup.with_name(backup.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    data = backup.read_bytes()
    manifest.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_file.write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("damage", "verify", "pragma"),
    [
        (corrupt_a_page, "quick", "quick_check"),  # a page of garbage: the quick check sees it
        (change_a_stored_value, "full", "integrity_check"),  # a row that disagrees with its index
    ],
    ids=["damaged-page", "row-differs-from-index"],
)
def test_a_backup_with_a_matching_checksum_but_damage_inside_is_refused(tmp_path, damage, verify, pragma):
    live = sqlite_database(tmp_path)
    live.ok("dbbackup")
    (backup,) = live.backups()
    live.execute("DELETE FROM posts_post WHERE id % 4 = 0")
    current = live.state()
    repack(backup, damage)
    assert live.ok("listbackups", "--json").stdout.count('"checksum": "ok"') == 1

    result = live.manage("dbrestore", "--noinput", "--verify", verify, "--input", backup.name)
    assert result.returncode != 0
    assert f"PRAGMA {pragma} failed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert live.state() == current
    # Refused before anything else happened: no safety backup either.
    assert live.backups() == [backup]


def test_the_default_restore_check_is_the_full_integrity_check(tmp_path):
    live = sqlite_database(tmp_path)
    live.ok("dbbackup")
    (backup,) = live.backups()
    live.execute("DELETE FROM posts_post WHERE id % 4 = 0")
    current = live.state()
    repack(backup, change_a_stored_value)
    result = live.manage("dbrestore", "--noinput", "--input", backup.name)
    assert result.returncode != 0
    assert "PRAGMA integrity_check failed" in result.stderr, result.stderr
    assert live.state() == current


@pytest.mark.parametrize(
    ("args", "pragma"),
    [(["--verify", "quick"], "quick_check"), (["--verify", "full", "--no-compress"], "integrity_check")],
    ids=["quick-compressed", "full-uncompressed"],
)
def test_a_live_database_with_a_damaged_page_is_not_backed_up(tmp_path, args, pragma):
    live = sqlite_database(tmp_path)
    checkpoint(live.sqlite_path)
    corrupt_a_page(live.sqlite_path)
    result = live.manage("dbbackup", *args)
    assert result.returncode != 0
    assert f"PRAGMA {pragma} failed" in result.stderr, result.stderr
    assert live.backups() == []
    assert [p.name for p in live.backup_dir.iterdir()] == []


def test_a_backup_records_the_check_it_passed(tmp_path):
    live = sqlite_database(tmp_path, users=2, posts=5)
    live.ok("dbbackup")
    live.ok("dbbackup", "--verify", "full")
    verified = sorted(live.manifest(path)["verified"] for path in live.backups())
    assert verified == ["integrity_check", "quick_check"]
