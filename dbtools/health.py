"""Database health checks behind ``manage.py dbcheck``, one checker per engine.

A check never raises: whatever goes wrong (a missing or corrupt file, a server
that does not answer, a driver that is not installed) becomes a finding with a
level, so that a monitor always gets an answer and an exit code. Nothing here
writes to the database.

SQLite is checked through its own ``sqlite3`` connection rather than Django's:
Django's connection would create an empty database when the file is missing,
and its ``init_command`` would switch the journal mode, hiding the mode the
file is really in.
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper

from dbtools import sqlite
from dbtools.engines import Engine, EngineError, engine_for, pending_migrations
from dbtools.sqlite import WAL_RESET_FIXED_IN, Database

OK = "ok"
INFO = "info"
WARNING = "warning"
PROBLEM = "problem"
LEVELS = (OK, INFO, WARNING, PROBLEM)
EXIT_CODES = {OK: 0, INFO: 0, WARNING: 1, PROBLEM: 2}

# Before 3.46, PRAGMA optimize on a fresh connection only looks at tables that
# connection has queried, which is none; dbvacuum runs ANALYZE instead.
OPTIMIZE_ALL_TABLES_SINCE: tuple[int, int, int] = (3, 46, 0)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Thresholds:
    """Where a measurement turns into a warning or a problem."""

    # SQLite runs an automatic checkpoint every 1,000 WAL pages; four times
    # that many pages not yet copied back means checkpoints are not keeping up.
    wal_pending_pages: int = 4000
    # The project's journal_size_limit: after any checkpoint that restarts the
    # WAL the file is cut back to this size, so a bigger -wal file means no
    # checkpoint has restarted it since it grew.
    wal_file_bytes: int = 64 * MIB
    # Free pages (left by deletes) as a share of the file, and a floor so that
    # a small file with a few free pages does not warn.
    free_page_share: float = 0.25
    free_page_min_bytes: int = 1 * MIB
    # Free disk against the database size: VACUUM needs about twice the data.
    disk_free_factor: float = 2.0
    # Below this much free disk, writes (and the WAL) will soon fail.
    disk_free_min_bytes: int = 64 * MIB
    # PostgreSQL: dead rows as a share of a table, with a floor in rows.
    dead_row_share: float = 0.2
    dead_row_min: int = 1000


@dataclass(frozen=True)
class Finding:
    level: str
    check: str
    message: str
    data: dict[str, Any] = field(default_factory=dict)


@dataclass
class Report:
    alias: str
    vendor: str
    findings: list[Finding] = field(default_factory=list)

    def add(self, level: str, check: str, message: str, **data: Any) -> Finding:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}")
        finding = Finding(level, check, message, data)
        self.findings.append(finding)
        return finding

    @contextmanager
    def guard(self, check: str, what: str) -> Iterator[None]:
        """Turn a database error inside one check into a problem finding, so
        that one broken check does not hide the others."""
        try:
            yield
        except Exception as exc:  # every failure is reported, none is swallowed
            self.add(PROBLEM, check, f"{what} failed: {first_line(exc)}", error=type(exc).__name__)

    @property
    def exit_code(self) -> int:
        return max((EXIT_CODES[f.level] for f in self.findings), default=0)

    @property
    def status(self) -> str:
        return {0: "healthy", 1: "warning", 2: "problem"}[self.exit_code]

    def count(self, level: str) -> int:
        return sum(1 for f in self.findings if f.level == level)

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.alias,
            "vendor": self.vendor,
            "status": self.status,
            "exit_code": self.exit_code,
            "findings": [asdict(f) for f in self.findings],
        }


def first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def version_text(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)


# --- all engines -------------------------------------------------------------


def migration_findings(report: Report, applied: set[tuple[str, str]]) -> None:
    pending = pending_migrations(applied)
    if pending:
        shown = ", ".join(pending[:5]) + (f" and {len(pending) - 5} more" if len(pending) > 5 else "")
        report.add(
            PROBLEM,
            "migrations",
            f"{len(pending)} migration(s) not applied: {shown}. Run: python manage.py migrate",
            pending=pending,
        )
    else:
        report.add(OK, "migrations", "all migrations are applied")


def check_database(alias: str, *, full: bool = False, thresholds: Thresholds | None = None) -> Report:
    """Run every check for the engine behind ``alias`` and return the findings."""
    thresholds = thresholds or Thresholds()
    try:
        engine = engine_for(alias)
    except EngineError as exc:  # e.g. the engine's driver is not installed, or no checks for it
        report = Report(alias, "unknown")
        report.add(PROBLEM, "connection", first_line(exc))
        return report
    report = Report(alias, engine.vendor)
    engine.checks().run(report, full=full, thresholds=thresholds)
    return report


class Checks:
    """One engine's health checks (``Engine.checks()`` picks the class)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def run(self, report: Report, *, full: bool, thresholds: Thresholds) -> None:
        raise NotImplementedError


