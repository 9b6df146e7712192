"""Everything dbtools needs to know about a database engine, one class per
vendor, the way Django's backends keep ``operations.py`` per vendor.

``engine_for(alias)`` is the only place that looks at ``connection.vendor``.
The engine answers the questions every tool asks (where the file is, whether
it lives in memory, how to quote, count rows, find pending migrations, open a
connection of its own) and names the vendor's implementation of each tool,
as Django's ``DatabaseWrapper`` names its ``ops_class`` and
``introspection_class``: health checks, maintenance, backups (and, on SQLite,
what a replica needs: the file, the library, the safe restore path in
``dbtools.backup.sqlite``).

The same class also holds what differs between vendors before there is a
connection, because the settings need it before Django is set up: the
DATABASES defaults a ``DATABASE_URL`` gets (``configure``), the driver and how
to install it, how a failure to connect reads, PostgreSQL's pool. Those are
class attributes and classmethods that read a DATABASES entry; importing this
module needs no settings. ``project/db.py`` and ``project/dbconnect.py`` are
the settings' and the request path's glue around them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from django.core.exceptions import ImproperlyConfigured
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.creation import DatabaseCreation as SQLiteCreation
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.models import Field
from django.db.utils import load_backend
from django.utils.module_loading import import_string

from dbtools import sqlite
from project.env import env_choice, env_int

if TYPE_CHECKING:
    from dbtools.backup.base import Connector
    from dbtools.health import Checks
    from dbtools.maintenance import Maintenance

# Seconds a new connection waits for a server that does not answer, unless
# the database's OPTIONS (DATABASE_URL's ?connect_timeout=) set another:
# libpq and mysqlclient would otherwise wait for the operating system's TCP
# timeout, minutes. Below WEB_TIMEOUT, so an unreachable host is a 503, not a
# killed worker; and a monitor or a cron job does not hang.
CONNECT_TIMEOUT_SECONDS = 10
# The SQLite OPTIONS key that makes the backend create the database's folder on connect.
CREATE_FOLDER_OPTION = "create_folder"
MARIADB_HEADERS = "apt-get install -y libmariadb-dev pkg-config gcc python3-dev"


class EngineError(Exception):
    """The engine cannot do what was asked (no driver, no file, ...)."""


def pending_migrations(applied: Iterable[tuple[str, str]]) -> list[str]:
    """Migrations on disk that are not in ``applied``, as "app.name", in the
    order migrate would apply them. A squashed migration counts as applied
    when everything it replaces is. The one rule behind dbcheck, /healthz and
    dbcopy's refusal of an unmigrated side."""
    applied = set(applied)
    graph = MigrationLoader(None, ignore_no_migrations=True).graph
    pending: list[str] = []
    for key in graph.leaf_nodes():
        for node in graph.forwards_plan(key):
            migration = graph.nodes[node]
            if node in applied or (migration.replaces and all(tuple(r) in applied for r in migration.replaces)):
                continue
            label = f"{node[0]}.{node[1]}"
            if label not in pending:
                pending.append(label)
    return pending


def latest_migrations(rows: Iterable[tuple[str, str]]) -> dict[str, str]:
    """``rows`` are (app, name) ordered by id: the last one per app wins."""
    latest: dict[str, str] = {}
    for app, name in rows:
        latest[app] = name
    return dict(sorted(latest.items()))


