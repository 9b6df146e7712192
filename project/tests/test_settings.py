import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from project.env import env_bool, env_choice, env_int, env_list


def start_django(**env):
    """Import the settings in a fresh interpreter with exactly these variables."""
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)",
        ],
        cwd=settings.BASE_DIR,
        env={**clean, "DJANGO_SETTINGS_MODULE": "project.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_missing_secret_key_with_debug_off_is_a_clear_startup_error(tmp_path):
    result = start_django(DEBUG="false", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_debug_on_may_run_with_the_development_key(tmp_path):
    result = start_django(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_a_typo_in_debug_stops_start_up(tmp_path):
    result = start_django(DEBUG="ture", SECRET_KEY="x" * 50, DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3")
    assert result.returncode != 0
    assert "DEBUG='ture' is not a boolean" in result.stderr


@pytest.mark.parametrize(("raw", "expected"), [("1", True), ("Yes", True), ("off", False), ("", False)])
def test_env_bool(monkeypatch, raw, expected):
    monkeypatch.setenv("FLAG", raw)
    assert env_bool("FLAG") is expected


def test_env_helpers_reject_bad_values(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="N='ten' is not a whole number"):
        env_int("N", 1)
    monkeypatch.setenv("N", "-1")
    with pytest.raises(ImproperlyConfigured, match="below the minimum"):
        env_int("N", 1, minimum=0)
    monkeypatch.setenv("LEVEL", "loud")
    with pytest.raises(ImproperlyConfigured, match="LEVEL='loud' must be one of"):
        env_choice("LEVEL", "INFO", ("INFO", "DEBUG"))


def test_env_list_and_defaults(monkeypatch):
    monkeypatch.delenv("HOSTS", raising=False)
    assert env_list("HOSTS", ["a"]) == ["a"]
    monkeypatch.setenv("HOSTS", "example.com, www.example.com,")
    assert env_list("HOSTS") == ["example.com", "www.example.com"]
    monkeypatch.delenv("N", raising=False)
    assert env_int("N", 5) == 5


def test_env_file_fills_gaps_but_never_overrides_the_environment(tmp_path, monkeypatch):
    from project.env import load_env_file

    env_file = tmp_path / ".env"
    env_file.write_text('# comment\nexport FROM_FILE="quoted value"\nALREADY_SET=file\n\nEMPTY=\n')
    monkeypatch.setenv("ALREADY_SET", "environment")
    monkeypatch.delenv("FROM_FILE", raising=False)
    monkeypatch.delenv("EMPTY", raising=False)
    load_env_file(env_file)
    assert os.environ["FROM_FILE"] == "quoted value"
    assert os.environ["ALREADY_SET"] == "environment"
    assert os.environ["EMPTY"] == ""
    env_file.write_text("NOT A PAIR\n")
    with pytest.raises(ImproperlyConfigured, match=":1: expected KEY=VALUE"):
        load_env_file(env_file)


def test_a_bad_throttle_rate_stops_start_up(tmp_path):
    result = start_django(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", API_THROTTLE_USER="lots")
    assert result.returncode != 0
    assert "API_THROTTLE_USER='lots' is not a rate" in result.stderr


def test_a_bad_cache_url_stops_start_up(tmp_path):
    result = start_django(DEBUG="true", DATABASE_URL=f"sqlite:///{tmp_path}/db.sqlite3", CACHE_URL="memcached://x")
    assert result.returncode != 0
    assert "CACHE_URL='memcached://x'" in result.stderr


def test_manage_py_names_a_configuration_error_instead_of_a_traceback(tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "DATABASE_URL"}}
    result = subprocess.run(
        [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"],
        cwd=settings.BASE_DIR,
        env={**clean, "DEBUG": "false", "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Configuration error: SECRET_KEY is not set.")
    assert "Traceback" not in result.stderr


def test_importing_the_settings_creates_no_folder(tmp_path):
    # The defaults put the database, the cache and the backups under VAR_DIR;
    # reading the settings (as every command and `check` does) makes none of them.
    var = tmp_path / "var"
    clean = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL", "REDIS_URL", "BACKUP_DIR"}}
    env = {**clean, "DEBUG": "true", "VAR_DIR": str(var), "ENV_FILE": str(tmp_path / "none.env")}
    env["DJANGO_SETTINGS_MODULE"] = "project.settings"

    def run(code):
        return subprocess.run(
            [sys.executable, "-c", code], cwd=settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60
        )

    imported = run("import django; django.setup(); from django.conf import settings; print(settings.CACHE_URL)")
    assert imported.returncode == 0, imported.stderr
    assert imported.stdout.strip() == f"file://{var / 'cache'}"
    assert not var.exists()
    # The folders appear where they are first used: the default database's on connect, the cache's on first write.
    used = run(
        "import django; django.setup(); from django.db import connection; from django.core.cache import cache; "
        "connection.ensure_connection(); cache.set('k', 1)"
    )
    assert used.returncode == 0, used.stderr
    assert (var / "db.sqlite3").is_file()
    assert (var / "cache").is_dir()
    assert not (var / "backups").exists()


@pytest.mark.parametrize(
    ("raw", "expected"), [("2621440", 2_621_440), ("5MB", 5_000_000), ("5 MiB", 5 * 2**20), ("64kb", 64_000)]
)
def test_env_bytes(monkeypatch, raw, expected):
    from project.env import env_bytes

    monkeypatch.setenv("SIZE", raw)
    assert env_bytes("SIZE", 1) == expected


@pytest.mark.parametrize("raw", ["5 megabytes", "MB", "-5MB", "1.5MB"])
def test_env_bytes_refuses_what_is_not_a_size(monkeypatch, raw):
    from project.env import env_bytes

    monkeypatch.setenv("SIZE", raw)
    with pytest.raises(ImproperlyConfigured, match="is not a size in bytes"):
        env_bytes("SIZE", 1)