# --- SQLite --------------------------------------------------------------------


def read_wal_index(shm_path: Path) -> tuple[int, int] | None:
    """(pages in the WAL, pages already copied back into the database) from the
    WAL-index header in the -shm file, or None when it cannot be read.

    The layout is SQLite's documented file format (walformat.html): two copies
    of a 48-byte header (mxFrame at offset 16) then the checkpoint info
    (nBackfill at offset 96), in the machine's byte order. The file is read,
    never locked: a snapshot is enough for monitoring, and a torn read shows
    as two header copies that differ, which is retried.
    """
    for _ in range(5):
        try:
            with open(shm_path, "rb") as fh:
                head = fh.read(136)
        except OSError:
            return None
        if len(head) < 136:
            return None
        if head[:48] == head[48:96] and head[12] == 1:  # isInit
            max_frame = struct.unpack_from("=I", head, 16)[0]
            backfilled = struct.unpack_from("=I", head, 96)[0]
            return max_frame, min(backfilled, max_frame)
        time.sleep(0.01)
    return None


def can_write(path: Path, access: Callable[..., bool] = os.access) -> bool:
    """Whether this process may write ``path`` (a read-only mount counts as not)."""
    kwargs = {"effective_ids": True} if access is os.access and os.access in os.supports_effective_ids else {}
    mode = os.W_OK | (os.X_OK if path.is_dir() else 0)
    return access(path, mode, **kwargs)


def sqlite_access_findings(report: Report, path: Path, access: Callable[..., bool] = os.access) -> bool:
    """Report whether the folder and files can be written; True when all can."""
    folder = path.parent
    ok = True
    if not can_write(folder, access):
        ok = False
        report.add(
            PROBLEM,
            "sqlite.writable",
            f"the folder {folder} is not writable by this process: SQLite must create the -wal and -shm files "
            "there, so the application cannot open the database in WAL mode",
            path=str(folder),
        )
    not_writable = [
        str(p) for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists() and not can_write(p, access)
    ]
    if not_writable:
        ok = False
        report.add(
            PROBLEM,
            "sqlite.writable",
            f"not writable by this process: {', '.join(not_writable)} (writes will fail)",
            paths=not_writable,
        )
    if ok:
        report.add(OK, "sqlite.writable", "the database file and its folder are writable")
    return ok


def disk_findings(report: Report, *, free: int, database_bytes: int, thresholds: Thresholds) -> None:
    needed = int(database_bytes * thresholds.disk_free_factor)
    data = {"free_bytes": free, "database_bytes": database_bytes}
    text = f"{human_bytes(free)} free on the database's disk, database {human_bytes(database_bytes)}"
    if free < thresholds.disk_free_min_bytes:
        report.add(PROBLEM, "disk", f"{text}: writes will soon fail", **data)
    elif free < needed:
        report.add(
            WARNING,
            "disk",
            f"{text}: less than {thresholds.disk_free_factor:g}x the database, too little for VACUUM or a backup",
            **data,
        )
    else:
        report.add(OK, "disk", text, **data)


