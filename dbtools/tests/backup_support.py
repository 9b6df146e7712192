"""Shared pieces of the backup tests: the commands run as real processes
(``manage.py``) against a real database: a SQLite file in a temporary folder,
or the PostgreSQL / MariaDB test database when DATABASE_URL points there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connections

from dbtools.sqlite import Database

MANAGE = str(Path(settings.BASE_DIR) / "manage.py")


def base_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "DATABASE_URL"))}
    env.update({"SECRET_KEY": "tests-only-secret-key-not-for-production", "DEBUG": "false"})
    env.update(extra)
    return env


def manage(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, MANAGE, *args],
        env=env,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        check=False,
        cwd=settings.BASE_DIR,
    )


def url_for_test_database() -> str:
    """The URL of the test database pytest-django created for this run."""
    s = connections["default"].settings_dict
    scheme = {"postgresql": "postgres", "mysql": "mysql"}[connections["default"].vendor]
    auth = quote(s["USER"] or "")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"])
    return f"{scheme}://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT']}/{s['NAME']}"


@dataclass
class LiveDatabase:
    """One database the commands act on, and a way to read it back."""

    vendor: str
    url: str
    backup_dir: Path
    sqlite_path: Path | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return base_env(DATABASE_URL=self.url, BACKUP_DIR=str(self.backup_dir), **self.extra_env)

    def manage(self, *args: str, input: str | None = None, env: dict[str, str] | None = None):
        return manage({**self.env, **(env or {})}, *args, input=input)

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.manage(*args)
        assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
        return result

    def query(self, sql: str) -> list[tuple]:
        if self.sqlite_path is not None:
            conn = Database.connect(self.sqlite_path)
            try:
                return [tuple(row) for row in conn.execute(sql).fetchall()]
            finally:
                conn.close()
        connection = connections["default"]
        connection.close()  # a fresh connection: another process replaced the tables
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    def execute(self, sql: str) -> None:
        if self.sqlite_path is not None:
            conn = Database.connect(self.sqlite_path)
            try:
                with conn:
                    conn.execute(sql)
            finally:
                conn.close()
            return
        with connections["default"].cursor() as cursor:
            cursor.execute(sql)

    def state(self) -> dict[str, list[tuple]]:
        """Everything the tests compare: posts and users, row by row."""
        return {
            "posts": self.query("SELECT id, author_id, title FROM posts_post ORDER BY id"),
            "users": self.query("SELECT id, username FROM users_user ORDER BY id"),
        }

    def backups(self) -> list[Path]:
        if not self.backup_dir.exists():
            return []
        return sorted(p for p in self.backup_dir.iterdir() if not p.name.endswith(".json"))

    def manifest(self, path: Path) -> dict:
        return json.loads(path.with_name(path.name + ".json").read_text())


def sqlite_database(tmp_path: Path, *, users: int = 20, posts: int = 200) -> LiveDatabase:
    path = tmp_path / "live.sqlite3"
    live = LiveDatabase("sqlite", f"sqlite:///{path}", tmp_path / "backups", sqlite_path=path)
    live.ok("migrate", "--noinput", "-v0")
    if users:
        live.ok("seed_demo", "--users", str(users), "--posts", str(posts), "-v0")
    return live


def engine_database(tmp_path: Path) -> LiveDatabase:
    """The configured engine: a SQLite file when the suite runs on SQLite (the
    test database is in memory there), else the PostgreSQL/MariaDB test
    database itself. Needs ``django_db(transaction=True)`` on other engines so
    that the rows are committed where the command processes can see them."""
    vendor = connections["default"].vendor
    if vendor == "sqlite":
        return sqlite_database(tmp_path)
    live = LiveDatabase(vendor, url_for_test_database(), tmp_path / "backups")
    live.ok("seed_demo", "--users", "20", "--posts", "200", "-v0")
    return live


def posts_migrations() -> list[str]:
    """The posts app's migration names on disk, oldest first."""
    from django.db.migrations.loader import MigrationLoader

    loader = MigrationLoader(None, ignore_no_migrations=True)
    return sorted(name for app, name in loader.disk_migrations if app == "posts")
