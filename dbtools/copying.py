"""Copy every table of every installed app from one database to another.

The engine behind ``manage.py dbcopy``. Each side is a database alias or a URL
(a URL gets a temporary connection alias for the duration of the copy). The
design, and why:

- The source is read in one read-only snapshot transaction (PostgreSQL and
  MariaDB refuse writes in it, SQLite runs with ``query_only``), in keyset
  pages (``WHERE pk > last ORDER BY pk LIMIT n``): memory stays bounded by the
  batch size, not the table size, on every engine.
- Values pass through the ORM's field converters on both sides, so a SQLite
  datetime string becomes a PostgreSQL ``timestamptz`` and a MariaDB ``tinyint``
  becomes a boolean. Rows are written the target engine's fastest way
  (``Engine.row_writer``: one streamed ``COPY`` per table on PostgreSQL,
  multi-row ``INSERT`` on MariaDB, a prepared ``INSERT`` on SQLite) with the
  target fields' ``get_db_prep_save``, not through ``bulk_create``: that
  would run ``pre_save`` and overwrite every ``auto_now`` timestamp with the
  time of the copy. Around the load the engine may set aside what it builds
  faster once than row by row (``Engine.set_aside_for_load``: PostgreSQL's
  secondary indexes and foreign keys), inside the same transaction.
- Everything written to the target happens in one transaction: replacing old
  data, the copy, the checks. A failure anywhere rolls all of it back, so the
  target is left exactly as it was.
- Verification reads the copied rows back from the target and compares row
  counts and an order-independent checksum of every value with the source.

Our own code rather than ``dumpdata | loaddata``: ``loaddata`` reads a JSON
fixture whole into memory and saves it a row at a time, and nothing checks
the copy against the source; ``make bench-dbcopy`` measures both.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from datetime import timezone as dt_timezone
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.color import no_style
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from dbtools.engines import Engine, EngineError, SQLiteEngine, engine_class, engine_for
from project.db import database_from_url
from project.progress import Progress

# Rows that `migrate` itself creates (post_migrate signals) in every fresh
# database. They do not count as "data" in the target, and the copy always
# replaces them with the source's, whose ids the other tables refer to.
CREATED_BY_MIGRATE = {"contenttypes.contenttype", "auth.permission", "sites.site"}
# Rows that the target's own triggers write while the copy runs (the API's
# data version, posts/triggers.py): not copied, since the copy itself gives
# the target a version of its own, which is what it must have.
WRITTEN_BY_TRIGGERS = {"posts.dataversion"}
CHECKSUM_MODULUS = 2**128


class CopyError(Exception):
    """A copy that did not happen, with the reason and the target's state."""


@dataclass
class Side:
    spec: str
    alias: str
    temporary: bool

    @property
    def connection(self) -> BaseDatabaseWrapper:
        return connections[self.alias]

    @property
    def engine(self) -> Engine:
        return engine_for(self.alias)

    def describe(self) -> str:
        settings_dict = self.connection.settings_dict
        where = settings_dict.get("NAME") or ""
        if settings_dict.get("HOST"):
            where = f"{settings_dict['HOST']}:{settings_dict.get('PORT') or ''}/{where}"
        if self.temporary:
            return f"{self.spec} ({self.connection.vendor})"
        return f"{self.spec} ({self.connection.vendor} {where})"


@dataclass
class TableCopy:
    table: str
    rows: int = 0
    checksum: int = 0


@dataclass
class CopyReport:
    tables: list[TableCopy] = field(default_factory=list)
    seconds: float = 0.0
    #: Seconds per phase (PHASES), by this process's clock: time waiting for
    #: the target server counts where the wait happens (mostly "write": the
    #: end of each table's COPY on PostgreSQL; "commit": the deferred checks).
    phases: dict[str, float] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)


#: Where a copy's time goes: reading and converting the source rows, their
#: checksums, preparing and writing them, building the indexes and checking
#: the foreign keys on the target, reading the target back (row counts and checksums), the commit.
PHASES = ("read", "checksum", "write", "indexes and keys", "verify", "commit")


class PhaseClock:
    """Adds wall time to one phase at a time: ``start(name)`` ends the running
    phase and begins ``name``; ``stop()`` ends it."""

    def __init__(self, totals: dict[str, float]) -> None:
        self.totals = totals
        totals.update(dict.fromkeys(PHASES, 0.0))
        self.phase: str | None = None
        self.since = 0.0

    def start(self, phase: str | None) -> None:
        now = time.perf_counter()
        if self.phase is not None:
            self.totals[self.phase] += now - self.since
        self.phase, self.since = phase, now

    def stop(self) -> None:
        self.start(None)