def sqlite_version_findings(
    report: Report,
    *,
    journal_mode: str,
    library: tuple[int, int, int] = Database.sqlite_version_info,
    fixed_in: tuple[int, int, int] | None = None,
) -> None:
    fixed_in = fixed_in or WAL_RESET_FIXED_IN
    text = f"SQLite library {version_text(library)}"
    if journal_mode == "wal" and tuple(library) < tuple(fixed_in):
        report.add(
            WARNING,
            "sqlite.version",
            f"{text} is older than {version_text(fixed_in)} and the database is in WAL mode: the WAL-reset bug "
            "(a race between checkpoints and a commit that restarts the WAL) can corrupt the database. "
            "Upgrade the SQLite library Python uses",
            library=version_text(library),
            fixed_in=version_text(fixed_in),
        )
    else:
        report.add(OK, "sqlite.version", text, library=version_text(library))


def wal_findings(
    report: Report,
    *,
    wal_bytes: int,
    wal_index: tuple[int, int] | None,
    page_size: int,
    thresholds: Thresholds,
) -> None:
    data: dict[str, Any] = {"wal_bytes": wal_bytes}
    messages = []
    level = OK
    if wal_index is not None:
        in_wal, backfilled = wal_index
        pending = in_wal - backfilled
        data.update(wal_pages=in_wal, pages_not_checkpointed=pending)
        if pending > thresholds.wal_pending_pages:
            level = WARNING
            messages.append(
                f"{pending:,} pages ({human_bytes(pending * page_size)}) in the WAL are not checkpointed "
                f"(more than {thresholds.wal_pending_pages:,}): checkpoints are not keeping up, usually because "
                "a long-running read transaction holds an old snapshot; the WAL grows until it ends"
            )
    if wal_bytes > thresholds.wal_file_bytes:
        level = WARNING
        messages.append(
            f"the -wal file is {human_bytes(wal_bytes)}, above {human_bytes(thresholds.wal_file_bytes)}: "
            "no checkpoint has restarted it since it grew (python manage.py dbvacuum truncates it)"
        )
    if not messages:
        pending_text = f", {data.get('pages_not_checkpointed', 0):,} pages waiting for a checkpoint"
        messages.append(f"-wal file {human_bytes(wal_bytes)}{pending_text if wal_index else ''}")
    report.add(level, "sqlite.wal", "; ".join(messages), **data)


def free_page_findings(
    report: Report, *, page_count: int, freelist: int, page_size: int, thresholds: Thresholds
) -> None:
    share = freelist / page_count if page_count else 0.0
    free_bytes = freelist * page_size
    data = {"page_count": page_count, "free_pages": freelist, "page_size": page_size, "free_share": round(share, 4)}
    text = f"{freelist:,} of {page_count:,} pages free ({share:.0%}, {human_bytes(free_bytes)})"
    if share > thresholds.free_page_share and free_bytes >= thresholds.free_page_min_bytes:
        report.add(
            WARNING, "sqlite.free_pages", f"{text}: python manage.py dbvacuum --full gives the space back", **data
        )
    else:
        report.add(OK, "sqlite.free_pages", text, **data)


def damaged_objects(conn: sqlite.Connection, messages: list[str]) -> list[str]:
    """The tables and indexes named by integrity messages; an empty list when
    it cannot tell.

    Recent SQLite names the b-tree by its root page ("Tree 5 page 41 cell 3:
    ..."), which sqlite_master maps to a name. Older releases only name the
    page ("On tree page 41 cell 3: ..."), which the dbstat table maps when
    that SQLite has it (the bundled one is built without it).
    """
    names: list[str] = []

    def add(name: object) -> None:
        if name is not None and str(name) not in names:
            names.append(str(name))

    roots = sorted({int(m) for message in messages for m in re.findall(r"\bTree (\d+)", message)})[:20]
    try:
        for root in roots:
            add(next(iter(conn.execute("SELECT name FROM sqlite_master WHERE rootpage = ?", [root])), [None])[0])
    except Database.Error:
        return names
    if roots:
        return names
    pages = sorted({int(m) for message in messages for m in re.findall(r"\bpage (\d+)", message)})[:20]
    for page in pages:
        try:
            row = conn.execute("SELECT name FROM dbstat WHERE pageno = ?", [page]).fetchone()
        except Database.Error:
            return names  # no dbstat, or too damaged to walk
        if row:
            add(row[0])
    return names


