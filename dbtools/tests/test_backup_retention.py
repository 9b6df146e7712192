"""dbcleanup / dbbackup --clean: the retention policy keeps exactly what it
says, reads dates from the manifests (so any file names work), and never
touches files it cannot date."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dbtools.backup import BackupFile, Policy, plan_retention
from dbtools.tests.backup_support import sqlite_database

NOW = datetime(2026, 3, 18, 12, 0, tzinfo=dt_timezone.utc)  # a Wednesday


def fake_backup(folder: Path, name: str, created: datetime, database: str = "db") -> Path:
    path = folder / name
    path.write_bytes(b"x")
    manifest = {"engine": "sqlite", "database": database, "created_at": created.isoformat(), "sha256": "", "size": 1}
    path.with_name(name + ".json").write_text(json.dumps(manifest))
    return path


@pytest.fixture
def folder(tmp_path, settings):
    settings.BACKUP_DIR = tmp_path
    settings.TIME_ZONE = "UTC"
    return tmp_path


def cleanup(*args: str) -> str:
    out = StringIO()
    call_command("dbcleanup", *args, stdout=out)
    return out.getvalue()


def remaining(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not p.name.endswith(".json")}


def test_keep_n_keeps_the_newest_by_manifest_date_whatever_the_names(folder):
    # Names that sort the opposite way to their dates, or carry no date at all.
    fake_backup(folder, "zzz-oldest.bak", NOW - timedelta(hours=3))
    fake_backup(folder, "aaa-newest.bak", NOW)
    fake_backup(folder, "backup (copy).sqlite3.gz", NOW - timedelta(hours=1))
    fake_backup(folder, "2099-12-31.sqlite3", NOW - timedelta(hours=2))
    out = cleanup("--keep", "2", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0")
    assert remaining(folder) == {"aaa-newest.bak", "backup (copy).sqlite3.gz"}
    assert not (folder / "zzz-oldest.bak.json").exists()
    assert "Deleted zzz-oldest.bak" in out
    assert "2 backup(s) kept, 2 deleted" in out


def test_daily_weekly_monthly_keep_the_newest_of_each_period(folder):
    names = {}
    # Two backups a day for 100 days.
    for day in range(100):
        for hour in (3, 15):
            created = NOW.replace(hour=hour) - timedelta(days=day)
            names[created] = fake_backup(folder, f"b-{day:03d}-{hour:02d}", created).name
    cleanup("--keep", "1", "--keep-daily", "3", "--keep-weekly", "2", "--keep-monthly", "3")
    newest = sorted(names, reverse=True)
    expected = {names[newest[0]]}  # --keep 1
    expected |= {"b-000-15", "b-001-15", "b-002-15"}  # the latest of the last 3 days
    # The latest of the last 2 ISO weeks: this week (its newest is today),
    # and last week's Sunday (2026-03-15, day 3).
    expected |= {"b-000-15", "b-003-15"}
    # The latest of the last 3 months: March (today), February 28 (day 18), January 31 (day 46).
    expected |= {"b-000-15", "b-018-15", "b-046-15"}
    assert remaining(folder) == expected


def test_dry_run_deletes_nothing(folder):
    for i in range(4):
        fake_backup(folder, f"b{i}", NOW - timedelta(days=i))
    out = cleanup("--keep", "1", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0", "--dry-run")
    assert remaining(folder) == {"b0", "b1", "b2", "b3"}
    assert out.count("Would delete") == 3


def test_files_without_a_manifest_are_left_alone_and_named(folder):
    fake_backup(folder, "dated", NOW)
    fake_backup(folder, "older", NOW - timedelta(days=1))
    (folder / "copied-by-hand.sqlite3").write_bytes(b"x")
    (folder / "broken").write_bytes(b"x")
    (folder / "broken.json").write_text("{not json")
    out = cleanup("--keep", "1", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0")
    assert remaining(folder) == {"dated", "copied-by-hand.sqlite3", "broken"}
    assert "Left alone copied-by-hand.sqlite3: no manifest" in out
    assert "Left alone broken: unreadable manifest" in out


def test_each_database_keeps_its_own_count(folder):
    for i in range(3):
        fake_backup(folder, f"a{i}", NOW - timedelta(days=i), database="a")
        fake_backup(folder, f"b{i}", NOW - timedelta(days=i), database="b")
    cleanup("--keep", "1", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0")
    assert remaining(folder) == {"a0", "b0"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--keep", "0", "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0"], "keeps nothing"),
        (["--keep", "-1"], "cannot be negative"),
    ],
)
def test_a_policy_that_would_delete_everything_is_refused(folder, args, message):
    fake_backup(folder, "only", NOW)
    with pytest.raises(CommandError, match=message):
        cleanup(*args)
    assert remaining(folder) == {"only"}


def test_plan_retention_without_any_backup():
    assert plan_retention([], Policy(1, 1, 1, 1)) == ([], [])
    undated = BackupFile(Path("x"), None, "no manifest")
    assert plan_retention([undated], Policy(1, 0, 0, 0)) == ([], [])


def test_dbbackup_clean_applies_the_configured_policy(tmp_path):
    live = sqlite_database(tmp_path, users=5, posts=10)
    live.extra_env.update(BACKUP_KEEP_LAST="2", BACKUP_KEEP_DAILY="0", BACKUP_KEEP_WEEKLY="0", BACKUP_KEEP_MONTHLY="0")
    for _ in range(3):
        live.ok("dbbackup", "--quiet")
    first = live.backups()
    assert len(first) == 3
    newest_before = max(first, key=lambda p: live.manifest(p)["created_at"])
    result = live.ok("dbbackup", "--clean")
    kept = live.backups()
    assert len(kept) == 2
    (new,) = set(kept) - set(first)
    assert set(kept) == {new, newest_before}
    assert result.stdout.count("Deleted") == 2


def test_quiet_prints_nothing(tmp_path):
    live = sqlite_database(tmp_path, users=5, posts=10)
    result = live.ok("dbbackup", "--quiet")
    assert result.stdout == ""
    assert result.stderr == ""
    loud = live.ok("dbbackup")
    assert "Backing up sqlite database" in loud.stderr  # progress goes to stderr
    assert "Backup written to" in loud.stdout
