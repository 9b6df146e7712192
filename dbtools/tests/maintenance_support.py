"""Helpers for the dbcheck and dbvacuum tests: real SQLite files made by the
project's own migrate and seed_demo, copies of them, extra database aliases
and manage.py in a subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from dbtools.sqlite import Database
from project.db import database_from_url

_TEMPLATES: dict[str, Path] = {}
POSTS = 8000


def manage(*args: str, database_url: str, prefix: tuple[str, ...] = (), timeout: float = 120):
    """Run ``manage.py`` in a new process, as cron would (``prefix``: a
    command that runs it, such as ``unshare``)."""
    env = {
        **os.environ,
        "SECRET_KEY": "tests-only-secret-key-not-for-production",
        "DATABASE_URL": database_url,
        "ENV_FILE": os.devnull,
    }
    env.pop("DEBUG", None)
    return subprocess.run(
        [*prefix, sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def seeded_template(tmp_path_factory) -> Path:
    """A migrated SQLite file with demo users and posts, built once per run."""
    if "sqlite" not in _TEMPLATES:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        url = f"sqlite:///{path}"
        for args in (("migrate", "--noinput", "-v0"), ("seed_demo", "--users", "40", "--posts", str(POSTS), "-v0")):
            done = manage(*args, database_url=url)
            assert done.returncode == 0, done.stderr
        _TEMPLATES["sqlite"] = path
    return _TEMPLATES["sqlite"]


def copy_database(source: Path, target: Path) -> Path:
    """Copy with SQLite's backup API (consistent even if the source were in use)."""
    src = Database.connect(source)
    dst = Database.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    return target


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def rows_digest(path: Path) -> tuple[int, str]:
    """Every post and user, column by column, in a stable order."""
    conn = Database.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        count = 0
        for table in ("posts_post", "users_user"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY id"):  # noqa: S608 (fixed names)
                digest.update(repr(row).encode())
                count += 1
        return count, digest.hexdigest()
    finally:
        conn.close()


@contextmanager
def database_alias(alias: str, url: str, **options):
    """Make ``alias`` a configured database for the duration, configured from
    a URL exactly like the project's default database."""
    config = database_from_url(url, base_dir=settings.BASE_DIR, conn_max_age=0)
    config["OPTIONS"].update(options)
    # Fill in Django's defaults (AUTOCOMMIT, TIME_ZONE, TEST ...) as for DATABASES.
    config = connections.configure_settings({DEFAULT_DB_ALIAS: config})[DEFAULT_DB_ALIAS]
    connections.settings[alias] = config
    try:
        yield alias
    finally:
        if hasattr(connections._connections, alias):
            connections[alias].close()
            del connections[alias]
        del connections.settings[alias]