class SQLiteChecks(Checks):
    def run(self, report: Report, *, full: bool, thresholds: Thresholds) -> None:
        path = self.engine.path()
        check_sqlite(report, path, full=full, thresholds=thresholds)
        if path is not None and self.engine.alias == "default":
            replica_findings(report, path)


def replica_findings(report: Report, path: Path) -> None:
    """The Litestream replica (REPLICA_URL) of the default database: reachable,
    holding a copy, and how far its newest change is behind the last write."""
    from dbtools import replication

    replica = replication.configured()
    if replica is None:
        report.add(INFO, "replica", "no replica is configured (REPLICA_URL)")
        return
    try:
        state = replication.status(replica, path)
    except replication.ReplicationError as exc:
        report.add(PROBLEM, "replica", str(exc), url=replica.url)
        return
    window = f"restorable from {state.window.earliest.isoformat()} to {state.window.latest.isoformat()}"
    data = {"url": replica.url, "lag_seconds": round(state.lag_seconds, 1), "max_lag_seconds": replica.max_lag_seconds}
    if state.lag_seconds > replica.max_lag_seconds:
        report.add(
            WARNING,
            "replica",
            f"{replica.url} is {state.lag_seconds:.0f} s behind the database's last write (more than "
            f"REPLICA_MAX_LAG_SECONDS={replica.max_lag_seconds}): is Litestream running? {window}",
            **data,
        )
    else:
        report.add(OK, "replica", f"{replica.url} is {state.lag_seconds:.0f} s behind; {window}", **data)


def check_sqlite(report: Report, path: Path | None, *, full: bool, thresholds: Thresholds) -> None:
    if path is None:
        report.add(INFO, "sqlite.file", "in-memory database: there is no file to check")
        return
    if not path.exists():
        report.add(
            PROBLEM,
            "sqlite.file",
            f"the database file {path} does not exist (check DATABASE_URL; python manage.py migrate creates it)",
            path=str(path),
        )
        return
    if not path.is_file():
        report.add(PROBLEM, "sqlite.file", f"{path} is not a regular file", path=str(path))
        return
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        report.add(PROBLEM, "sqlite.file", f"cannot read {path}: {exc.strerror}", path=str(path))
        return
    if not header.startswith(b"SQLite format 3\x00"):
        detail = "it is empty" if not header else "it does not start with the SQLite header"
        report.add(PROBLEM, "sqlite.file", f"{path} is not a SQLite database: {detail}", path=str(path))
        return
    wal_path = Path(f"{path}-wal")
    db_bytes = path.stat().st_size
    wal_bytes = wal_path.stat().st_size if wal_path.exists() else 0
    report.add(
        OK,
        "sqlite.file",
        f"{path} ({human_bytes(db_bytes)})",
        path=str(path),
        database_bytes=db_bytes,
    )
    writable = sqlite_access_findings(report, path)
    disk_findings(
        report, free=shutil.disk_usage(path.parent).free, database_bytes=db_bytes + wal_bytes, thresholds=thresholds
    )

    # Bytes 18-19 of the header are 2 in WAL mode.
    wal_mode_file = header[18:20] == b"\x02\x02"
    conn = _open_for_checks(report, path, writable=writable, wal_mode_file=wal_mode_file)
    if conn is None:
        return
    try:
        _check_open_sqlite(report, conn, path, full=full, thresholds=thresholds, wal_mode_file=wal_mode_file)
    finally:
        conn.close()


