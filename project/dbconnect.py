"""Connecting to the database: the driver each engine needs, one line that
says why a connection could not be made, and PostgreSQL's connection pool.

A missing driver, a server that is down and a pool with no free connection
are configuration or operations problems, not bugs: each gets one line that
names the package or the server (host and port, never the password) instead
of a traceback, from ``manage.py``, ``make serve``'s preflight, gunicorn's
start and the running site (a 503, see
``project.middleware.DatabaseUnavailableMiddleware``).

``python -m project.dbconnect`` prints which driver requirements file
``DATABASE_URL`` (from the environment or ``.env``) needs, ``postgres``,
``mysql`` or nothing; the Makefile installs it before anything starts.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connections
from django.db.utils import load_backend

from project.db import database_from_url
from project.env import env_str, load_project_env

MARIADB_HEADERS = "apt-get install -y libmariadb-dev pkg-config gcc python3-dev"
# Seconds a new connection waits for the server to answer (libpq and
# mysqlclient wait for the operating system's TCP timeout, minutes, without
# it): below WEB_TIMEOUT, so an unreachable host is a 503, not a killed worker.
CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class Vendor:
    """What differs between engines when connecting."""

    label: str
    # Any one of these importable modules is the driver Django needs.
    modules: tuple[str, ...] = ()
    package: str = ""
    # requirements-<name>.txt installs it; also the Makefile's stamp name.
    requirements: str = ""
    install_note: str = ""
    default_port: int | None = None

    def address(self, config: dict[str, Any]) -> str:
        host = config.get("HOST") or "localhost"
        port = config.get("PORT") or self.default_port
        return f"{host}:{port}"

    def reason(self, exc: BaseException) -> str:
        """The driver's own words for a failed connection, on one line."""
        cause = exc.__cause__ or exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        return lines[0] if lines else type(cause).__name__

    def install_hint(self) -> str:
        hint = f"pip install -r requirements-{self.requirements}.txt (make run, serve and test do it themselves)"
        return f"{hint}; {self.install_note}" if self.install_note else hint

    def connect_failure(self, config: dict[str, Any], exc: BaseException) -> str:
        """One line saying why connecting to this DATABASES entry failed; never its password."""
        text = self.describe(config, exc)
        # Drivers do not echo passwords today; this keeps it so if one ever does.
        password = config.get("PASSWORD")
        return text.replace(password, "***") if password else text

    def describe(self, config: dict[str, Any], exc: BaseException) -> str:
        return f"cannot connect to the {self.label} server at {self.address(config)}: {self.reason(exc)}"


class SQLiteVendor(Vendor):
    def address(self, config: dict[str, Any]) -> str:
        return str(config.get("NAME") or ":memory:")

    def describe(self, config: dict[str, Any], exc: BaseException) -> str:
        return f"cannot open the SQLite database {self.address(config)}: {self.reason(exc)}"


class PostgreSQLVendor(Vendor):
    def reason(self, exc: BaseException) -> str:
        # psycopg: 'connection failed: connection to server at "h", port 5432
        # failed: Connection refused' (one such line per address tried); the
        # host and port are already in our message, the cause is after them.
        text = super().reason(exc)
        lines = [line for line in str(exc.__cause__ or exc).splitlines() if "failed: " in line]
        if lines:
            text = lines[-1].rsplit("failed: ", 1)[1].strip()
        return text

    def describe(self, config: dict[str, Any], exc: BaseException) -> str:
        pool = pool_settings(config)
        if pool is not None and _is_pool_timeout(exc.__cause__):
            return (
                f"no connection came free in the database connection pool within {pool['timeout']} s "
                f"(at most {pool['max_size']} per server process): all are in use, or the PostgreSQL server "
                f"at {self.address(config)} does not answer"
            )
        return super().describe(config, exc)


class MySQLVendor(Vendor):
    def reason(self, exc: BaseException) -> str:
        # mysqlclient: (2002, "Can't connect to server on 'h' (115)").
        args = getattr(exc.__cause__ or exc, "args", ())
        if len(args) >= 2 and isinstance(args[1], str):
            return args[1]
        return super().reason(exc)


SQLITE = SQLiteVendor(label="SQLite")
POSTGRESQL = PostgreSQLVendor(
    label="PostgreSQL",
    modules=("psycopg", "psycopg2"),
    package="psycopg",
    requirements="postgres",
    default_port=5432,
)
MYSQL = MySQLVendor(
    label="MariaDB/MySQL",
    modules=("MySQLdb",),
    package="mysqlclient",
    requirements="mysql",
    install_note=f"mysqlclient compiles against the MariaDB client headers (Debian/Ubuntu: {MARIADB_HEADERS})",
    default_port=3306,
)
_VENDORS = {
    "django.db.backends.sqlite3": SQLITE,
    "django.contrib.gis.db.backends.spatialite": SQLITE,
    "django.db.backends.postgresql": POSTGRESQL,
    "django.contrib.gis.db.backends.postgis": POSTGRESQL,
    "django.db.backends.mysql": MYSQL,
    "django.contrib.gis.db.backends.mysql": MYSQL,
}
# A connection's ``vendor`` attribute, for backends named otherwise in ENGINE.
_BY_CONNECTION_VENDOR = {"sqlite": SQLITE, "postgresql": POSTGRESQL, "mysql": MYSQL}


