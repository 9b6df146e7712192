"""dbbackup / dbrestore / listbackups on the configured engine: a SQLite file
by default, the PostgreSQL or MariaDB test database when DATABASE_URL points
there. Every failure case checks the live rows afterwards."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import django
import pytest

from dbtools.tests.backup_support import MANAGE, LiveDatabase, engine_database, posts_migrations

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def live(tmp_path) -> LiveDatabase:
    return engine_database(tmp_path)


def change_everything(live: LiveDatabase) -> None:
    """Edits a restore has to undo: deleted, changed and new rows."""
    live.execute("DELETE FROM posts_post WHERE id % 2 = 0")
    live.execute("UPDATE posts_post SET title = 'changed after the backup' WHERE id % 3 = 0")
    # The author looked up first: on MariaDB the search index's trigger on
    # users_user writes posts_post, which the same statement may not read.
    ((author_id,),) = live.query("SELECT MIN(author_id) FROM posts_post")
    live.execute(f"UPDATE users_user SET username = 'renamed' WHERE id = {int(author_id)}")  # noqa: S608


def take_backup(live: LiveDatabase, *args: str):
    before = set(live.backups())
    result = live.ok("dbbackup", *args)
    (path,) = set(live.backups()) - before
    return path, result


@pytest.mark.parametrize("compress", [True, False], ids=["compressed", "uncompressed"])
def test_round_trip_restores_the_backup_rows_exactly(live, compress):
    original = live.state()
    assert len(original["posts"]) == 200
    path, result = take_backup(live, *([] if compress else ["--no-compress"]))
    assert str(path) in result.stdout
    change_everything(live)
    changed = live.state()
    assert changed != original

    restore = live.ok("dbrestore", "--noinput", "--input", path.name)
    assert live.state() == original

    # The data replaced by the restore is kept in a safety backup, which
    # restores to exactly the changed state.
    (safety,) = [p for p in live.backups() if "pre-restore" in p.name]
    assert str(safety) in restore.stdout
    assert live.manifest(safety)["reason"] == "pre-restore"
    live.ok("dbrestore", "--noinput", "--input", str(safety))
    assert live.state() == changed


def test_manifest_describes_the_backup(live):
    path, _ = take_backup(live)
    manifest = live.manifest(path)
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    assert manifest["size"] == len(data)
    assert manifest["file"] == path.name
    assert manifest["engine"] == {"sqlite": "sqlite", "postgresql": "postgresql", "mysql": "mysql"}[live.vendor]
    assert manifest["row_counts"]["posts_post"] == 200
    assert manifest["row_counts"]["users_user"] == 20
    assert manifest["migrations"]["posts"] == posts_migrations()[-1]
    assert manifest["migrations"]["auth"].startswith("0012")
    assert manifest["django_version"] == django.get_version()
    assert manifest["sqlite_version"]
    # Backups hold every row of the database: owner-only.
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.with_name(path.name + ".json").stat().st_mode & 0o777 == 0o600
    assert live.backup_dir.stat().st_mode & 0o777 == 0o700


def test_restore_latest_picks_the_newest_backup(live):
    take_backup(live)
    live.execute("DELETE FROM posts_post WHERE id % 5 = 0")
    newer = live.state()
    take_backup(live)
    live.execute("DELETE FROM posts_post")
    live.ok("dbrestore", "--noinput")
    assert live.state() == newer


def test_listbackups_reports_checksum_state_and_row_counts(live):
    good, _ = take_backup(live)
    bad, _ = take_backup(live, "--no-compress")
    with open(bad, "r+b") as fh:
        fh.seek(2000)
        byte = fh.read(1)
        fh.seek(2000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    listed = {row["name"]: row for row in json.loads(live.ok("listbackups", "--json").stdout)}
    assert listed[good.name]["checksum"] == "ok"
    assert listed[bad.name]["checksum"] == "checksum mismatch"
    assert listed[good.name]["row_counts"]["posts_post"] == 200
    assert listed[good.name]["engine"] == live.manifest(good)["engine"]
    table = live.ok("listbackups").stdout
    assert good.name in table
    assert "checksum mismatch" in table


# --- bad input: a clear error, a non-zero exit, the live rows untouched ------


def rewrite_manifest_to_match(path) -> None:
    """Make the manifest agree with a damaged file, so that the deeper checks
    (not only the checksum) are what must catch it."""
    manifest_file = path.with_name(path.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    data = path.read_bytes()
    manifest.update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    manifest_file.write_text(json.dumps(manifest))


def truncate(path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    rewrite_manifest_to_match(path)


def corrupt_gzip(path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    rewrite_manifest_to_match(path)


def not_a_database(path) -> None:
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(b"just some text, not a database dump\n" * 100))
    else:
        path.write_bytes(b"just some text, not a database dump\n" * 100)
    rewrite_manifest_to_match(path)


def flip_one_byte(path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def other_engine(path) -> None:
    manifest_file = path.with_name(path.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    manifest["engine"] = "postgresql" if manifest["engine"] != "postgresql" else "sqlite"
    manifest_file.write_text(json.dumps(manifest))


def no_manifest(path) -> None:
    path.with_name(path.name + ".json").unlink()


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (truncate, r"truncated|incomplete|could not read|failed|not a usable"),
        (corrupt_gzip, r"corrupt|not a valid gzip|could not read|failed|not a usable|integrity"),
        (not_a_database, r"not an SQLite database|not a PostgreSQL|not a MariaDB"),
        (flip_one_byte, r"checksum mismatch"),
        (other_engine, r"is a (postgresql|sqlite) backup"),
        (no_manifest, r"no manifest"),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_a_damaged_backup_is_refused_and_the_database_is_untouched(live, damage, message):
    path, _ = take_backup(live)
    live.execute("DELETE FROM posts_post WHERE id % 4 = 0")
    current = live.state()
    damage(path)
    result = live.manage("dbrestore", "--noinput", "--input", path.name)
    assert result.returncode != 0
    assert "CommandError" in result.stderr
    assert "Traceback" not in result.stderr
    assert re.search(message, result.stderr, re.IGNORECASE), result.stderr
    assert live.state() == current


def test_a_missing_backup_is_refused(live):
    current = live.state()
    result = live.manage("dbrestore", "--noinput", "--input", "no-such-backup.sqlite3.gz")
    assert result.returncode != 0
    assert "No backup named 'no-such-backup.sqlite3.gz'" in result.stderr
    result = live.manage("dbrestore", "--noinput")
    assert result.returncode != 0
    assert "There are no backups" in result.stderr
    assert live.state() == current


def test_restore_asks_first_and_no_changes_nothing(live):
    path, _ = take_backup(live)
    live.execute("DELETE FROM posts_post")
    result = live.manage("dbrestore", "--input", path.name, input="no\n")
    assert result.returncode != 0
    assert "Type 'yes' to continue" in result.stdout
    assert "cancelled" in result.stderr
    assert live.query("SELECT COUNT(*) FROM posts_post") == [(0,)]
    result = live.manage("dbrestore", "--input", path.name, input="yes\n")
    assert result.returncode == 0, result.stderr
    assert live.query("SELECT COUNT(*) FROM posts_post") == [(200,)]


def test_a_full_disk_fails_cleanly_and_leaves_no_partial_file(live, tmp_path):
    """The file-size limit makes every write past 64 KiB fail as on a full
    disk (EFBIG instead of ENOSPC): the command must fail, say so, and leave
    no half-written backup behind."""
    current = live.state()
    script = (
        "import resource, signal, sys, runpy\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536))\n"
        "sys.argv = ['manage.py', 'dbbackup', '--no-compress']\n"
        "runpy.run_path(%r, run_name='__main__')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script % MANAGE], env=live.env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "CommandError" in result.stderr
    assert re.search("space|full|too large|failed", result.stderr, re.IGNORECASE), result.stderr
    assert live.backups() == []
    assert [p.name for p in live.backup_dir.iterdir()] == []
    assert live.state() == current


def test_a_read_only_backup_folder_fails_cleanly(live):
    folder = live.backup_dir
    folder.mkdir(mode=0o700, exist_ok=True)
    current = live.state()
    with read_only(folder):
        result = live.manage("dbbackup")
    assert result.returncode != 0
    assert "is not writable" in result.stderr
    assert list(folder.iterdir()) == []
    assert live.state() == current


class read_only:
    """chmod is no barrier to root, so as root the folder is made immutable
    (chattr +i) instead: then nobody can create files in it."""

    def __init__(self, path) -> None:
        self.path = path

    def __enter__(self):
        if os.geteuid() == 0:
            if shutil.which("chattr") is None:
                pytest.skip("running as root without chattr: cannot make a folder read-only")
            subprocess.run(["chattr", "+i", str(self.path)], check=True)
        else:
            self.path.chmod(0o500)
        return self

    def __exit__(self, *exc) -> None:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(self.path)], check=True)
        else:
            self.path.chmod(0o700)


def test_output_names_the_file_and_never_overwrites(live, tmp_path):
    target = tmp_path / "elsewhere" / "nightly.dump"
    target.parent.mkdir()
    result = live.ok("dbbackup", "--output", str(target))
    assert target.exists()
    assert live.manifest(target)["file"] == "nightly.dump"
    assert str(target) in result.stdout
    before = target.read_bytes()
    again = live.manage("dbbackup", "--output", str(target))
    assert again.returncode != 0
    assert "already exists" in again.stderr
    assert target.read_bytes() == before
    # A folder: a generated name inside it.
    live.ok("dbbackup", "--output", str(target.parent))
    assert len([p for p in target.parent.iterdir() if not p.name.endswith(".json")]) == 2
    live.ok("dbrestore", "--noinput", "--input", str(target))


# --- a manifest that disagrees with its file ----------------------------------------


def edit_manifest(path, change) -> None:
    manifest_file = path.with_name(path.name + ".json")
    manifest = json.loads(manifest_file.read_text())
    change(manifest["row_counts"])
    manifest_file.write_text(json.dumps(manifest))


def test_a_manifest_naming_a_table_the_backup_lacks_is_refused_before_the_live_data_is_touched(live):
    path, _ = take_backup(live)
    live.execute("DELETE FROM posts_post WHERE id % 4 = 0")
    current = live.state()
    edit_manifest(path, lambda counts: counts.update(posts_archive=12))
    result = live.manage("dbrestore", "--noinput", "--input", path.name)
    assert result.returncode != 0
    assert "Row counts differ from the manifest" in result.stderr, result.stderr
    assert "posts_archive" in result.stderr
    assert "Traceback" not in result.stderr
    assert live.state() == current
    # Refused before the safety backup too: nothing was started.
    assert live.backups() == [path]


def test_a_manifest_whose_row_count_disagrees_with_the_backup(live):
    """SQLite and PostgreSQL count inside the dump's own snapshot, so a
    difference means the file is not what the manifest describes: refused,
    the live rows untouched. MariaDB's dump tool takes a snapshot of its own,
    so there a difference is reported as a warning and the restore goes on."""
    path, _ = take_backup(live)
    restored = live.state()
    live.execute("DELETE FROM posts_post WHERE id % 4 = 0")
    current = live.state()
    edit_manifest(path, lambda counts: counts.update(posts_post=counts["posts_post"] + 1))
    result = live.manage("dbrestore", "--noinput", "--input", path.name)
    if live.vendor == "mysql":
        assert result.returncode == 0, result.stderr
        assert "Row counts differ from the manifest for: posts_post (200 in the backup, 201" in result.stdout
        assert live.state() == restored
        return
    assert result.returncode != 0
    assert "Row counts differ from the manifest for: posts_post (200 in the backup, 201 in the manifest)" in (
        result.stderr
    ), result.stderr
    assert "Traceback" not in result.stderr
    assert live.state() == current
    if live.vendor == "sqlite":
        assert live.backups() == [path]  # checked on the staged copy, before the safety backup