def _open_for_checks(report: Report, path: Path, *, writable: bool, wal_mode_file: bool) -> sqlite.Connection | None:
    def connect(mode: str, immutable: bool = False) -> sqlite.Connection:
        conn = sqlite.connect(path, mode=mode, immutable=immutable, timeout=5.0)
        try:
            # The checks only read; query_only makes sure of it. Reading the
            # schema is what fails when the file cannot be opened after all.
            conn.execute("PRAGMA query_only=ON")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        except Database.Error:
            conn.close()
            raise
        return conn

    try:
        return connect("rw" if writable else "ro")
    except Database.Error as exc:
        error = first_line(exc)
    if wal_mode_file and not writable and not Path(f"{path}-wal").exists():
        # Reading a WAL database needs its -shm file, which cannot be created
        # here. With no -wal file and a folder nobody can create one in, no
        # process can be writing: reading the file as immutable is safe.
        try:
            conn = connect("ro", immutable=True)
        except Database.Error as exc:
            error = first_line(exc)
        else:
            report.add(
                INFO,
                "sqlite.open",
                f"SQLite cannot open the WAL database normally ({error}); with no -wal file and a read-only folder "
                "nothing can be writing, so the checks below read the file as immutable",
            )
            return conn
    report.add(PROBLEM, "sqlite.open", f"SQLite cannot open {path}: {error}", path=str(path))
    return None


def _check_open_sqlite(
    report: Report,
    conn: sqlite.Connection,
    path: Path,
    *,
    full: bool,
    thresholds: Thresholds,
    wal_mode_file: bool,
) -> None:
    journal_mode = ""
    with report.guard("sqlite.journal_mode", "reading the journal mode"):
        journal_mode = str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if wal_mode_file and journal_mode != "wal":
            journal_mode = "wal"  # opened as immutable, which reports "delete"; the file says WAL
        if journal_mode == "wal":
            report.add(OK, "sqlite.journal_mode", "journal mode WAL", journal_mode=journal_mode)
        else:
            report.add(
                WARNING,
                "sqlite.journal_mode",
                f"journal mode {journal_mode!r}, not WAL: writers block readers (the project's connections switch "
                "the file to WAL when they open it)",
                journal_mode=journal_mode,
            )
    sqlite_version_findings(report, journal_mode=journal_mode)

    pragma = "integrity_check" if full else "quick_check"
    with report.guard(f"sqlite.{pragma}", f"PRAGMA {pragma}"):
        started = time.monotonic()
        # At most 100 messages: enough to name the damage, bounded on a wreck.
        rows = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}(100)")]
        elapsed = time.monotonic() - started
        if rows == ["ok"]:
            report.add(OK, f"sqlite.{pragma}", f"{pragma}: no errors ({elapsed:.2f} s)")
        else:
            # Some versions put several messages in one row, under a
            # "*** in database main ***" heading.
            errors = [
                line.strip()
                for row in rows
                for line in row.splitlines()
                if line.strip() and not line.startswith("*** in database")
            ]
            objects = damaged_objects(conn, errors)
            where = f" in {', '.join(objects)}" if objects else ""
            shown = "; ".join(errors[:2]) + (f" (and {len(errors) - 2} more)" if len(errors) > 2 else "")
            report.add(
                PROBLEM,
                f"sqlite.{pragma}",
                f"{pragma} found corruption{where}: {shown}. Restore from a backup",
                errors=errors,
                damaged=objects,
            )

    with report.guard("sqlite.foreign_keys", "PRAGMA foreign_key_check"):
        rows = conn.execute("PRAGMA foreign_key_check").fetchall()
        if rows:
            tables = sorted({f"{row[0]} -> {row[2]}" for row in rows})
            report.add(
                PROBLEM,
                "sqlite.foreign_keys",
                f"{len(rows):,} row(s) point at missing rows: {', '.join(tables)}",
                violations=len(rows),
                tables=tables,
            )
        else:
            report.add(OK, "sqlite.foreign_keys", "every foreign key points at an existing row")

    page_size = 4096
    with report.guard("sqlite.free_pages", "reading the page counts"):
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        page_count = int(conn.execute("PRAGMA page_count").fetchone()[0])
        freelist = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
        free_page_findings(report, page_count=page_count, freelist=freelist, page_size=page_size, thresholds=thresholds)

    if journal_mode == "wal":
        wal_path = Path(f"{path}-wal")
        wal_bytes = wal_path.stat().st_size if wal_path.exists() else 0
        wal_findings(
            report,
            wal_bytes=wal_bytes,
            wal_index=read_wal_index(Path(f"{path}-shm")),
            page_size=page_size,
            thresholds=thresholds,
        )

    with report.guard("migrations", "reading the applied migrations"):
        has_table = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
        ).fetchone()
        applied = set(conn.execute("SELECT app, name FROM django_migrations").fetchall()) if has_table else set()
        migration_findings(report, applied)