class Engine:
    vendor: ClassVar[str]
    #: The vendor's name in messages.
    label: ClassVar[str]
    #: The vendor's own point-in-time recovery, named where REPLICA_URL is
    #: refused; None where REPLICA_URL (Litestream) does it.
    point_in_time_recovery: ClassVar[str | None] = None
    #: The ENGINE a DATABASES entry of this vendor gets, and every ENGINE
    #: path that is this vendor (Django's, GeoDjango's, the project's own).
    backend: ClassVar[str]
    backends: ClassVar[tuple[str, ...]]
    #: Dotted paths of the vendor's implementations (resolved when first used).
    checks_class: ClassVar[str]
    maintenance_class: ClassVar[str]
    backup_class: ClassVar[str]
    #: The driver option a new connection sets its connect timeout with.
    connect_timeout_option: ClassVar[str | None] = "connect_timeout"
    #: Any one of these importable modules is the driver Django needs;
    #: ``driver_package`` installs it, from requirements-<driver_requirements>.txt
    #: (the Makefile's stamp name too).
    driver_modules: ClassVar[tuple[str, ...]] = ()
    driver_package: ClassVar[str] = ""
    driver_requirements: ClassVar[str] = ""
    driver_note: ClassVar[str] = ""
    default_port: ClassVar[int | None] = None
    #: Whether the planner reads a page of posts joined to their authors
    #: (``ORDER BY`` the posts' index, ``LIMIT``) from the posts' index and
    #: stops after the page. Where it does not (MariaDB/MySQL), a query that
    #: only needs a column of the author reads it with a subquery per row.
    joined_page_stops_early: ClassVar[bool] = True
    #: Whether ``LIMIT n OFFSET m`` reads the m rows it skips (and what each
    #: joins or computes) rather than index entries alone; where it does
    #: (MariaDB/MySQL), deep pages read their keys first (project.counting).
    offset_reads_rows: ClassVar[bool] = False

    # --- before Django is set up: class-level, from a DATABASES entry -------------

    @classmethod
    def configure(cls, config: dict[str, Any], *, base_dir: Path, create_folder: bool = False) -> None:
        """The vendor's defaults for a DATABASES entry built from DATABASE_URL
        (options the URL sets win); ``base_dir`` anchors relative paths;
        ``create_folder`` asks for a database file's folder to be made on
        first connect (SQLite only)."""
        cls.set_connect_timeout(config.setdefault("OPTIONS", {}))

    @classmethod
    def set_connect_timeout(cls, options: dict[str, Any]) -> None:
        if cls.connect_timeout_option:
            options.setdefault(cls.connect_timeout_option, CONNECT_TIMEOUT_SECONDS)

    @classmethod
    def missing_driver(cls) -> str | None:
        """One line naming the package to install when no driver module can be imported, else None."""
        errors = []
        for module in cls.driver_modules:
            try:
                importlib.import_module(module)
            except ImportError as exc:
                errors.append(str(exc).splitlines()[0] if str(exc) else module)
            else:
                return None
        if not errors:
            return None
        return (
            f"DATABASE_URL names a {cls.label} database, but its driver, {cls.driver_package}, "
            f"is not installed ({errors[0]}): {cls.install_hint()}."
        )

    @classmethod
    def wrapper(cls, config: dict[str, Any], alias: str) -> BaseDatabaseWrapper:
        """A Django connection (not yet connected) for a DATABASES entry, made as
        ``ConnectionHandler.create_connection()`` makes one: every connection of
        our own beside Django's starts here."""
        try:
            backend = load_backend(config["ENGINE"])
        except ImproperlyConfigured as exc:
            raise EngineError(f"the database driver is not installed ({cls.install_hint()}): {exc}") from exc
        return backend.DatabaseWrapper(config, alias)

    @classmethod
    def install_hint(cls) -> str:
        hint = f"pip install -r requirements-{cls.driver_requirements}.txt (make run, serve and test do it themselves)"
        return f"{hint}; {cls.driver_note}" if cls.driver_note else hint

    @classmethod
    def address(cls, config: dict[str, Any]) -> str:
        """Where the database is, as messages show it: host:port (a file's path on SQLite)."""
        host = config.get("HOST") or "localhost"
        port = config.get("PORT") or cls.default_port
        return f"{host}:{port}" if port else host

    @classmethod
    def connect_failure(cls, config: dict[str, Any], exc: BaseException) -> str:
        """One line saying why connecting to this DATABASES entry failed; never its password."""
        text = cls.describe_failure(config, exc)
        # Drivers do not echo passwords today; this keeps it so if one ever does.
        password = config.get("PASSWORD")
        return text.replace(password, "***") if password else text

    @classmethod
    def describe_failure(cls, config: dict[str, Any], exc: BaseException) -> str:
        return f"cannot connect to the {cls.label} server at {cls.address(config)}: {cls.failure_reason(exc)}"

    @classmethod
    def failure_reason(cls, exc: BaseException) -> str:
        """The driver's own words for a failed connection, on one line."""
        cause = exc.__cause__ or exc
        lines = [line.strip() for line in str(cause).splitlines() if line.strip()]
        return lines[0] if lines else type(cause).__name__

    @classmethod
    def pool_settings(cls, config: dict[str, Any]) -> dict[str, Any] | None:
        """The connection pool of a DATABASES entry, None without one."""
        return None

    @classmethod
    def use_pool(
        cls, config: dict[str, Any], *, min_size: int, max_size: int, timeout: int, worker_timeout: int
    ) -> None:
        """Turn Django's connection pool on for this DATABASES entry (PostgreSQL only)."""
        raise ImproperlyConfigured(
            f"DATABASE_POOL=true needs PostgreSQL (Django's pool is psycopg's); "
            f"DATABASE_URL names a {cls.label} database."
        )

    def __init__(self, connection: BaseDatabaseWrapper) -> None:
        self.connection = connection
        self.alias: str = connection.alias
        self.settings: dict[str, Any] = connection.settings_dict

    # --- what and where ---------------------------------------------------------

    @property
    def database_name(self) -> str:
        return str(self.settings.get("NAME") or "")

    def in_memory(self) -> bool:
        return False

    def exists(self) -> bool:
        """Whether there is a database to read (a server's is assumed to be)."""
        return True

    def path(self) -> Path | None:
        """The database file, for engines that keep one (None otherwise)."""
        return None

    def describe(self) -> str:
        """host:port/name, as messages show it."""
        return f"{self.address(self.settings)}/{self.database_name}"

    def identity(self) -> tuple[str, ...]:
        """What makes two aliases the same database."""
        return (
            self.vendor,
            str(self.settings.get("HOST") or ""),
            str(self.settings.get("PORT") or ""),
            self.database_name,
        )

    # --- SQL ----------------------------------------------------------------------

    def quote(self, name: str) -> str:
        return self.connection.ops.quote_name(name)

    def table_names(self, cursor: Any, connection: BaseDatabaseWrapper | None = None) -> list[str]:
        return sorted((connection or self.connection).introspection.table_names(cursor))

    def project_tables(self, connection: BaseDatabaseWrapper | None = None) -> list[str]:
        """The tables of the installed apps' models that exist in the database."""
        conn = connection or self.connection
        with conn.cursor() as cursor:
            existing = set(conn.introspection.table_names(cursor))
        return sorted(name for name in conn.introspection.django_table_names() if name in existing)

    def count_rows(self, cursor: Any, tables: Iterable[str], *, schema: str | None = None) -> dict[str, int]:
        """Exact row counts, read through ``cursor`` (any DB-API cursor on
        this engine: Django's, a raw driver's, a sqlite3 one); ``schema``
        names another database or schema the tables are in."""
        prefix = f"{self.quote(schema)}." if schema else ""
        counts = {}
        for name in sorted(tables):
            cursor.execute(f"SELECT COUNT(*) FROM {prefix}{self.quote(name)}")  # noqa: S608 (quoted identifiers)
            counts[name] = int(cursor.fetchone()[0])
        return counts

    def row_counts(self) -> dict[str, int]:
        """Every table's row count, on the shared connection."""
        with self.connection.cursor() as cursor:
            return self.count_rows(cursor, self.table_names(cursor))

    def holds_data(self) -> bool:
        """Whether any table other than the migration history has a row."""
        with self.connection.cursor() as cursor:
            for name in self.table_names(cursor):
                if name == MigrationRecorder.Migration._meta.db_table:
                    continue
                cursor.execute(f"SELECT 1 FROM {self.quote(name)} LIMIT 1")  # noqa: S608 (quoted identifier)
                if cursor.fetchone():
                    return True
        return False

    # --- migrations ---------------------------------------------------------------

    def applied_migrations(self, connection: BaseDatabaseWrapper | None = None) -> set[tuple[str, str]]:
        return set(MigrationRecorder(connection or self.connection).applied_migrations())

    def pending_migrations(self, connection: BaseDatabaseWrapper | None = None) -> list[str]:
        return pending_migrations(self.applied_migrations(connection))

    def migration_plan_is_empty(self) -> bool:
        executor = MigrationExecutor(self.connection)
        return not executor.migration_plan(executor.loader.graph.leaf_nodes())

    # --- connections of our own ---------------------------------------------------

    def new_wrapper(self, **options: Any) -> BaseDatabaseWrapper:
        """A Django connection of its own with the same settings: autocommit,
        outside any transaction the shared connection has open, like a cron
        job's, and never one of the pool's (Django keeps one pool per alias)."""
        own = {key: value for key, value in (self.settings.get("OPTIONS") or {}).items() if key != "pool"}
        settings_dict = {**self.settings, "OPTIONS": {**own, **options}}
        return self.wrapper(settings_dict, self.alias)

    def open_side_connection(self) -> BaseDatabaseWrapper:
        """A connected ``new_wrapper`` with a connect timeout; the caller closes it."""
        conn = self.new_wrapper()
        self.set_connect_timeout(conn.settings_dict["OPTIONS"])
        try:
            conn.ensure_connection()
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except BaseException:
            conn.close()
            raise
        return conn

    @contextlib.contextmanager
    def side_connection(self) -> Iterator[BaseDatabaseWrapper]:
        """``open_side_connection``, closed after the block."""
        conn = self.open_side_connection()
        try:
            yield conn
        finally:
            conn.close()

    # --- dbcopy -------------------------------------------------------------------

    def begin_read_only(self, cursor: Any) -> None:
        """Before the source's snapshot transaction starts (session state)."""

    def in_read_only(self, cursor: Any) -> None:
        """First statement inside the source's snapshot transaction."""

    def end_read_only(self, cursor: Any) -> None:
        """Undo ``begin_read_only``'s session state once the copy is over."""

    def after_read_only(self) -> None:
        """Undo ``begin_read_only``'s changes to the Django connection (runs
        even when the session could not be reset)."""

    def empty_tables(self, cursor: Any, tables: list[str]) -> None:
        """Delete every row of ``tables`` (referencing tables first) inside
        the caller's transaction, firing the tables' delete triggers."""
        for table in tables:
            cursor.execute(f"DELETE FROM {self.quote(table)}")  # noqa: S608 (quoted identifier)

    @contextlib.contextmanager
    def set_aside_for_load(self, cursor: Any, tables: list[str]) -> Iterator[None]:
        """Around a bulk load of ``tables`` inside the caller's transaction:
        what the engine builds faster once, at the end of the block, than row
        by row (indexes, foreign keys), taken away and put back. Here:
        nothing (the caller defers the foreign keys and checks them)."""
        yield

    @classmethod
    def writes_as_read(cls, field: Field) -> bool:
        """Whether ``row_writer`` takes the value the ORM read for ``field``
        (from any engine) as it is, without ``get_db_prep_save``."""
        return False

    @contextlib.contextmanager
    def row_writer(self, cursor: Any, table: str, columns: list[str]) -> Iterator[Callable[[list[list[Any]]], None]]:
        """A function that inserts batches of prepared rows into ``table``
        (values in ``columns`` order), usable until the block ends; errors
        may surface at any call or when the block ends. Here: multi-row
        INSERT statements within the engine's parameter limit."""
        prefix, placeholder = self._insert_sql(table, columns)
        per_statement = max(1, min(self.connection.ops.bulk_batch_size(columns, [None] * 1000), 65535 // len(columns)))

        def write(rows: list[list[Any]]) -> None:
            for start in range(0, len(rows), per_statement):
                chunk = rows[start : start + per_statement]
                cursor.execute(prefix + ", ".join([placeholder] * len(chunk)), [v for row in chunk for v in row])

        yield write

    def _insert_sql(self, table: str, columns: list[str]) -> tuple[str, str]:
        quoted = ", ".join(self.quote(c) for c in columns)
        return f"INSERT INTO {self.quote(table)} ({quoted}) VALUES ", "(" + ", ".join(["%s"] * len(columns)) + ")"  # noqa: S608

    # --- the vendor's tools -------------------------------------------------------

    def checks(self) -> Checks:
        return import_string(self.checks_class)(self)

    def maintenance(self) -> Maintenance:
        return import_string(self.maintenance_class)(self)

    def backup(self) -> Connector:
        return import_string(self.backup_class)(self)


class SQLiteEngine(Engine):
    """SQLite, configured for a web server rather than a script: the stock
    settings (rollback journal, DEFERRED transactions, a 5 s busy timeout) are
    what produce "database is locked" under concurrent writers."""

    vendor = "sqlite"
    label = "SQLite"
    # REPLICA_URL: Litestream ships the WAL (dbtools/replication.py).
    point_in_time_recovery = None
    # Django's backend on the one SQLite library every process uses (dbtools/sqlite.py).
    backend = "dbtools.backends.sqlite3"
    backends = (backend, "django.db.backends.sqlite3", "django.contrib.gis.db.backends.spatialite")
    checks_class = "dbtools.health.SQLiteChecks"
    maintenance_class = "dbtools.maintenance.SQLiteMaintenance"
    backup_class = "dbtools.backup.sqlite.SQLiteConnector"
    connect_timeout_option = None  # a file opens at once; the busy timeout is "timeout"

    @staticmethod
    def pragmas(*, synchronous: str) -> list[str]:
        """PRAGMAs run on every new SQLite connection (per-connection state)."""
        return [
            # Readers never block the writer and the writer never blocks readers.
            # Persistent in the file once set; repeating it is a cheap no-op.
            "PRAGMA journal_mode=WAL",
            # NORMAL: in WAL mode a power loss can lose the last transactions
            # committed since the last checkpoint, but never corrupts the file.
            # FULL: fsync on every commit, durable across power loss, slower writes.
            f"PRAGMA synchronous={synchronous}",
            # Django already turns foreign keys on; stated here so that the list
            # documents everything the project relies on.
            "PRAGMA foreign_keys=ON",
            # Sorts and temporary indexes in memory rather than in temp files.
            "PRAGMA temp_store=MEMORY",
            # Page cache per connection, in KiB when negative: 16 MiB.
            "PRAGMA cache_size=-16000",
            # After a checkpoint, truncate the -wal file to at most 64 MiB so one
            # big write does not leave a huge log behind for ever.
            "PRAGMA journal_size_limit=67108864",
            # No mmap_size on purpose: memory-mapped I/O widens the window of
            # SQLite's WAL-reset corruption bug (fixed in 3.51.3).
        ]

    @classmethod
    def configure(cls, config: dict[str, Any], *, base_dir: Path, create_folder: bool = False) -> None:
        if config["ENGINE"] == "django.db.backends.sqlite3":
            # dj_database_url names Django's own backend.
            config["ENGINE"] = cls.backend
        name = config.get("NAME") or ""
        if name and not cls.name_in_memory(name) and not name.startswith("file:"):
            path = Path(name)
            config["NAME"] = str(path if path.is_absolute() else base_dir / path)
        # The test database is in memory, Django's default for SQLite, stated
        # because test runners that give each parallel worker a database of its
        # own (pytest-django under pytest-xdist) recognise Django's own backend
        # only: for another one they would name a file.
        config.setdefault("TEST", {}).setdefault("NAME", ":memory:")
        options = config.setdefault("OPTIONS", {})
        if create_folder:
            # Read by dbtools.backends.sqlite3 when it connects.
            options[CREATE_FOLDER_OPTION] = True
        synchronous = env_choice("SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL"))
        options.setdefault("init_command", ";".join(cls.pragmas(synchronous=synchronous)))
        # Every transaction takes the write lock at BEGIN. With DEFERRED, a
        # transaction that read first and then writes cannot wait for the lock
        # (SQLite answers SQLITE_BUSY at once to avoid a deadlock), which is the
        # classic "database is locked" under load.
        options.setdefault("transaction_mode", "IMMEDIATE")
        # Busy timeout, in seconds: how long a writer waits for the lock.
        options.setdefault("timeout", env_int("SQLITE_BUSY_TIMEOUT", 20, minimum=1))

    @classmethod
    def address(cls, config: dict[str, Any]) -> str:
        return str(config.get("NAME") or ":memory:")

    @classmethod
    def describe_failure(cls, config: dict[str, Any], exc: BaseException) -> str:
        return f"cannot open the SQLite database {cls.address(config)}: {cls.failure_reason(exc)}"

    @staticmethod
    def name_in_memory(name: str | Path) -> bool:
        """The one rule: Django's (``:memory:`` or a ``mode=memory`` URI),
        and an empty name, which SQLite opens as a private temporary database."""
        return not str(name) or SQLiteCreation.is_in_memory_db(name)

    def in_memory(self) -> bool:
        return self.name_in_memory(self.settings.get("NAME") or "")

    def path(self) -> Path | None:
        if self.in_memory():
            return None
        name = self.database_name
        if name.startswith("file:"):
            # A URI: the path is between "file:" and "?".
            name = name[len("file:") :].split("?", 1)[0]
        return Path(name)

    def exists(self) -> bool:
        path = self.path()
        return path is None or path.is_file()

    def require_path(self, what: str) -> Path:
        path = self.path()
        if path is None:
            raise EngineError(f"Database {self.alias!r} is an in-memory SQLite database; there is no file to {what}.")
        return path

    def describe(self) -> str:
        return self.database_name

    def identity(self) -> tuple[str, ...]:
        path = self.path()
        if path is not None:
            return (self.vendor, "", "", str(path.resolve()))
        # ":memory:" (or no name) is private to its connection; a named
        # mode=memory URI is shared by every connection that names it.
        private = self.database_name in ("", ":memory:")
        return (self.vendor, "", "", f"{self.database_name}#{self.alias}" if private else self.database_name)

    def busy_timeout(self) -> float:
        """Seconds a writer waits for the lock (the OPTIONS ``timeout`` that ``configure`` sets)."""
        return float((self.settings.get("OPTIONS") or {}).get("timeout", 20))

    def open_file(self, *, mode: str | None = None, immutable: bool = False, timeout: float | None = None) -> Any:
        """A plain connection to the database file, without Django's
        init_command (no journal-mode switch) and, with ``mode`` "ro" or
        "rw", without creating a missing file."""
        if timeout is None:
            timeout = self.busy_timeout()
        return sqlite.connect(self.require_path("open"), mode=mode, immutable=immutable, timeout=timeout)

    def begin_read_only(self, cursor: Any) -> None:
        cursor.execute("PRAGMA query_only=ON")
        # A DEFERRED transaction reads a snapshot without the write lock.
        self._saved_transaction_mode = getattr(self.connection, "transaction_mode", None)
        self.connection.transaction_mode = "DEFERRED"

    def end_read_only(self, cursor: Any) -> None:
        cursor.execute("PRAGMA query_only=OFF")

    def after_read_only(self) -> None:
        self.connection.transaction_mode = self._saved_transaction_mode

    @contextlib.contextmanager
    def row_writer(self, cursor: Any, table: str, columns: list[str]) -> Iterator[Callable[[list[list[Any]]], None]]:
        # One prepared single-row INSERT, run for every row: SQLite's fastest.
        prefix, placeholder = self._insert_sql(table, columns)
        yield lambda rows: cursor.executemany(prefix + placeholder, rows)


class PostgreSQLEngine(Engine):
    """PostgreSQL needs nothing beyond Django's defaults and a connect timeout:
    it enforces VARCHAR lengths, builds the LOWER() unique indexes and stores
    timestamptz in UTC. Django's connection pool (psycopg_pool) is its alone."""

    vendor = "postgresql"
    label = "PostgreSQL"
    point_in_time_recovery = (
        "PostgreSQL's continuous archiving (archive_command with pg_basebackup, restored with "
        "recovery_target_time), or pgBackRest / WAL-G"
    )
    backend = "django.db.backends.postgresql"
    backends = (backend, "django.contrib.gis.db.backends.postgis")
    checks_class = "dbtools.health.PostgreSQLChecks"
    maintenance_class = "dbtools.maintenance.PostgreSQLMaintenance"
    backup_class = "dbtools.backup.postgresql.PostgreSQLConnector"
    driver_modules = ("psycopg", "psycopg2")
    driver_package = "psycopg"
    driver_requirements = "postgres"
    default_port = 5432

    @classmethod
    def failure_reason(cls, exc: BaseException) -> str:
        # psycopg: 'connection failed: connection to server at "h", port 5432
        # failed: Connection refused' (one such line per address tried); the
        # host and port are already in our message, the cause is after them.
        text = super().failure_reason(exc)
        lines = [line for line in str(exc.__cause__ or exc).splitlines() if "failed: " in line]
        if lines:
            text = lines[-1].rsplit("failed: ", 1)[1].strip()
        return text

    @classmethod
    def describe_failure(cls, config: dict[str, Any], exc: BaseException) -> str:
        pool = cls.pool_settings(config)
        if pool is not None and _is_pool_timeout(exc.__cause__):
            return (
                f"no connection came free in the database connection pool within {pool['timeout']} s "
                f"(at most {pool['max_size']} per server process): all are in use, or the PostgreSQL server "
                f"at {cls.address(config)} does not answer"
            )
        return super().describe_failure(config, exc)

    @classmethod
    def pool_settings(cls, config: dict[str, Any]) -> dict[str, Any] | None:
        """The pool options, with psycopg_pool's defaults filled in."""
        pool = (config.get("OPTIONS") or {}).get("pool")
        if not pool:
            return None
        pool = {} if pool is True else dict(pool)
        pool.setdefault("min_size", 4)  # psycopg_pool's defaults
        pool.setdefault("max_size", pool["min_size"])
        pool.setdefault("timeout", 30.0)
        return pool

    @classmethod
    def use_pool(
        cls, config: dict[str, Any], *, min_size: int, max_size: int, timeout: int, worker_timeout: int
    ) -> None:
        """The pool belongs to one server process and is shared by its threads.
        A request that finds every connection in use waits ``timeout``
        seconds, then fails (a 503); that must happen before gunicorn kills
        the worker at ``worker_timeout``. CONN_MAX_AGE becomes 0: Django
        refuses persistent connections with its pool, which keeps connections
        open itself."""
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
                f"DATABASE_POOL=true needs psycopg-pool, which is not installed ({exc}): {cls.install_hint()}."
            ) from None
        config.setdefault("OPTIONS", {})["pool"] = {"min_size": min_size, "max_size": max_size, "timeout": timeout}
        config["CONN_MAX_AGE"] = 0

    def in_read_only(self, cursor: Any) -> None:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def empty_tables(self, cursor: Any, tables: list[str]) -> None:
        # One TRUNCATE of all of them (the foreign keys among them allow it),
        # which fires the tables' TRUNCATE triggers (posts/triggers.py keeps
        # the counts with one) and leaves no dead rows behind: the triggers
        # that look rows up while the load runs find empty tables, not
        # 100,000 deleted rows to step over. Transactional like DELETE, but
        # it locks the tables until the commit, and transactions that started
        # before it see them empty afterwards.
        cursor.execute("TRUNCATE " + ", ".join(self.quote(table) for table in tables))

    @contextlib.contextmanager
    def set_aside_for_load(self, cursor: Any, tables: list[str]) -> Iterator[None]:
        # PostgreSQL's own advice for a bulk load ("Populating a Database":
        # remove indexes, remove foreign key constraints), as pgloader does.
        # A deferred foreign key queues one check per row written, run one
        # by one at the end (an index lookup each); added again after the
        # load, a key is checked by one join. An index is built once from
        # all rows faster than it is updated row by row (the GIN index of the
        # posts' search vectors most of all). Indexes that back a constraint
        # (primary keys, unique constraints) stay. All of it happens in the
        # caller's transaction: a failure, a duplicate or a row without its
        # parent too, rolls the keys and indexes back with the rows. Done
        # after empty_tables(): with the indexes gone, a trigger's lookup in
        # a table full of deleted rows would scan them all.
        regclasses = "SELECT to_regclass(quote_ident(t)) FROM unnest(%s::text[]) AS t"
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "  # noqa: S608
            f"WHERE contype = 'f' AND conrelid IN ({regclasses}) ORDER BY 1, 2",
            [tables],
        )
        keys = cursor.fetchall()
        cursor.execute(
            "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "  # noqa: S608
            f"WHERE indrelid IN ({regclasses}) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint WHERE conindid = indexrelid) ORDER BY 1",
            [tables],
        )
        indexes = cursor.fetchall()
        for table, name, _definition in keys:
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {self.quote(name)}")
        for index, _definition in indexes:
            cursor.execute(f"DROP INDEX {index}")
        yield
        for _index, definition in indexes:
            cursor.execute(definition)
        for table, name, definition in keys:
            cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {self.quote(name)} {definition}")

    # Django's own fields (exactly these classes, not subclasses, which may
    # prepare values their own way) whose values, as the ORM reads them with
    # USE_TZ on (str, int, bool, aware datetime, date, None), psycopg's COPY
    # writes as they are: their get_db_prep_save only checks the type, or
    # wraps an int in the psycopg type of its column, which a COPY does not
    # need. Preparing every value costs as much as writing it.
    WRITTEN_AS_READ: ClassVar[tuple[type[Field], ...]] = (
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.BigIntegerField,
        models.SmallIntegerField,
        models.PositiveIntegerField,
        models.PositiveBigIntegerField,
        models.PositiveSmallIntegerField,
        models.CharField,
        models.TextField,
        models.EmailField,
        models.SlugField,
        models.URLField,
        models.BooleanField,
        models.DateTimeField,
        models.DateField,
    )

    @classmethod
    def writes_as_read(cls, field: Field) -> bool:
        if type(field) in (models.ForeignKey, models.OneToOneField):
            return cls.writes_as_read(field.target_field)
        return type(field) in cls.WRITTEN_AS_READ

    @contextlib.contextmanager
    def row_writer(self, cursor: Any, table: str, columns: list[str]) -> Iterator[Callable[[list[list[Any]]], None]]:
        # One COPY ... FROM STDIN per table, open while the batches stream in
        # (psycopg's cursor API; Django's cursor wrapper exposes it as
        # .cursor). The server parses rows and runs the table's triggers as
        # they arrive, while this process reads the next batch: a COPY per
        # batch would wait for the server at the end of every batch. A
        # thread sends the data, up to 4 MB ahead of the server (pgcopy.py).
        from dbtools.pgcopy import BoundedQueueWriter

        quoted = ", ".join(self.quote(c) for c in columns)
        sql = f"COPY {self.quote(table)} ({quoted}) FROM STDIN"
        with cursor.cursor.copy(sql, writer=BoundedQueueWriter(cursor.cursor, max_bytes=4 * 1024 * 1024)) as copy:

            def write(rows: list[list[Any]]) -> None:
                for values in rows:
                    copy.write_row(values)

            yield write


