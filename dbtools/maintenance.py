"""Database maintenance behind ``manage.py dbvacuum``: give space back and
refresh the planner's statistics, one function per engine.

These operations rewrite storage, never rows: what a query returns is the same
before and after. Each step is announced through ``say`` before it runs, so
an operator watching sees what is holding the database.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from django.db.backends.base.base import BaseDatabaseWrapper

from dbtools import replication, sqlite
from dbtools.engines import Engine, EngineError, SQLiteEngine, engine_for
from dbtools.health import OPTIMIZE_ALL_TABLES_SINCE, can_write, first_line, human_bytes
from dbtools.sqlite import Database

Say = Callable[[str], None]


class MaintenanceError(Exception):
    """The maintenance could not run; nothing was changed after the failing step."""


@dataclass
class VacuumResult:
    alias: str
    vendor: str
    size_before: int
    size_after: int
    seconds: float
    dry_run: bool
    warnings: list[str] = field(default_factory=list)


def vacuum_database(alias: str, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
    try:
        engine = engine_for(alias)
    except EngineError as exc:  # e.g. the engine's driver is not installed
        raise MaintenanceError(first_line(exc)) from exc
    return engine.maintenance().vacuum(full=full, dry_run=dry_run, say=say)


class Maintenance:
    """One engine's maintenance (``Engine.maintenance()`` picks the class)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def vacuum(self, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
        raise NotImplementedError


def _timed(say: Say, label: str, run: Callable[[], object]) -> object:
    started = time.monotonic()
    result = run()
    say(f"{label} ({time.monotonic() - started:.2f} s)")
    return result


# --- SQLite --------------------------------------------------------------------