# --- connections ---------------------------------------------------------------


def _is_url(spec: str) -> bool:
    return "://" in spec


def _settings_for_url(url: str, *, role: str) -> dict[str, Any]:
    try:
        config = database_from_url(url, base_dir=settings.BASE_DIR, conn_max_age=0)
    except ImproperlyConfigured as exc:
        raise CopyError(f"--{role}: {exc}") from exc
    if config["ENGINE"] == SQLiteEngine.backend:
        path = Path(config["NAME"])
        # sqlite3 would create a missing file and "copy" an empty database.
        if not path.is_file():
            raise CopyError(f"--{role}: the SQLite file {path} does not exist.")
        if role == "from":
            # No journal_mode change (a write to the file header) on the source;
            # DEFERRED so the read transaction does not take the write lock.
            config["OPTIONS"]["init_command"] = "PRAGMA query_only=ON"
            config["OPTIONS"]["transaction_mode"] = "DEFERRED"
    # configure_settings() fills in the keys Django expects; it insists on a
    # dict holding a "default" entry.
    return connections.configure_settings({"default": config})["default"]


@contextmanager
def open_side(spec: str, *, role: str) -> Iterator[Side]:
    """Resolve an alias or a URL; a URL gets a temporary alias, removed after."""
    if not _is_url(spec):
        if spec not in connections.settings:
            known = ", ".join(sorted(connections.settings)) or "none"
            raise CopyError(f"--{role}: {spec!r} is neither a URL nor a database alias (aliases: {known}).")
        yield Side(spec=spec, alias=spec, temporary=False)
        return
    alias = f"dbcopy_{role}"
    if alias in connections.settings:
        raise CopyError(f"The alias {alias!r} is reserved for dbcopy's temporary connections.")
    config = _settings_for_url(spec, role=role)
    vendor = engine_class(config["ENGINE"])
    if vendor is None:
        raise CopyError(f"--{role}: {config['ENGINE']} is not supported; use sqlite://, postgres:// or mysql:// URLs.")
    try:
        # Kept out of settings.DATABASES: it exists only in this thread, for this copy.
        connections[alias] = vendor.wrapper(config, alias)
    except EngineError as exc:
        raise CopyError(f"--{role}: {exc}") from exc
    try:
        yield Side(spec=_redact(spec), alias=alias, temporary=True)
    finally:
        connections[alias].close()
        del connections[alias]


def _redact(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        credentials = credentials.split(":", 1)[0] + ":***"
    return f"{scheme}://{credentials}{at}{host}"


# --- what to copy ----------------------------------------------------------------


def models_in_dependency_order() -> list[type[Model]]:
    """Concrete tables of every installed app, referenced tables first."""
    candidates: dict[str, type[Model]] = {}
    for model in apps.get_models(include_auto_created=True):
        opts = model._meta
        if opts.managed and not opts.proxy and not opts.swapped and opts.label_lower not in WRITTEN_BY_TRIGGERS:
            candidates.setdefault(opts.db_table, model)
    models = list(candidates.values())
    deps = {
        model: {
            f.related_model._meta.concrete_model
            for f in model._meta.local_concrete_fields
            if f.is_relation and f.related_model is not None
        }
        - {model}
        for model in models
    }
    ordered: list[type[Model]] = []
    placed: set[type[Model]] = set()
    remaining = sorted(models, key=lambda m: m._meta.label_lower)
    while remaining:
        ready = [m for m in remaining if deps[m] <= placed or not (deps[m] & set(remaining))]
        # A cycle of foreign keys: take the rest as is; foreign keys are checked
        # at the end of the transaction, not row by row.
        batch = ready or remaining
        ordered.extend(batch)
        placed.update(batch)
        remaining = [m for m in remaining if m not in placed]
    return ordered


def copied_fields(model: type[Model]) -> list:
    """The columns to copy: a table's own concrete fields, except generated
    columns, which each database computes itself (and refuses values for)."""
    return [f for f in model._meta.local_concrete_fields if not getattr(f, "generated", False)]


def target_data(target: Side, models: Iterable[type[Model]]) -> dict[str, int]:
    """Row counts of the target tables that hold data other than migrate's own."""
    found = {}
    for model in models:
        if model._meta.label_lower in CREATED_BY_MIGRATE:
            continue
        with target.connection.cursor() as cursor:
            rows = target.engine.count_rows(cursor, [model._meta.db_table])[model._meta.db_table]
        if rows:
            found[model._meta.db_table] = rows
    return found


def check_sides(source: Side, target: Side) -> list[type[Model]]:
    """Refuse what cannot work before anything is written; return the tables."""
    if source.alias == target.alias or source.engine.identity() == target.engine.identity():
        raise CopyError("--from and --to are the same database.")
    for side, role in ((source, "from"), (target, "to")):
        try:
            pending = side.engine.pending_migrations()
        except DatabaseError as exc:
            raise CopyError(f"--{role}: cannot read {side.describe()}: {exc}") from exc
        if pending:
            how = f"migrate --database {side.alias}" if not side.temporary else "DATABASE_URL=... manage.py migrate"
            raise CopyError(
                f"--{role}: {side.describe()} is not migrated to this code ({len(pending)} migrations not applied, "
                f"first {pending[0]}). Run `{how}` on it first; nothing was copied."
            )
    return models_in_dependency_order()


# --- checksums ---------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """One spelling per value whatever engine it came from."""
    if value is None or isinstance(value, (str, int)):  # bool is an int, and equal bools spell the same
        return value
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt_timezone.utc)
        return value.isoformat()
    if isinstance(value, (date, dt_time)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value.normalize())
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (uuid.UUID, timedelta)):
        return str(value)
    return repr(value)


