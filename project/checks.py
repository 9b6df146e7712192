"""System checks for production (``manage.py check --deploy``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register
from django.db import connections

from dbtools import sqlite
from dbtools.engines import SQLiteEngine, engine_class
from project.dbconnect import pool_settings
from project.serving import server_connections, server_threads, server_workers


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
        if engine_class(config["ENGINE"]) is not SQLiteEngine or SQLiteEngine.name_in_memory(config["NAME"]):
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
                    "or move to PostgreSQL; or, having read docs/sqlite.md, 'The WAL-reset bug', set "
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


# Backends that do not deliver mail: fine for development, a silent loss in production.
UNDELIVERED_BACKENDS = {
    "django.core.mail.backends.console.EmailBackend",
    "django.core.mail.backends.locmem.EmailBackend",
    "django.core.mail.backends.dummy.EmailBackend",
    "django.core.mail.backends.filebased.EmailBackend",
}


def mail_warnings(*, debug: bool, email_url: str, backend: str, from_email: str) -> list[Warning]:
    """Password resets and email changes need a mail server; separate from the
    registered check so each condition can be tested on its own."""
    if debug:
        return []
    if not email_url or backend in UNDELIVERED_BACKENDS:
        what = (
            "EMAIL_URL is not set" if not email_url else f"EMAIL_URL sends mail nowhere ({email_url.split(':')[0]}://)"
        )
        return [
            Warning(
                f"{what}: password-reset and email-change messages will not reach anyone"
                + (" unless an SMTP server listens on localhost:25." if not email_url else "."),
                hint="Set EMAIL_URL=smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465.",
                id="project.W002",
            )
        ]
    if from_email == "webmaster@localhost":
        return [
            Warning(
                "DEFAULT_FROM_EMAIL is not set: mail goes out from webmaster@localhost, which mail servers refuse "
                "or file as spam.",
                hint="Set DEFAULT_FROM_EMAIL to an address of your domain, e.g. no-reply@example.com.",
                id="project.W003",
            )
        ]
    return []


@register(deploy=True)
def mail_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    return mail_warnings(
        debug=settings.DEBUG,
        email_url=getattr(settings, "EMAIL_URL", ""),
        backend=settings.EMAIL_BACKEND,
        from_email=settings.DEFAULT_FROM_EMAIL,
    )


def pool_size_warnings(databases: dict[str, dict[str, Any]], *, workers: int, threads: int) -> list[Warning]:
    """A connection pool smaller than the threads of one server process: a pool
    belongs to one process, where each of its ``threads`` holds a connection
    for the length of a request, so the extra threads wait and then fail with a 503."""
    found = []
    for alias, config in databases.items():
        pool = pool_settings(config)
        if pool is None or pool["max_size"] >= threads:
            continue
        found.append(
            Warning(
                f"Database '{alias}' has a connection pool of at most {pool['max_size']} connection(s) per server "
                f"process, but each of the {workers} gunicorn worker(s) runs {threads} threads (WEB_THREADS): under "
                f"load, requests wait {pool['timeout']} s for a connection and then answer 503.",
                hint=(
                    f"Set DATABASE_POOL_MAX_SIZE={threads} (or more), or fewer WEB_THREADS. The PostgreSQL server "
                    f"must then accept WEB_CONCURRENCY x DATABASE_POOL_MAX_SIZE = {workers * threads} connections "
                    "(its max_connections) besides any other clients."
                ),
                id="project.W020",
            )
        )
    return found


@register(deploy=True)
def database_pool_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    return pool_size_warnings(
        {alias: connections.settings[alias] for alias in connections},
        workers=server_workers(),
        threads=server_threads(),
    )
