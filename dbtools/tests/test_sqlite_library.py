"""One SQLite library in every process, with the WAL-reset fix where the
pinned pysqlite3 has a wheel; Python's own library, and the W001 warning,
where it is not installed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.utils import load_backend

from dbtools import sqlite
from dbtools.tests.backup_support import base_env, sqlite_database
from dbtools.tests.library_support import FIXED_SQLITE_EXPECTED, without_pysqlite3
from project.db import database_from_url


def django_sqlite_version(path: Path) -> str:
    """The version a Django connection configured from DATABASE_URL sees."""
    config = database_from_url(f"sqlite:///{path}", base_dir=settings.BASE_DIR, conn_max_age=0)
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(
        {**config, "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "CONN_HEALTH_CHECKS": False},
        "library-probe",
    )
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SELECT sqlite_version()")
            return cursor.fetchone()[0]
    finally:
        wrapper.close()


def test_django_and_the_backup_code_run_the_same_sqlite_with_the_wal_reset_fix(tmp_path, django_db_blocker):
    live = sqlite_database(tmp_path, users=2, posts=5)
    live.ok("dbbackup")
    (backup,) = live.backups()
    backup_version = live.manifest(backup)["sqlite_version"]  # read by dbbackup from its own connection
    with django_db_blocker.unblock():
        django_version = django_sqlite_version(tmp_path / "probe.sqlite3")
    assert django_version == backup_version == sqlite.sqlite_version
    if connections["default"].vendor == "sqlite":
        assert connections["default"].Database is sqlite.Database
    if FIXED_SQLITE_EXPECTED:
        assert sqlite.LIBRARY.startswith("pysqlite3"), sqlite.LIBRARY
        assert tuple(int(part) for part in django_version.split(".")) >= sqlite.WAL_RESET_FIXED_IN


def test_no_module_imports_pythons_sqlite3_but_the_one_that_chooses():
    root = Path(settings.BASE_DIR)
    pattern = re.compile(r"^\s*(import sqlite3\b|from sqlite3\b)", re.MULTILINE)
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if not path.is_relative_to(root / ".venv") and pattern.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == ["dbtools/sqlite.py"]


def test_without_pysqlite3_pythons_library_is_used_and_the_project_still_runs(tmp_path):
    """A platform without a pysqlite3 wheel: Python's sqlite3, and migrate
    and dbbackup work on it (check --deploy's W001: project/tests)."""
    db = tmp_path / "db.sqlite3"
    env = base_env(**without_pysqlite3(tmp_path), DATABASE_URL=f"sqlite:///{db}", BACKUP_DIR=str(tmp_path / "b"))
    run: dict[str, Any] = {"cwd": settings.BASE_DIR, "env": env, "capture_output": True, "text": True, "timeout": 120}
    probe = subprocess.run([sys.executable, "-c", "from dbtools import sqlite; print(sqlite.LIBRARY)"], **run)
    assert probe.stdout.startswith("sqlite3 (Python's own)"), probe.stdout + probe.stderr
    for args in (["migrate", "--noinput", "-v0"], ["dbbackup", "--quiet"], ["dbcheck", "-v0"]):
        done = subprocess.run([sys.executable, "manage.py", *args], **run)
        # dbcheck warns (exit 1) when Python's library lacks the WAL-reset fix.
        allowed = {0} if args[0] != "dbcheck" or sqlite.has_wal_reset_fix(sqlite.python_sqlite_version_info) else {1}
        assert done.returncode in allowed, done.stdout + done.stderr
    (manifest,) = (tmp_path / "b").glob("*.json")
    assert f'"sqlite_version": "{sqlite.python_sqlite_version}"' in manifest.read_text()