# Values that spell the same from every engine as they are (the fast path).
_AS_IS = frozenset({str, int, bool, type(None)})


def rows_checksum(rows: Iterable[tuple]) -> int:
    """Sum of per-row digests: independent of row order, which differs between
    engines for text keys (collations)."""
    total = 0
    blake2b, as_is, canonical = hashlib.blake2b, _AS_IS, _canonical
    for row in rows:
        text = repr([v if type(v) in as_is else canonical(v) for v in row])
        total += int.from_bytes(blake2b(text.encode(), digest_size=16).digest(), "big")
    return total % CHECKSUM_MODULUS


def read_pages(conn: BaseDatabaseWrapper, model: type[Model], batch_size: int) -> Iterator[list[tuple]]:
    """All rows in primary-key order, ``batch_size`` at a time (keyset paging)."""
    fields = copied_fields(model)
    attnames = [f.attname for f in fields]
    pk_index = attnames.index(model._meta.pk.attname)
    queryset = model._base_manager.using(conn.alias).order_by("pk").values_list(*attnames)
    last = None
    while True:
        page = queryset if last is None else queryset.filter(pk__gt=last)
        rows = list(page[:batch_size])
        if not rows:
            return
        yield rows
        if len(rows) < batch_size:
            return
        last = rows[-1][pk_index]


# --- writing -------------------------------------------------------------------------


@contextmanager
def table_writer(conn: BaseDatabaseWrapper, model: type[Model]) -> Iterator[Callable[[list[tuple]], None]]:
    """A function that writes batches of source rows into ``model``'s table
    the fastest way its engine has (``Engine.row_writer``: one COPY per table
    on PostgreSQL, one prepared INSERT on SQLite, multi-row INSERTs on
    MariaDB), values through the target field's ``get_db_prep_save`` unless
    the engine takes them as read (``Engine.writes_as_read``), and without
    Django's query log (with DEBUG on it would keep every
    statement's text). Driver errors, at a call or when the block ends (the
    end of a COPY), come out as Django's ``DatabaseError``."""
    fields = copied_fields(model)
    engine = engine_for(conn)
    preparers = [
        (index, partial(f.get_db_prep_save, connection=conn))
        for index, f in enumerate(fields)
        if not engine.writes_as_read(f)
    ]

    def prepared(rows: list[tuple]) -> list[tuple] | list[list[Any]]:
        if not preparers:
            return rows
        rows = [list(row) for row in rows]
        for index, prepare in preparers:
            for row in rows:
                row[index] = prepare(row[index])
        return rows

    conn.ensure_connection()
    with conn.wrap_database_errors:
        cursor = conn.make_cursor(conn.create_cursor())
        try:
            with engine.row_writer(cursor, model._meta.db_table, [f.column for f in fields]) as write:
                yield lambda rows: write(prepared(rows))
        finally:
            cursor.close()


# --- the copy ------------------------------------------------------------------------


@contextmanager
def read_only_snapshot(conn: BaseDatabaseWrapper) -> Iterator[None]:
    """One read-only transaction on the source: a consistent snapshot, and the
    database itself refuses any write made through this connection."""
    if conn.in_atomic_block:
        raise CopyError("The source connection is inside a transaction; dbcopy must open its own.")
    conn.ensure_connection()
    engine = engine_for(conn)
    with conn.cursor() as cursor:
        engine.begin_read_only(cursor)
    try:
        with transaction.atomic(using=conn.alias):
            with conn.cursor() as cursor:
                engine.in_read_only(cursor)
            yield
    finally:
        engine.after_read_only()
        try:
            if conn.connection is not None:
                with conn.cursor() as cursor:
                    engine.end_read_only(cursor)
        except DatabaseError:
            # A broken connection cannot be restored; closing it drops the
            # read-only session state with it, and the original error stands.
            conn.close()


