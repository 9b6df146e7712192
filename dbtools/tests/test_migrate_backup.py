"""``manage.py migrate`` backs up a database holding data before applying
migrations, once per run, says where, and can be switched off."""

from __future__ import annotations

from dbtools.tests.backup_support import LiveDatabase, posts_migrations, sqlite_database


def test_migrate_on_an_empty_database_takes_no_backup(tmp_path):
    live = sqlite_database(tmp_path, users=0)  # migrated from nothing
    assert live.backups() == []


def test_migrate_backs_up_first_once_per_run_and_says_where(tmp_path):
    live = sqlite_database(tmp_path)
    before = live.state()

    result = live.ok("migrate", "posts", "zero", "--noinput")
    (backup,) = live.backups()
    assert "pre-migrate" in backup.name
    assert f"before migrating: {backup}" in result.stdout
    manifest = live.manifest(backup)
    assert manifest["reason"] == "pre-migrate"
    assert manifest["row_counts"]["posts_post"] == 200
    assert manifest["migrations"]["posts"] == posts_migrations()[-1]
    assert live.query("SELECT name FROM sqlite_master WHERE name = 'posts_post'") == []

    # Applying posts again is another run with work to do: one more backup.
    live.ok("migrate", "--noinput")
    assert len(live.backups()) == 2
    # Nothing to apply: no backup.
    result = live.ok("migrate", "--noinput")
    assert len(live.backups()) == 2
    assert "No migrations to apply" in result.stdout

    # The first backup holds the posts the migration dropped.
    live.ok("dbrestore", "--noinput", "--input", backup.name)
    assert live.state() == before


def test_the_setting_turns_it_off(tmp_path):
    live = sqlite_database(tmp_path)
    live.extra_env["BACKUP_BEFORE_MIGRATE"] = "false"
    result = live.ok("migrate", "posts", "zero", "--noinput")
    assert live.backups() == []
    assert "before migrating" not in result.stdout


def test_a_failed_backup_stops_the_migration_before_it_starts(tmp_path):
    live = sqlite_database(tmp_path)
    before = live.state()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the backup folder should be")
    broken = LiveDatabase("sqlite", live.url, blocker / "backups", sqlite_path=live.sqlite_path)
    result = broken.manage("migrate", "posts", "zero", "--noinput")
    assert result.returncode != 0
    assert "Migration stopped before it started" in result.stderr
    assert "BACKUP_BEFORE_MIGRATE=false" in result.stderr
    assert live.state() == before
    assert live.query("SELECT COUNT(*) FROM django_migrations WHERE app = 'posts'") == [(len(posts_migrations()),)]