class MySQLEngine(Engine):
    vendor = "mysql"
    label = "MariaDB/MySQL"
    point_in_time_recovery = (
        "the binary log: a mariadb-backup (or mysqldump --single-transaction) base copy, then "
        "mariadb-binlog --stop-datetime replayed onto it"
    )
    backend = "django.db.backends.mysql"
    backends = (backend, "django.contrib.gis.db.backends.mysql")
    checks_class = "dbtools.health.MySQLChecks"
    maintenance_class = "dbtools.maintenance.MySQLMaintenance"
    backup_class = "dbtools.backup.mysql.MySQLConnector"
    driver_modules = ("MySQLdb",)
    driver_package = "mysqlclient"
    driver_requirements = "mysql"
    driver_note = f"mysqlclient compiles against the MariaDB client headers (Debian/Ubuntu: {MARIADB_HEADERS})"
    default_port = 3306
    # A case-insensitive collation: MariaDB's unique indexes then treat "Alice"
    # and "alice" as equal, which is how the project's case-insensitive username
    # and email rules are enforced there. It is also accent-insensitive ("José"
    # equals "Jose"), stricter than the LOWER() indexes on SQLite and PostgreSQL.
    charset = "utf8mb4"
    collation = "utf8mb4_unicode_ci"
    # At a million posts MariaDB 10.11 drives a page of posts joined to
    # users_user from the users (2,000 rows, by the username index), writes
    # every joined row to a temporary table and sorts them to keep 20:
    # EXPLAIN "Using temporary; Using filesort", a minute for the API's first
    # page (docs/benchmarks.md).
    joined_page_stops_early = False
    # InnoDB fetches each skipped row from the clustered index through a
    # secondary index: 40,000 lookups for page 2,000 of 20.
    offset_reads_rows = True

    @staticmethod
    def session_settings() -> list[str]:
        """Statements run on every new MariaDB/MySQL connection."""
        return [
            # Strict mode: an over-long string or a bad date is an error, not a
            # silent truncation or a zero date. Set per session so that a server
            # configured otherwise cannot weaken it.
            "SET sql_mode='STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
            # Django stores UTC in DATETIME columns; a session in UTC keeps NOW()
            # and the server's own conversions in agreement with it whatever the
            # server's system time zone is.
            "SET time_zone='+00:00'",
        ]

    @classmethod
    def configure(cls, config: dict[str, Any], *, base_dir: Path, create_folder: bool = False) -> None:
        super().configure(config, base_dir=base_dir)
        options = config["OPTIONS"]
        # 4-byte UTF-8: MariaDB's "utf8" is a 3-byte subset that cannot store emoji.
        options.setdefault("charset", cls.charset)
        options.setdefault("init_command", ";".join(cls.session_settings()))
        # Django's recommendation: REPEATABLE READ (the MariaDB default) makes
        # get_or_create and friends miss rows committed by other transactions.
        options.setdefault("isolation_level", "read committed")
        # The test database is created by Django, so it states the character set
        # and a case-insensitive collation itself (see users migration 0002).
        test = config.setdefault("TEST", {})
        test.setdefault("CHARSET", cls.charset)
        test.setdefault("COLLATION", cls.collation)

    @classmethod
    def failure_reason(cls, exc: BaseException) -> str:
        # mysqlclient: (2002, "Can't connect to server on 'h' (115)").
        args = getattr(exc.__cause__ or exc, "args", ())
        if len(args) >= 2 and isinstance(args[1], str):
            return args[1]
        return super().failure_reason(exc)

    def begin_read_only(self, cursor: Any) -> None:
        # Applies to the transactions this session starts from now on.
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def end_read_only(self, cursor: Any) -> None:
        level = (getattr(self.connection, "isolation_level", None) or "read committed").upper()
        cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}, READ WRITE")


