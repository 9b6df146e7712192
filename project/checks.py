"""System checks for production (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.db import connections

from dbtools import sqlite
from dbtools.engines import SQLiteEngine
from project.db import SQLITE_ENGINE
from project.serving import server_connections


def _sqlite_version() -> tuple[int, ...]:
    return sqlite.sqlite_version_info


def wal_reset_warnings(
    databases: dict[str, dict[str, Any]], *, version: tuple[int, ...], concurrency: int, accepted: bool
) -> list[Warning]:
    """The WAL-reset warnings for these DATABASES entries; separate from the
    registered check so each condition can be tested on its own."""
    if accepted or sqlite.has_wal_reset_fix(version) or concurrency <= 1:
        return []
    found = []
    for alias, config in databases.items():
        if config["ENGINE"] != SQLITE_ENGINE or SQLiteEngine.name_in_memory(config["NAME"]):
            continue
        if "journal_mode=wal" not in str(config.get("OPTIONS", {}).get("init_command", "")).lower():
            continue
        found.append(
            Warning(
                f"SQLite {'.'.join(map(str, version))} has the WAL-reset corruption bug (fixed in 3.51.3), and "
                f"database '{alias}' runs in WAL mode under a server with {concurrency} connections that can write "
                "at the same moment (WEB_CONCURRENCY x WEB_THREADS).",
                hint=(
                    "Install the pinned pysqlite3 (requirements.txt; its wheels bundle a fixed SQLite) where it has "
                    "a wheel for this platform, or use a Python whose SQLite is 3.51.3 or newer; "
                    "or serve with WEB_CONCURRENCY=1 WEB_THREADS=1; "
                    "or move to PostgreSQL; or, having read the README's 'SQLite's WAL-reset bug', set "
                    "SQLITE_WAL_RESET_RISK_ACCEPTED=true."
                ),
                id="project.W001",
            )
        )
    return found


@register(deploy=True)
def sqlite_wal_reset_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    return wal_reset_warnings(
        {alias: connections.settings[alias] for alias in connections},
        version=_sqlite_version(),
        concurrency=server_connections(),
        accepted=getattr(settings, "SQLITE_WAL_RESET_RISK_ACCEPTED", False),
    )