# --- PostgreSQL and MariaDB/MySQL ------------------------------------------------


class ServerChecks(Checks):
    """PostgreSQL and MariaDB: a connection of the checks' own, then the
    engine's checks on it."""

    def run(self, report: Report, *, full: bool, thresholds: Thresholds) -> None:
        label = self.engine.describe()
        started = time.monotonic()
        try:
            conn = self.engine.open_side_connection()
        except Exception as exc:  # OperationalError, NotSupportedError (old server), driver errors
            report.add(
                PROBLEM, "connection", f"the database server {label} does not answer: {first_line(exc)}", server=label
            )
            return
        try:
            elapsed_ms = (time.monotonic() - started) * 1000
            report.add(
                OK,
                "connection",
                f"the server {label} answers ({elapsed_ms:.0f} ms to connect and query)",
                server=label,
                milliseconds=round(elapsed_ms, 1),
            )
            self.check(report, conn, full=full, thresholds=thresholds)
            with report.guard("migrations", "reading the applied migrations"):
                migration_findings(report, self.engine.applied_migrations(conn))
        finally:
            conn.close()

    def check(self, report: Report, conn: BaseDatabaseWrapper, *, full: bool, thresholds: Thresholds) -> None:
        raise NotImplementedError


class PostgreSQLChecks(ServerChecks):
    def check(self, report: Report, conn: BaseDatabaseWrapper, *, full: bool, thresholds: Thresholds) -> None:
        with report.guard("postgresql.version", "reading the server version"), conn.cursor() as cursor:
            cursor.execute("SHOW server_version")
            version = cursor.fetchone()[0]
            cursor.execute("SHOW data_checksums")
            checksums = cursor.fetchone()[0]
            report.add(
                INFO,
                "postgresql.version",
                f"PostgreSQL {version}, data checksums {checksums}",
                version=version,
                data_checksums=checksums,
            )
        tables: list[str] = []
        with report.guard("postgresql.tables", "reading the table sizes"):
            tables = self.engine.project_tables(conn)
            with conn.cursor() as cursor:
                cursor.execute(
                    """
                    SELECT c.relname, pg_total_relation_size(c.oid),
                           COALESCE(s.n_live_tup, 0), COALESCE(s.n_dead_tup, 0)
                    FROM pg_class c
                    JOIN pg_namespace n ON n.oid = c.relnamespace
                    LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
                    WHERE c.relkind IN ('r', 'p') AND n.nspname = ANY(current_schemas(false))
                      AND c.relname = ANY(%s)
                    ORDER BY c.relname
                    """,
                    [tables],
                )
                rows = cursor.fetchall()
            for name, size, live, dead in rows:
                share = dead / (live + dead) if live + dead else 0.0
                data = {
                    "table": name,
                    "bytes": size,
                    "live_rows": live,
                    "dead_rows": dead,
                    "dead_share": round(share, 4),
                }
                text = f"{name}: {human_bytes(size)}, ~{live:,} rows, {dead:,} dead ({share:.0%})"
                if share > thresholds.dead_row_share and dead >= thresholds.dead_row_min:
                    report.add(
                        WARNING,
                        "postgresql.dead_rows",
                        f"{text}: autovacuum is behind; python manage.py dbvacuum runs VACUUM (ANALYZE)",
                        **data,
                    )
                else:
                    report.add(INFO, "postgresql.table", text, **data)
        if full:
            for table in tables:
                with report.guard("postgresql.read", f"reading every row of {table}"), conn.cursor() as cursor:
                    # A sequential scan reads every heap page, which verifies
                    # the page checksums when the cluster has them (an
                    # index-only scan would not). Session-wide on a private
                    # connection that is closed afterwards.
                    cursor.execute("SET enable_indexonlyscan = off")
                    count = self.engine.count_rows(cursor, [table])[table]
                    report.add(OK, "postgresql.read", f"{table}: read all {count:,} rows", table=table, rows=count)


