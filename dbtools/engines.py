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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.creation import DatabaseCreation as SQLiteCreation
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils.module_loading import import_string

from dbtools import sqlite

if TYPE_CHECKING:
    from dbtools.backup.base import Connector
    from dbtools.health import Checks
    from dbtools.maintenance import Maintenance

# How long a connection of our own waits for a server that does not answer,
# unless the database's OPTIONS already set connect_timeout: a monitor or a
# cron job must not hang.
CONNECT_TIMEOUT_SECONDS = 10


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
    #: Dotted paths of the vendor's implementations (resolved when first used).
    checks_class: ClassVar[str]
    maintenance_class: ClassVar[str]
    backup_class: ClassVar[str]
    #: The driver option a connection of our own sets its connect timeout with.
    connect_timeout_option: ClassVar[str | None] = "connect_timeout"

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
        host = self.settings.get("HOST") or "localhost"
        port = f":{self.settings['PORT']}" if self.settings.get("PORT") else ""
        return f"{host}{port}/{self.database_name}"

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
        job's."""
        settings_dict = {**self.settings, "OPTIONS": {**(self.settings.get("OPTIONS") or {}), **options}}
        return type(self.connection)(settings_dict, self.alias)

    def open_side_connection(self) -> BaseDatabaseWrapper:
        """A connected ``new_wrapper`` with a connect timeout; the caller closes it."""
        conn = self.new_wrapper()
        if self.connect_timeout_option:
            conn.settings_dict["OPTIONS"].setdefault(self.connect_timeout_option, CONNECT_TIMEOUT_SECONDS)
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

    def write_rows(self, cursor: Any, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        """Insert prepared rows: multi-row INSERT statements, within the
        engine's parameter limit."""
        prefix, placeholder = self._insert_sql(table, columns)
        per_statement = max(1, min(self.connection.ops.bulk_batch_size(columns, [None] * 1000), 65535 // len(columns)))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            cursor.execute(prefix + ", ".join([placeholder] * len(chunk)), [v for row in chunk for v in row])

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
    vendor = "sqlite"
    checks_class = "dbtools.health.SQLiteChecks"
    maintenance_class = "dbtools.maintenance.SQLiteMaintenance"
    backup_class = "dbtools.backup.sqlite.SQLiteConnector"
    connect_timeout_option = None  # a file opens at once; the busy timeout is "timeout"

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

    def open_file(self, *, mode: str | None = None, immutable: bool = False, timeout: float | None = None) -> Any:
        """A plain connection to the database file, without Django's
        init_command (no journal-mode switch) and, with ``mode`` "ro" or
        "rw", without creating a missing file."""
        if timeout is None:
            timeout = float((self.settings.get("OPTIONS") or {}).get("timeout", 20))
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

    def write_rows(self, cursor: Any, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        # One prepared single-row INSERT, run for every row: SQLite's fastest.
        prefix, placeholder = self._insert_sql(table, columns)
        cursor.executemany(prefix + placeholder, rows)


class PostgreSQLEngine(Engine):
    vendor = "postgresql"
    checks_class = "dbtools.health.PostgreSQLChecks"
    maintenance_class = "dbtools.maintenance.PostgreSQLMaintenance"
    backup_class = "dbtools.backup.postgresql.PostgreSQLConnector"

    def in_read_only(self, cursor: Any) -> None:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def write_rows(self, cursor: Any, table: str, columns: list[str], rows: list[list[Any]]) -> None:
        # COPY ... FROM STDIN, several times faster than INSERT; psycopg's own
        # cursor API (Django's cursor wrapper exposes it as .cursor).
        quoted = ", ".join(self.quote(c) for c in columns)
        with cursor.cursor.copy(f"COPY {self.quote(table)} ({quoted}) FROM STDIN") as copy:
            for values in rows:
                copy.write_row(values)


class MySQLEngine(Engine):
    vendor = "mysql"
    checks_class = "dbtools.health.MySQLChecks"
    maintenance_class = "dbtools.maintenance.MySQLMaintenance"
    backup_class = "dbtools.backup.mysql.MySQLConnector"

    def begin_read_only(self, cursor: Any) -> None:
        # Applies to the transactions this session starts from now on.
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")

    def end_read_only(self, cursor: Any) -> None:
        level = (getattr(self.connection, "isolation_level", None) or "read committed").upper()
        cursor.execute(f"SET SESSION TRANSACTION ISOLATION LEVEL {level}, READ WRITE")


ENGINES: dict[str, type[Engine]] = {cls.vendor: cls for cls in (SQLiteEngine, PostgreSQLEngine, MySQLEngine)}


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