ENGINES: dict[str, type[Engine]] = {cls.vendor: cls for cls in (SQLiteEngine, PostgreSQLEngine, MySQLEngine)}
_BY_BACKEND: dict[str, type[Engine]] = {backend: cls for cls in ENGINES.values() for backend in cls.backends}


def _is_pool_timeout(exc: BaseException | None) -> bool:
    try:
        from psycopg_pool import PoolTimeout
    except ImportError:
        return False
    return isinstance(exc, PoolTimeout)


def engine_class(backend: str) -> type[Engine] | None:
    """The vendor of a DATABASES ENGINE path (``django.db.backends.postgresql``);
    None for a backend this project does not know. Needs no settings."""
    return _BY_BACKEND.get(backend)


def engine_for(alias_or_connection: str | BaseDatabaseWrapper) -> Engine:
    """The engine behind a database alias (or an open Django connection)."""
    if isinstance(alias_or_connection, str):
        try:
            connection = connections[alias_or_connection]
        except Exception as exc:  # e.g. the engine's driver is not installed
            raise EngineError(f"cannot load the database backend: {exc}") from exc
    else:
        connection = alias_or_connection
    try:
        return ENGINES[connection.vendor](connection)
    except KeyError:
        raise EngineError(f"dbtools does not support the {connection.vendor!r} database engine") from None


def sqlite_file(alias: str, what: str) -> Path:
    """The file of the SQLite database ``alias``, for ``what`` needs one
    (replication, its health, its window); EngineError for an in-memory
    database or another engine."""
    engine = engine_for(alias)
    if not isinstance(engine, SQLiteEngine):
        raise EngineError(f"Database {alias!r} is {engine.label}, not a SQLite file; there is no file to {what}.")
    return engine.require_path(what)