class MySQLChecks(ServerChecks):
    def check(self, report: Report, conn: BaseDatabaseWrapper, *, full: bool, thresholds: Thresholds) -> None:
        with report.guard("mysql.version", "reading the server version"), conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
            name = "MariaDB" if "mariadb" in version.lower() else "MySQL"
            report.add(INFO, "mysql.version", f"{name} {version}", version=version)
        tables: list[str] = []
        with report.guard("mysql.tables", "reading the table sizes"):
            tables = self.engine.project_tables(conn)
            if tables:
                placeholders = ", ".join(["%s"] * len(tables))
                with conn.cursor() as cursor:
                    cursor.execute(
                        "SELECT table_name, engine, COALESCE(data_length, 0) + COALESCE(index_length, 0),"  # noqa: S608
                        " COALESCE(table_rows, 0), COALESCE(data_free, 0)"
                        " FROM information_schema.tables"
                        f" WHERE table_schema = DATABASE() AND table_name IN ({placeholders}) ORDER BY table_name",
                        tables,
                    )
                    rows = cursor.fetchall()
                for name, engine, size_value, rows_value, free_value in rows:
                    # Sums come back as Decimal from MySQL drivers.
                    size, rows_estimate, data_free = int(size_value), int(rows_value), int(free_value)
                    report.add(
                        INFO,
                        "mysql.table",
                        f"{name}: {human_bytes(size)} ({engine}), ~{rows_estimate:,} rows, "
                        f"{human_bytes(data_free)} free",
                        table=name,
                        bytes=size,
                        rows=rows_estimate,
                        free_bytes=data_free,
                    )
        if full and tables:
            with report.guard("mysql.check_table", "CHECK TABLE"), conn.cursor() as cursor:
                quoted = ", ".join(conn.ops.quote_name(t) for t in tables)
                cursor.execute(f"CHECK TABLE {quoted}")
                mysql_check_table_findings(report, cursor.fetchall())


def mysql_check_table_findings(report: Report, rows: list[tuple[str, str, str, str]]) -> None:
    """CHECK TABLE answers rows of (table, op, msg_type, msg_text); the last
    row per table is its status, earlier ones explain it."""
    by_table: dict[str, list[tuple[str, str]]] = {}
    for table, _op, msg_type, msg_text in rows:
        by_table.setdefault(table.split(".", 1)[-1], []).append((str(msg_type).lower(), str(msg_text)))
    for table, messages in by_table.items():
        errors = [text for kind, text in messages if kind == "error"]
        warnings = [text for kind, text in messages if kind == "warning"]
        status = messages[-1][1]
        if errors or (messages[-1][0] == "status" and status.lower() not in ("ok", "table is already up to date")):
            report.add(PROBLEM, "mysql.check_table", f"{table}: {'; '.join(errors) or status}", table=table)
        elif warnings:
            report.add(WARNING, "mysql.check_table", f"{table}: {'; '.join(warnings)}", table=table)
        else:
            report.add(OK, "mysql.check_table", f"{table}: CHECK TABLE {status}", table=table)