def vendor_for(engine: str) -> Vendor | None:
    """The vendor of a Django ENGINE path (``django.db.backends.postgresql``), None if unknown here."""
    return _VENDORS.get(engine)


def _vendor_of(wrapper: Any) -> Vendor | None:
    return _VENDORS.get(wrapper.settings_dict["ENGINE"]) or _BY_CONNECTION_VENDOR.get(wrapper.vendor)


def _is_pool_timeout(exc: BaseException | None) -> bool:
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:
        return False
    return isinstance(exc, PoolTimeout)


# --- Drivers -------------------------------------------------------------------


def missing_driver(engine: str) -> str | None:
    """One line naming the package to install when ENGINE's driver cannot be imported, else None."""
    vendor = vendor_for(engine)
    if vendor is None or not vendor.modules:
        return None
    errors = []
    for module in vendor.modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            errors.append(str(exc).splitlines()[0] if str(exc) else module)
        else:
            return None
    return (
        f"DATABASE_URL names a {vendor.label} database, but its driver, {vendor.package}, "
        f"is not installed ({errors[0]}): {vendor.install_hint()}."
    )


def configured_engine(base_dir: Path) -> str | None:
    """The ENGINE that DATABASE_URL (environment, else .env) selects; None when unset or not understood
    (the settings then say what is wrong with it)."""
    try:
        load_project_env(base_dir)
        url = env_str("DATABASE_URL")
        return database_from_url(url, base_dir=base_dir, conn_max_age=0)["ENGINE"] if url else None
    except ImproperlyConfigured:
        return None


# --- Connections ----------------------------------------------------------------


def prepare_connection(config: dict[str, Any]) -> None:
    """Per-engine connection defaults for a DATABASES entry: a connect timeout
    for the servers (unless DATABASE_URL's ``?connect_timeout=`` sets one)."""
    if vendor_for(config["ENGINE"]) in (POSTGRESQL, MYSQL):
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", CONNECT_TIMEOUT)


def use_pool(config: dict[str, Any], *, min_size: int, max_size: int, timeout: int, worker_timeout: int) -> None:
    """Turn Django's PostgreSQL connection pool (psycopg_pool) on for this DATABASES entry.

    The pool belongs to one server process and is shared by its threads. A
    request that finds every connection in use waits ``timeout`` seconds,
    then fails (a 503); that must happen before gunicorn kills the worker at
    ``worker_timeout``. CONN_MAX_AGE becomes 0: Django refuses persistent
    connections with its pool, which keeps connections open itself.
    """
    vendor = vendor_for(config["ENGINE"])
    if vendor is not POSTGRESQL:
        label = vendor.label if vendor else config["ENGINE"]
        raise ImproperlyConfigured(
            f"DATABASE_POOL=true needs PostgreSQL (Django's pool is psycopg's); DATABASE_URL names a {label} database."
        )
    if max_size < 1 or min_size > max_size:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_MIN_SIZE={min_size} and DATABASE_POOL_MAX_SIZE={max_size}: "
            "the maximum must be at least 1 and at least the minimum."
        )
    if timeout >= worker_timeout:
        raise ImproperlyConfigured(
            f"DATABASE_POOL_TIMEOUT={timeout} must be below WEB_TIMEOUT={worker_timeout}: a request waiting "
            "for a connection must get its 503 before gunicorn kills the worker."
        )
    try:
        importlib.import_module("psycopg_pool")
    except ImportError as exc:
        raise ImproperlyConfigured(
            f"DATABASE_POOL=true needs psycopg-pool, which is not installed ({exc}): {POSTGRESQL.install_hint()}."
        ) from None
    config.setdefault("OPTIONS", {})["pool"] = {"min_size": min_size, "max_size": max_size, "timeout": timeout}
    config["CONN_MAX_AGE"] = 0


def pool_settings(config: dict[str, Any]) -> dict[str, Any] | None:
    """The pool options of a DATABASES entry, with psycopg_pool's defaults filled in; None without a pool."""
    pool = config.get("OPTIONS", {}).get("pool")
    if not pool:
        return None
    pool = {} if pool is True else dict(pool)
    pool.setdefault("min_size", 4)  # psycopg_pool's defaults
    pool.setdefault("max_size", pool["min_size"])
    pool.setdefault("timeout", 30.0)
    return pool


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
        vendor = _vendor_of(wrapper)
        if wrapper.connection is None and vendor is not None:
            return vendor.connect_failure(wrapper.settings_dict, exc)
    return None


def probe(alias: str = "default") -> str | None:
    """Open one new connection to ``alias`` beside Django's own (never from the
    pool); one line saying why it failed, None if the database answers."""
    config = dict(connections.settings[alias])
    config["OPTIONS"] = {key: value for key, value in config.get("OPTIONS", {}).items() if key != "pool"}
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(config, alias)
    try:
        wrapper.ensure_connection()
    except OperationalError as exc:
        vendor = _vendor_of(wrapper) or Vendor(label=config["ENGINE"])
        return vendor.connect_failure(config, exc)
    finally:
        wrapper.close()
    return None


def main() -> int:
    """Print the requirements file stem DATABASE_URL's driver needs (for the Makefile)."""
    engine = configured_engine(Path(__file__).resolve().parent.parent)
    vendor = vendor_for(engine) if engine else None
    if vendor is not None and vendor.requirements:
        sys.stdout.write(f"{vendor.requirements}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