def sqlite_files_size(path: Path) -> int:
    """The database file plus its -wal file: what the database takes on disk."""
    wal = Path(f"{path}-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def sqlite_temp_dir() -> Path:
    """Where SQLite puts the temporary copy VACUUM builds (temp_store=FILE),
    in the order SQLite's Unix VFS looks for it."""
    candidates = [os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"]  # noqa: S108 (SQLite's own list, only read)
    for candidate in candidates:
        if candidate and os.path.isdir(candidate) and os.access(candidate, os.W_OK | os.X_OK):
            return Path(candidate)
    return Path(tempfile.gettempdir())


def vacuum_space_needed(*, database_dir: Path, temp_dir: Path, live_bytes: int) -> dict[Path, tuple[int, int]]:
    """Free space VACUUM needs, per file system: {folder: (needed, free)}.

    VACUUM builds a copy of the live pages in the temp folder, then writes
    them back through the journal (the -wal file in WAL mode, the rollback
    journal otherwise) next to the database; a tenth is added for page
    overheads.
    """
    each = live_bytes + live_bytes // 10
    needs: dict[int, tuple[Path, int]] = {}
    for folder, amount in ((temp_dir, each), (database_dir, each)):
        device = folder.stat().st_dev
        known = needs.get(device)
        needs[device] = (known[0] if known else folder, (known[1] if known else 0) + amount)
    return {folder: (needed, shutil.disk_usage(folder).free) for folder, needed in needs.values()}


class SQLiteMaintenance(Maintenance):
    def vacuum(self, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
        return vacuum_sqlite(self.engine, full=full, dry_run=dry_run, say=say)


def vacuum_sqlite(engine: SQLiteEngine, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
    started = time.monotonic()
    path = engine.path()
    if path is None:
        raise MaintenanceError("in-memory database: there is nothing on disk to vacuum")
    if not path.is_file():
        raise MaintenanceError(f"the database file {path} does not exist")
    writable = can_write(path.parent) and can_write(path)
    if not dry_run and not writable:
        raise MaintenanceError(f"{path} or its folder is not writable by this process")
    timeout = engine.busy_timeout()
    try:
        conn = engine.open_file(mode="rw" if writable else "ro", timeout=timeout)
        if dry_run:
            conn.execute("PRAGMA query_only=ON")
        journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
    except Database.Error as exc:
        raise MaintenanceError(f"SQLite cannot open {path}: {first_line(exc)}") from exc
    result = VacuumResult(engine.alias, engine.vendor, sqlite_files_size(path), 0, 0.0, dry_run)
    say(f"{path}: {human_bytes(result.size_before)} on disk, journal mode {journal_mode}")
    try:
        _vacuum_open_sqlite(conn, path, result, journal_mode=journal_mode, timeout=timeout, full=full, say=say)
    except Database.Error as exc:
        raise MaintenanceError(f"SQLite failed on {path}: {first_line(exc)}") from exc
    finally:
        conn.close()
    result.size_after = sqlite_files_size(path)
    result.seconds = time.monotonic() - started
    return result


def _vacuum_open_sqlite(
    conn: sqlite.Connection,
    path: Path,
    result: VacuumResult,
    *,
    journal_mode: str,
    timeout: float,
    full: bool,
    say: Say,
) -> None:
    wal = journal_mode == "wal"
    prefix = "would run" if result.dry_run else "ran"

    # TRUNCATE empties the WAL; PASSIVE while Litestream replicates (it
    # resets the WAL itself; dbtools/replication.py says why).
    pragma = f"PRAGMA wal_checkpoint({replication.checkpoint_mode()})"

    def checkpoint() -> None:
        if result.dry_run:
            say(f"{prefix}: {pragma}")
            return
        busy, in_wal, copied = _timed(say, pragma, lambda: conn.execute(pragma).fetchone())
        if busy:
            warning = (
                f"the WAL could not be emptied ({copied} of {in_wal} pages copied back): another connection "
                "holds an old read snapshot; run dbvacuum again once it ends"
            )
            result.warnings.append(warning)

    if full:
        try:
            rows = [str(row[0]) for row in conn.execute("PRAGMA quick_check")]
        except Database.DatabaseError as exc:  # damage bad enough that the check itself stops
            rows = [first_line(exc)]
        if rows != ["ok"]:
            raise MaintenanceError(
                f"quick_check found corruption ({rows[0].splitlines()[-1][:200]}): VACUUM refused, since rebuilding "
                "a damaged file can lose rows. Run python manage.py dbcheck --full and restore from a backup"
            )
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        page_count = int(conn.execute("PRAGMA page_count").fetchone()[0])
        freelist = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        live = (page_count - freelist) * page_size
        needs = vacuum_space_needed(database_dir=path.parent, temp_dir=sqlite_temp_dir(), live_bytes=live)
        short = [
            f"{folder}: needs {human_bytes(needed)}, {human_bytes(free)} free"
            for folder, (needed, free) in needs.items()
            if free < needed
        ]
        if short:
            raise MaintenanceError(f"not enough free disk for VACUUM ({'; '.join(short)}); nothing was changed")
        say(
            f"free disk covers VACUUM ({', '.join(f'{f}: {human_bytes(n)} needed' for f, (n, _) in needs.items())}); "
            f"{freelist:,} free pages ({human_bytes(freelist * page_size)}) to give back"
        )
        say(
            "VACUUM rewrites the whole file and holds the write lock while it runs: writers wait "
            f"(up to the busy timeout, {timeout:g} s, then fail with 'database is locked'); readers carry on"
        )
        if result.dry_run:
            say(f"{prefix}: VACUUM")
        else:
            _timed(say, "VACUUM", lambda: conn.execute("VACUUM"))
    # Before 3.46, PRAGMA optimize on a new connection skips every table (it
    # only considers tables the connection has queried): ANALYZE instead.
    new_optimize = Database.sqlite_version_info >= OPTIMIZE_ALL_TABLES_SINCE
    statement = "PRAGMA optimize=0x10002" if new_optimize else "ANALYZE"
    if result.dry_run:
        say(f"{prefix}: PRAGMA analysis_limit=400; {statement}")
    else:
        # analysis_limit bounds the work per index, as SQLite recommends.
        conn.execute("PRAGMA analysis_limit=400")
        _timed(say, f"{statement} (planner statistics)", lambda: conn.execute(statement))
    if wal:
        # Last, so that it also empties what VACUUM and ANALYZE wrote: in WAL
        # mode VACUUM writes the new pages to the -wal file, and the database
        # file only shrinks once they are copied back.
        checkpoint()


# --- PostgreSQL and MariaDB/MySQL ------------------------------------------------


class ServerMaintenance(Maintenance):
    def connect(self) -> BaseDatabaseWrapper:
        try:
            return self.engine.open_side_connection()
        except Exception as exc:  # OperationalError and friends: the server is not there
            raise MaintenanceError(
                f"the database server {self.engine.describe()} does not answer: {first_line(exc)}"
            ) from exc


def _postgresql_size(conn: BaseDatabaseWrapper, tables: list[str]) -> int:
    with conn.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false)) AND c.relname = ANY(%s)",
            [tables],
        )
        return int(cursor.fetchone()[0])


class PostgreSQLMaintenance(ServerMaintenance):
    def vacuum(self, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
        return vacuum_postgresql(self.engine, self.connect(), full=full, dry_run=dry_run, say=say)


def vacuum_postgresql(
    engine: Engine, conn: BaseDatabaseWrapper, *, full: bool, dry_run: bool, say: Say
) -> VacuumResult:
    started = time.monotonic()
    try:
        tables = engine.project_tables(conn)
        result = VacuumResult(engine.alias, engine.vendor, _postgresql_size(conn, tables), 0, 0.0, dry_run)
        say(f"{engine.describe()}: {len(tables)} project tables, {human_bytes(result.size_before)}")
        options = "FULL, ANALYZE" if full else "ANALYZE"
        if full:
            say(
                "VACUUM FULL rewrites each table under an exclusive lock: reads and writes of that table wait "
                "until it is done, and the server needs free disk for a copy of the table"
            )
        for table in tables:
            # VACUUM cannot run inside a transaction: this private connection
            # is in autocommit.
            statement = f"VACUUM ({options}) {conn.ops.quote_name(table)}"
            if dry_run:
                say(f"would run: {statement}")
                continue
            try:
                with conn.cursor() as cursor:
                    _timed(say, statement, lambda cursor=cursor, statement=statement: cursor.execute(statement))
            except Exception as exc:  # a lock timeout or a permission error names the table
                raise MaintenanceError(f"{statement} failed: {first_line(exc)}") from exc
        result.size_after = _postgresql_size(conn, tables)
    finally:
        conn.close()
    result.seconds = time.monotonic() - started
    return result


def _mysql_size(conn: BaseDatabaseWrapper, tables: list[str]) -> int:
    """Bytes the tables take on disk: the InnoDB tablespace files when each
    table has its own (the default), else the table statistics, which lag
    behind until ANALYZE TABLE refreshes them."""
    if not tables:
        return 0
    placeholders = ", ".join(["%s"] * len(tables))
    with conn.cursor() as cursor:
        cursor.execute("SELECT DATABASE()")
        schema = cursor.fetchone()[0]
        names = [f"{schema}/{table}" for table in tables]
        # MariaDB and MySQL 5.7 name the view INNODB_SYS_TABLESPACES, MySQL 8 INNODB_TABLESPACES.
        for view in ("INNODB_SYS_TABLESPACES", "INNODB_TABLESPACES"):
            try:
                cursor.execute(
                    f"SELECT COUNT(*), COALESCE(SUM(FILE_SIZE), 0) FROM information_schema.{view}"  # noqa: S608
                    f" WHERE NAME IN ({placeholders})",
                    names,
                )
            except Exception:  # noqa: S112 (this server names the view differently)
                continue
            found, size = cursor.fetchone()
            if found == len(tables):
                return int(size)
        cursor.execute(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"  # noqa: S608
            f" WHERE table_schema = DATABASE() AND table_name IN ({placeholders})",
            tables,
        )
        return int(cursor.fetchone()[0])


class MySQLMaintenance(ServerMaintenance):
    def vacuum(self, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
        return vacuum_mysql(self.engine, self.connect(), full=full, dry_run=dry_run, say=say)


def vacuum_mysql(engine: Engine, conn: BaseDatabaseWrapper, *, full: bool, dry_run: bool, say: Say) -> VacuumResult:
    started = time.monotonic()
    try:
        tables = engine.project_tables(conn)
        result = VacuumResult(engine.alias, engine.vendor, _mysql_size(conn, tables), 0, 0.0, dry_run)
        say(f"{engine.describe()}: {len(tables)} project tables, {human_bytes(result.size_before)}")
        operations = ["OPTIMIZE", "ANALYZE"] if full else ["ANALYZE"]
        if full:
            say(
                "OPTIMIZE TABLE rebuilds each table (InnoDB: recreate + analyze, online: reads and writes carry on, "
                "with a brief lock at the start and the end); the server needs free disk for a copy of each table"
            )
        quoted = ", ".join(conn.ops.quote_name(t) for t in tables)
        for operation in operations:
            statement = f"{operation} TABLE {quoted}"
            if dry_run or not tables:
                say(f"would run: {statement}")
                continue
            with conn.cursor() as cursor:
                _timed(say, f"{operation} TABLE ({len(tables)} tables)", lambda c=cursor, s=statement: c.execute(s))
                rows = cursor.fetchall()
            errors = []
            for table, _op, msg_type, msg_text in rows:
                kind = str(msg_type).lower()
                if kind == "error":
                    errors.append(f"{table}: {msg_text}")
                elif kind == "status":
                    say(f"  {table.split('.', 1)[-1]}: {msg_text}")
            if errors:
                raise MaintenanceError(f"{operation} TABLE failed: {'; '.join(errors)}")
        result.size_after = _mysql_size(conn, tables)
    finally:
        conn.close()
    result.seconds = time.monotonic() - started
    return result