def copy_database(
    source: Side,
    target: Side,
    models: list[type[Model]],
    *,
    batch_size: int,
    replace: bool,
    progress_stream: Any = None,
    show_progress: bool = True,
    log: Callable[[str], None] = lambda message: None,
) -> CopyReport:
    """Copy ``models`` from source to target in one target transaction."""
    started = time.monotonic()
    report = CopyReport()
    src, dst = source.connection, target.connection
    if dst.in_atomic_block:
        raise CopyError("The target connection is inside a transaction; dbcopy must open its own.")
    tables = [m._meta.db_table for m in models]
    current: TableCopy | None = None
    clock = PhaseClock(report.phases)
    try:
        with read_only_snapshot(src), transaction.atomic(using=dst.alias), dst.constraint_checks_disabled():
            existing = target_data(target, models)
            if existing and not replace:
                raise CopyError(f"{target.describe()} already holds data ({_summary(existing)}); nothing was copied.")
            with dst.cursor() as cursor:
                # Children before parents, so foreign keys hold at every step.
                target.engine.empty_tables(cursor, tables[::-1])
            with dst.cursor() as keys_cursor, target.engine.set_aside_for_load(keys_cursor, tables):
                for model in models:
                    current = TableCopy(model._meta.db_table)
                    report.tables.append(current)
                    clock.start("read")
                    with src.cursor() as cursor:
                        total = engine_for(src).count_rows(cursor, [current.table])[current.table]
                    bar = Progress(total, current.table, stream=progress_stream, enabled=show_progress)
                    clock.start("write")
                    with table_writer(dst, model) as write:
                        pages = read_pages(src, model, batch_size)
                        while True:
                            clock.start("read")
                            rows = next(pages, None)
                            if rows is None:
                                break
                            clock.start("checksum")
                            current.checksum = (current.checksum + rows_checksum(rows)) % CHECKSUM_MODULUS
                            clock.start("write")
                            write(rows)
                            current.rows += len(rows)
                            bar.advance(len(rows))
                        clock.start("write")  # the end of the block waits for the server
                current = None
                log("Checking foreign keys, row counts and checksums on the target ...")
                clock.start("indexes and keys")
            dst.check_constraints(table_names=tables)
            clock.start("verify")
            for model, copied in zip(models, report.tables, strict=True):
                verify_table(dst, model, copied, batch_size)
            # PostgreSQL sequences do not move when ids are inserted explicitly;
            # SQLite and MariaDB advance their counters by themselves.
            with dst.cursor() as cursor:
                for statement in dst.ops.sequence_reset_sql(no_style(), models):
                    cursor.execute(statement)
            clock.start("commit")
        clock.stop()
    except CopyError as exc:
        if current is None and not report.tables:
            raise
        raise CopyError(f"{exc} The target was rolled back and holds what it held before.") from exc
    except DatabaseError as exc:
        where = f"while copying {current.table} after {current.rows:,} rows" if current else "before or after copying"
        raise CopyError(
            f"The copy failed {where}: {exc}. The target was rolled back and holds what it held before; "
            "the source was only read."
        ) from exc
    finally:
        _forget_cached_content_types()
    report.seconds = time.monotonic() - started
    return report


def verify_table(conn: BaseDatabaseWrapper, model: type[Model], expected: TableCopy, batch_size: int) -> None:
    rows = 0
    checksum = 0
    for page in read_pages(conn, model, batch_size):
        rows += len(page)
        checksum = (checksum + rows_checksum(page)) % CHECKSUM_MODULUS
    if rows != expected.rows:
        raise CopyError(
            f"Verification failed for {expected.table}: {expected.rows:,} rows read, {rows:,} on the target."
        )
    if checksum != expected.checksum:
        raise CopyError(f"Verification failed for {expected.table}: the copied rows differ from the source (checksum).")


def _summary(counts: dict[str, int]) -> str:
    parts = [f"{table}: {rows:,}" for table, rows in sorted(counts.items())]
    return ", ".join(parts[:5]) + (f" and {len(parts) - 5} more tables" if len(parts) > 5 else "")


def _forget_cached_content_types() -> None:
    # ContentType ids may have changed on the target; the manager caches them.
    if apps.is_installed("django.contrib.contenttypes"):
        from django.contrib.contenttypes.models import ContentType

        ContentType.objects.clear_cache()
