"""Connecting to the database: the driver each engine needs, one line that
says why a connection could not be made, and PostgreSQL's connection pool.

A missing driver, a server that is down and a pool with no free connection
are configuration or operations problems, not bugs: each gets one line that
names the package or the server (host and port, never the password) instead
of a traceback, from ``manage.py``, ``make serve``'s preflight, gunicorn's
start and the running site (a 503, see
``project.middleware.DatabaseUnavailableMiddleware``).

What differs between vendors (driver modules and packages, default ports,
how each driver words a failure, the pool) is on the vendor's class in
``dbtools/engines.py``, usable before Django is set up; this module is the
glue that the settings, gunicorn.conf.py, the Makefile and the request path
call.

``python -m project.dbconnect`` prints which driver requirements file
``DATABASE_URL`` (from the environment or ``.env``) needs, ``postgres``,
``mysql`` or nothing; the Makefile installs it before anything starts.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections

from dbtools.engines import EngineError, engine_class, engine_for
from project.db import database_from_url
from project.env import env_str, load_project_env


def missing_driver(engine: str) -> str | None:
    """One line naming the package to install when ENGINE's driver cannot be imported, else None."""
    vendor = engine_class(engine)
    return vendor.missing_driver() if vendor is not None else None


def configured_engine(base_dir: Path) -> str | None:
    """The ENGINE that DATABASE_URL (environment, else .env) selects; None when unset or not understood
    (the settings then say what is wrong with it)."""
    try:
        load_project_env(base_dir)
        url = env_str("DATABASE_URL")
        return database_from_url(url, base_dir=base_dir, conn_max_age=0)["ENGINE"] if url else None
    except ImproperlyConfigured:
        return None


def use_pool(config: dict[str, Any], *, min_size: int, max_size: int, timeout: int, worker_timeout: int) -> None:
    """Turn Django's connection pool on for this DATABASES entry, or say why it cannot be."""
    vendor = engine_class(config["ENGINE"])
    if vendor is None:
        raise ImproperlyConfigured(f"DATABASE_POOL=true needs PostgreSQL; DATABASE_URL names {config['ENGINE']}.")
    vendor.use_pool(config, min_size=min_size, max_size=max_size, timeout=timeout, worker_timeout=worker_timeout)


def pool_settings(config: dict[str, Any]) -> dict[str, Any] | None:
    """The pool options of a DATABASES entry, with the pool's defaults filled in; None without a pool."""
    vendor = engine_class(config["ENGINE"])
    return vendor.pool_settings(config) if vendor is not None else None


def connection_failure(exc: BaseException) -> str | None:
    """One line when ``exc`` is a failure to connect (server down or refusing,
    no free pooled connection, SQLite file that cannot be opened); None for an
    error on an open connection (a lock timeout, a deadlock), which stays a bug.

    A connection that failed to open is one Django holds no DB-API connection
    for; cheap, for the request path, before Django closes connections at the
    end of the request.
    """
    if not isinstance(exc, OperationalError):
        return None
    for wrapper in connections.all(initialized_only=True):
        vendor = engine_class(wrapper.settings_dict["ENGINE"])
        if wrapper.connection is None and vendor is not None:
            return vendor.connect_failure(wrapper.settings_dict, exc)
    return None


def probe(alias: str = "default") -> str | None:
    """Open one new connection to ``alias`` beside Django's own (never from the
    pool); one line saying why it failed, None if the database answers."""
    try:
        engine = engine_for(alias)
    except EngineError as exc:
        return str(exc)
    try:
        engine.open_side_connection().close()
    except OperationalError as exc:
        return engine.connect_failure(engine.settings, exc)
    return None


def main() -> int:
    """Print the requirements file stem DATABASE_URL's driver needs (for the Makefile)."""
    engine = configured_engine(Path(__file__).resolve().parent.parent)
    vendor = engine_class(engine) if engine else None
    if vendor is not None and vendor.driver_requirements:
        sys.stdout.write(f"{vendor.driver_requirements}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
