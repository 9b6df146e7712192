"""Engine-specific backup and restore, behind one small interface.

``connector_for(alias)`` picks the connector from the database's vendor, the
way django-dbbackup maps engines to connectors. Every connector:

- ``dump(workdir, compress=...)`` writes a consistent snapshot into a new file
  inside ``workdir`` and returns it with its sha256, row counts per table and
  the latest applied migration per app, all read from that same snapshot
  where the engine allows it;
- ``check_dump(path)`` proves a file is a complete dump of this engine before
  anything touches the live database;
- ``restore(path)`` replaces the live database with the dump, all or nothing
  where the engine allows it.

The storage side (folder, names, manifest, atomic rename, retention) lives in
``dbtools.backups`` and knows nothing about engines.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar

from django.db import connections

from dbtools.sqlite import Database

CHUNK = 1024 * 1024
GZIP_LEVEL = 6  # zlib's own default: most of level 9's ratio at a fraction of its time.


class BackupError(Exception):
    """A backup or restore could not be done; the live database is untouched."""


@dataclass
class Dump:
    path: Path
    sha256: str
    compression: str  # "gzip", "none" or "pg_custom"
    row_counts: dict[str, int]
    migrations: dict[str, str]
    server_version: str = ""
    notes: list[str] = field(default_factory=list)


# --- small pieces shared by the connectors -----------------------------------


class HashingWriter:
    """A binary file wrapper that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    # The rename is only durable once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_private_file(directory: Path, prefix: str, suffix: str = "") -> Path:
    """A new empty file readable by the owner only (0600), whatever the umask."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(name, 0o600)
    return Path(name)


@contextlib.contextmanager
def open_dump(path: Path, compression: str) -> Iterator[IO[bytes]]:
    """Read a stored dump, decompressing gzip on the fly."""
    if compression == "gzip":
        with gzip.open(path, "rb") as fh:
            yield fh
    else:
        with open(path, "rb") as fh:
            yield fh


def read_failure(path: Path, exc: BaseException) -> BackupError:
    if isinstance(exc, EOFError):
        return BackupError(f"{path.name} is truncated: the compressed stream ends early.")
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return BackupError(f"{path.name} is not a valid gzip file or is corrupt: {exc}.")
    return BackupError(f"Could not read {path.name}: {exc}.")


def decompress_to(path: Path, compression: str, dest: Path) -> None:
    try:
        with open_dump(path, compression) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise BackupError(f"No space left in {dest.parent} to stage the restore; nothing was changed.") from exc
        raise read_failure(path, exc) from exc
    except (EOFError, zlib.error) as exc:
        raise read_failure(path, exc) from exc


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(f"{' or '.join(names)} is not installed or not on PATH; it is needed for this database engine.")


def run_checked(args: list[str], *, env: dict[str, str] | None = None, what: str, **kwargs: Any) -> None:
    completed = subprocess.run(args, env=env, capture_output=True, check=False, **kwargs)  # noqa: S603
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip() or f"exit status {completed.returncode}"
        raise BackupError(f"{what} failed: {message}")


def dq(name: str) -> str:
    """An SQL identifier in double quotes (SQLite, PostgreSQL)."""
    return '"' + name.replace('"', '""') + '"'


def bq(name: str) -> str:
    """An identifier in backquotes (MariaDB/MySQL)."""
    return "`" + name.replace("`", "``") + "`"


def latest_migrations(rows: list[tuple[str, str]]) -> dict[str, str]:
    """``rows`` are (app, name) ordered by id: the last one per app wins."""
    latest: dict[str, str] = {}
    for app, name in rows:
        latest[app] = name
    return dict(sorted(latest.items()))


# --- the interface -----------------------------------------------------------


class Connector:
    engine: ClassVar[str]
    #: File suffix of a stored backup, before any ".gz".
    suffix: ClassVar[str]

    def __init__(self, alias: str) -> None:
        self.alias = alias
        self.connection = connections[alias]
        self.settings = self.connection.settings_dict
        # Progress lines for long runs (the commands send them to stderr).
        self.report: Callable[[str], None] = lambda message: None

    @property
    def database_name(self) -> str:
        return str(self.settings.get("NAME") or "")

    def dump(self, workdir: Path, *, compress: bool) -> Dump:
        raise NotImplementedError

    def check_dump(self, path: Path, compression: str) -> None:
        raise NotImplementedError

    def restore(self, path: Path, compression: str, workdir: Path) -> dict[str, int]:
        """Replace the live database; return the row counts now in it."""
        raise NotImplementedError

    def holds_data(self) -> bool:
        """Whether any table other than the migration history has a row."""
        with self.connection.cursor() as cursor:
            names = self.connection.introspection.table_names(cursor)
            qn = self.connection.ops.quote_name
            for name in names:
                if name == "django_migrations":
                    continue
                cursor.execute(f"SELECT 1 FROM {qn(name)} LIMIT 1")  # noqa: S608 (quoted identifier)
                if cursor.fetchone():
                    return True
        return False

    def live_row_counts(self) -> dict[str, int]:
        with self.connection.cursor() as cursor:
            return self._count_rows(cursor, self.connection.introspection.table_names(cursor))

    def _count_rows(self, cursor: Any, names: list[str]) -> dict[str, int]:
        qn = self.connection.ops.quote_name
        counts = {}
        for name in sorted(names):
            cursor.execute(f"SELECT COUNT(*) FROM {qn(name)}")  # noqa: S608 (quoted identifier)
            counts[name] = cursor.fetchone()[0]
        return counts


# --- SQLite ------------------------------------------------------------------

SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_connect(path: Path | str, *, timeout: float = 20.0) -> Database.Connection:
    return Database.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)


def sqlite_integrity(path: Path) -> None:
    with open(path, "rb") as fh:
        if fh.read(16) != SQLITE_HEADER:
            raise BackupError(f"{path.name} is not an SQLite database.")
    conn = sqlite_connect(path)
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
    except Database.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a usable SQLite database: {exc}.") from exc
    finally:
        conn.close()
    if problems != ["ok"]:
        raise BackupError(f"PRAGMA integrity_check failed on {path.name}: {'; '.join(problems[:5])}")


def sqlite_contents(path: Path) -> tuple[dict[str, int], dict[str, str]]:
    conn = sqlite_connect(path)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        ]
        counts = {name: conn.execute(f"SELECT COUNT(*) FROM {dq(name)}").fetchone()[0] for name in sorted(names)}  # noqa: S608
        rows = []
        if "django_migrations" in names:
            rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    finally:
        conn.close()
    return counts, latest_migrations(rows)


class SQLiteConnector(Connector):
    engine = "sqlite"
    suffix = ".sqlite3"

    @property
    def path(self) -> Path:
        name = self.database_name
        if not name or name == ":memory:" or name.startswith("file:"):
            raise BackupError(f"Database {self.alias!r} is an in-memory SQLite database; there is no file to back up.")
        return Path(name)

    def dump(self, workdir: Path, *, compress: bool) -> Dump:
        source = self.path
        if not source.exists():
            raise BackupError(f"The SQLite database {source} does not exist.")
        snapshot = new_private_file(workdir, ".snapshot-", ".partial")
        try:
            self.report(f"Copying {source.stat().st_size:,} bytes with the online backup API ...")
            version = self._snapshot(source, snapshot)
            self.report("Checking the copy with PRAGMA integrity_check ...")
            if compress:
                # The check runs on the uncompressed copy; gzip streams from it
                # in 1 MiB chunks, so memory stays flat whatever the size.
                sqlite_integrity(snapshot)
                counts, migrations = sqlite_contents(snapshot)
                self.report("Compressing (gzip) ...")
                target = new_private_file(workdir, ".backup-", ".partial")
                try:
                    with open(target, "wb") as raw:
                        hashing = HashingWriter(raw)
                        with (
                            open(snapshot, "rb") as src,
                            gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=GZIP_LEVEL, mtime=0) as gz,
                        ):
                            shutil.copyfileobj(src, gz, CHUNK)
                        raw.flush()
                        os.fsync(raw.fileno())
                except BaseException:
                    target.unlink(missing_ok=True)
                    raise
                snapshot.unlink()
                return Dump(target, hashing.sha.hexdigest(), "gzip", counts, migrations, version)
            # Uncompressed: the snapshot is the backup. Hash it on a second
            # thread while SQLite checks it (both release the GIL), so the
            # check costs little more than one read of the file.
            digest: dict[str, str] = {}
            hasher = threading.Thread(target=lambda: digest.setdefault("sha", sha256_file(snapshot)))
            hasher.start()
            try:
                sqlite_integrity(snapshot)
                counts, migrations = sqlite_contents(snapshot)
            finally:
                hasher.join()
            fsync_file(snapshot)
            return Dump(snapshot, digest["sha"], "none", counts, migrations, version)
        except BaseException:
            snapshot.unlink(missing_ok=True)
            raise

    def _snapshot(self, source: Path, dest: Path) -> str:
        """Copy ``source`` into ``dest``; return the SQLite version that copied it."""
        # The online backup API in ONE step (pages=-1): it copies every page
        # under a single read transaction, so writers (WAL mode) carry on and
        # the copy is one consistent moment. A backup in small steps restarts
        # whenever another connection writes, and may never finish.
        src = sqlite_connect(source)
        dst = sqlite_connect(dest)
        try:
            version = str(src.execute("SELECT sqlite_version()").fetchone()[0])
            src.backup(dst, pages=-1)
            # A backup file is a single self-contained file: no WAL to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
        except Database.DatabaseError as exc:
            raise BackupError(f"SQLite backup of {source} failed: {exc}.") from exc
        finally:
            dst.close()
            src.close()
        return version

    def check_dump(self, path: Path, compression: str) -> None:
        if compression == "gzip":
            try:
                with gzip.open(path, "rb") as fh:
                    header = fh.read(16)
            except (OSError, EOFError, zlib.error) as exc:
                raise read_failure(path, exc) from exc
        else:
            with open(path, "rb") as fh:
                header = fh.read(16)
        if header != SQLITE_HEADER:
            raise BackupError(f"{path.name} is not an SQLite database.")

    def restore(self, path: Path, compression: str, workdir: Path) -> dict[str, int]:
        live = self.path
        live.parent.mkdir(parents=True, exist_ok=True)
        # Decompress next to the live database, then check the copy fully
        # before the live database is touched.
        staged = new_private_file(live.parent, f".{live.name}.restore-", ".partial")
        try:
            self.report(f"Staging {path.name} next to the database and checking it ...")
            decompress_to(path, compression, staged)
            sqlite_integrity(staged)
            counts, _ = sqlite_contents(staged)
            self.connection.close()
            self.report(f"Writing it into {live} in one transaction ...")
            self._swap_in(staged, live)
        finally:
            staged.unlink(missing_ok=True)
        return counts

    def _swap_in(self, staged: Path, live: Path) -> None:
        """Replace the live database's content with ``staged`` in one write
        transaction of the live database.

        The file is never overwritten or renamed underneath SQLite: the online
        backup API writes into the live database through its own journal (the
        -wal in WAL mode) and commits once. Killed at any moment before that
        commit, the live database is the old one, whole; after it, the new
        one. A stale -wal cannot replay old pages onto the new content, because
        there is no new file for it to be replayed onto, and every other
        connection (a running app server) sees the new content at its next
        transaction instead of writing into a file that was swapped away.
        """
        src = sqlite_connect(staged)
        dst = sqlite_connect(live, timeout=60)
        try:
            dst.execute("PRAGMA busy_timeout=60000")
            src.backup(dst, pages=-1)
            # Fold the restored pages into the main file and shrink the log.
            dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except Database.DatabaseError as exc:
            raise BackupError(f"Restoring into {live} failed, the database is unchanged: {exc}.") from exc
        finally:
            dst.close()
            src.close()


# --- PostgreSQL --------------------------------------------------------------


class PostgreSQLConnector(Connector):
    engine = "postgresql"
    suffix = ".pgdump"

    def env(self) -> dict[str, str]:
        """libpq settings through the environment, so that no credential ever
        appears on a command line (visible to every user in ``ps``)."""
        s, options = self.settings, self.settings.get("OPTIONS", {})
        env = dict(os.environ)
        pairs = {
            "PGHOST": s.get("HOST"),
            "PGPORT": s.get("PORT"),
            "PGUSER": s.get("USER"),
            "PGPASSWORD": s.get("PASSWORD"),
            "PGDATABASE": s.get("NAME"),
            "PGSSLMODE": options.get("sslmode"),
            "PGSSLROOTCERT": options.get("sslrootcert"),
            "PGSSLCERT": options.get("sslcert"),
            "PGSSLKEY": options.get("sslkey"),
            "PGPASSFILE": options.get("passfile"),
            "PGSERVICE": options.get("service"),
        }
        env.update({key: str(value) for key, value in pairs.items() if value})
        return env

    def dump(self, workdir: Path, *, compress: bool) -> Dump:
        pg_dump = tool("pg_dump")
        target = new_private_file(workdir, ".backup-", ".partial")
        try:
            # Count rows inside the very snapshot pg_dump reads: a REPEATABLE
            # READ transaction exports it and pg_dump --snapshot joins it.
            with self._new_connection() as conn, conn.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                cursor.execute(
                    "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = ANY (current_schemas(false))"
                )
                names = [row[0] for row in cursor.fetchall()]
                counts = {}
                for name in sorted(names):
                    cursor.execute(f"SELECT COUNT(*) FROM {dq(name)}")  # noqa: S608 (quoted identifier)
                    counts[name] = cursor.fetchone()[0]
                rows = []
                if "django_migrations" in names:
                    cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
                    rows = cursor.fetchall()
                cursor.execute("SHOW server_version")
                version = cursor.fetchone()[0]
                args = [pg_dump, "--format=custom", f"--snapshot={snapshot}", "--no-owner", "--no-privileges"]
                args += ["--compress=6" if compress else "--compress=0", f"--file={target}"]
                self.report("Running pg_dump ...")
                run_checked(args, env=self.env(), what="pg_dump")
                cursor.execute("COMMIT")
            fsync_file(target)
            # A custom-format archive compresses itself; gzip on top would
            # only spend CPU, so the stored file is pg_dump's own.
            return Dump(target, sha256_file(target), "pg_custom", counts, latest_migrations(rows), version)
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _new_connection(self) -> Iterator[Any]:
        # A connection of our own: the dump's snapshot transaction must not
        # mix with whatever Django's shared connection is doing.
        conn = self.connection.get_new_connection(self.connection.get_connection_params())
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def check_dump(self, path: Path, compression: str) -> None:
        with open(path, "rb") as fh:
            if fh.read(5) != b"PGDMP":
                raise BackupError(f"{path.name} is not a PostgreSQL custom-format dump.")
        # Reads the archive's table of contents: a truncated or damaged
        # archive fails here, before anything is dropped.
        run_checked([tool("pg_restore"), "--list", str(path)], what=f"Reading {path.name} with pg_restore")

    def restore(self, path: Path, compression: str, workdir: Path) -> dict[str, int]:
        """One transaction: drop the current tables, replay the archive, and
        COMMIT only once pg_restore has finished without error. If anything
        fails, or this process is killed, psql's session ends without COMMIT
        and PostgreSQL rolls everything back."""
        pg_restore, psql = tool("pg_restore"), tool("psql")
        env = self.env()
        self.connection.close()
        with self._new_connection() as conn, conn.cursor() as cursor:
            cursor.execute(
                "SELECT schemaname, tablename FROM pg_catalog.pg_tables WHERE schemaname = ANY (current_schemas(false))"
            )
            existing = cursor.fetchall()
            # Functions the schema's migrations created (the search triggers'),
            # which the archive creates again; those of extensions stay.
            cursor.execute(
                "SELECT n.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid) "
                "FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace "
                "WHERE n.nspname = ANY (current_schemas(false)) AND NOT EXISTS ("
                "SELECT 1 FROM pg_catalog.pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')"
            )
            functions = cursor.fetchall()
        self.report("Replaying the archive through psql in one transaction ...")
        prelude = ["BEGIN;"]
        prelude += [f"DROP TABLE IF EXISTS {dq(schema)}.{dq(table)} CASCADE;" for schema, table in existing]
        prelude += [
            f"DROP FUNCTION IF EXISTS {dq(schema)}.{dq(name)}({args}) CASCADE;" for schema, name, args in functions
        ]
        producer = subprocess.Popen(  # noqa: S603
            [pg_restore, "--no-owner", "--no-privileges", "--file=-", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        consumer = subprocess.Popen(  # noqa: S603
            [psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", "--file=-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        consumer_err: list[bytes] = []
        err_reader = threading.Thread(target=lambda: consumer_err.append(consumer.stderr.read()))
        producer_err: list[bytes] = []
        perr_reader = threading.Thread(target=lambda: producer_err.append(producer.stderr.read()))
        err_reader.start()
        perr_reader.start()
        committed = False
        try:
            try:
                consumer.stdin.write(("\n".join(prelude) + "\n").encode())
                while chunk := producer.stdout.read(CHUNK):
                    consumer.stdin.write(chunk)
                if producer.wait() == 0:
                    consumer.stdin.write(b"\nCOMMIT;\n")
                    committed = True
                consumer.stdin.close()
            except BrokenPipeError:
                committed = False  # psql stopped on an error; its session rolled back
            if not committed:
                consumer.kill()
            consumer.wait()
            producer.wait()
        finally:
            for proc in (producer, consumer):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
            err_reader.join()
            perr_reader.join()
        if producer.returncode != 0:
            detail = b"".join(producer_err).decode(errors="replace").strip()
            raise BackupError(f"pg_restore could not read {path.name}; nothing was changed: {detail}")
        if consumer.returncode != 0 or not committed:
            detail = b"".join(consumer_err).decode(errors="replace").strip()
            raise BackupError(f"Restoring {path.name} failed and was rolled back; nothing was changed: {detail}")
        return self.live_row_counts()


# --- MariaDB / MySQL ---------------------------------------------------------


class MySQLConnector(Connector):
    engine = "mysql"
    suffix = ".sql"
    TRAILER = b"-- Dump completed"

    @contextlib.contextmanager
    def option_file(self, workdir: Path) -> Iterator[Path]:
        """Credentials in a 0600 option file passed with --defaults-extra-file,
        never on the command line; removed as soon as the client exits."""
        s, options = self.settings, self.settings.get("OPTIONS", {})
        lines = ["[client]"]
        for key, value in (
            ("host", s.get("HOST")),
            ("port", s.get("PORT")),
            ("user", s.get("USER")),
            ("password", s.get("PASSWORD")),
            ("socket", options.get("unix_socket")),
            ("default-character-set", options.get("charset", "utf8mb4")),
        ):
            if value:
                escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
                lines.append(f'{key}="{escaped}"')
        path = new_private_file(workdir, ".client-", ".cnf")
        try:
            path.write_text("\n".join(lines) + "\n")
            yield path
        finally:
            path.unlink(missing_ok=True)

    def dump(self, workdir: Path, *, compress: bool) -> Dump:
        dumper = tool("mariadb-dump", "mysqldump")
        counts, rows, version = self._snapshot_facts()
        target = new_private_file(workdir, ".backup-", ".partial")
        try:
            with self.option_file(workdir) as cnf, open(target, "wb") as raw:
                hashing = HashingWriter(raw)
                out: Any = hashing
                if compress:
                    out = gzip.GzipFile(fileobj=hashing, mode="wb", compresslevel=GZIP_LEVEL, mtime=0)
                args = [
                    dumper,
                    f"--defaults-extra-file={cnf}",
                    # One consistent InnoDB snapshot without locking writers;
                    # --quick streams rows instead of buffering whole tables.
                    "--single-transaction",
                    "--quick",
                    "--skip-lock-tables",
                    "--hex-blob",
                    "--no-tablespaces",
                    self.database_name,
                ]
                self.report(f"Running {Path(dumper).name} ...")
                stderr = new_private_file(workdir, ".dump-", ".err")
                try:
                    with open(stderr, "wb") as err:
                        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)  # noqa: S603
                        tail = b""
                        while chunk := proc.stdout.read(CHUNK):
                            out.write(chunk)
                            tail = (tail + chunk)[-200:]
                        code = proc.wait()
                    message = stderr.read_text(errors="replace").strip()
                finally:
                    stderr.unlink(missing_ok=True)
                if out is not hashing:
                    out.close()
                raw.flush()
                os.fsync(raw.fileno())
            if code != 0:
                raise BackupError(f"{Path(dumper).name} failed: {message or f'exit status {code}'}")
            if self.TRAILER not in tail:
                raise BackupError(f"{Path(dumper).name} stopped before the end of the dump.")
            return Dump(
                target,
                hashing.sha.hexdigest(),
                "gzip" if compress else "none",
                counts,
                latest_migrations(rows),
                version,
                notes=["Row counts come from a consistent snapshot taken just before the dump's own."],
            )
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def _snapshot_facts(self) -> tuple[dict[str, int], list[tuple[str, str]], str]:
        conn = self.connection.get_new_connection(self.connection.get_connection_params())
        try:
            cursor = conn.cursor()
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            cursor.execute("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")
            names = [row[0] for row in cursor.fetchall()]
            counts = {}
            for name in sorted(names):
                cursor.execute(f"SELECT COUNT(*) FROM {bq(name)}")  # noqa: S608 (quoted identifier)
                counts[name] = cursor.fetchone()[0]
            rows: list[tuple[str, str]] = []
            if "django_migrations" in names:
                cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
                rows = list(cursor.fetchall())
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
            cursor.execute("COMMIT")
        finally:
            conn.close()
        return counts, rows, version

    def check_dump(self, path: Path, compression: str) -> None:
        # The dump must start like one and end with the trailer the dump tool
        # writes last: a truncated file lacks it.
        tail = b""
        head = b""
        try:
            with open_dump(path, compression) as fh:
                while chunk := fh.read(CHUNK):
                    if not head:
                        head = chunk[:200]
                    tail = (tail + chunk)[-400:]
        except (OSError, EOFError, zlib.error) as exc:
            raise read_failure(path, exc) from exc
        if b"MySQL dump" not in head and b"MariaDB dump" not in head:
            raise BackupError(f"{path.name} is not a MariaDB/MySQL dump.")
        if self.TRAILER not in tail:
            raise BackupError(f"{path.name} is incomplete: the dump's closing line is missing.")

    def restore(self, path: Path, compression: str, workdir: Path) -> dict[str, int]:
        """MariaDB cannot roll back DDL, so the dump is loaded into a staging
        database first; only when it loaded completely are the tables swapped
        with ONE ``RENAME TABLE`` statement, which is atomic. A failure while
        loading leaves the live database as it was."""
        client = tool("mariadb", "mysql")
        live = self.database_name
        staging = f"{live[:50]}_restore_tmp"
        retired = f"{live[:50]}_restore_old"
        self.connection.close()
        conn = self.connection.get_new_connection(self.connection.get_connection_params())
        try:
            cursor = conn.cursor()
            for name in (staging, retired):
                cursor.execute(f"DROP DATABASE IF EXISTS {bq(name)}")
            cursor.execute(f"CREATE DATABASE {bq(staging)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
            self.report(f"Loading {path.name} into the staging database {staging} ...")
            try:
                with self.option_file(workdir) as cnf:
                    proc = subprocess.Popen(  # noqa: S603
                        [client, f"--defaults-extra-file={cnf}", "--batch", staging],
                        stdin=subprocess.PIPE,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.PIPE,
                    )
                    errors: list[bytes] = []
                    reader = threading.Thread(target=lambda: errors.append(proc.stderr.read()))
                    reader.start()
                    try:
                        with open_dump(path, compression) as src:
                            while chunk := src.read(CHUNK):
                                proc.stdin.write(chunk)
                        proc.stdin.close()
                    except BrokenPipeError:
                        pass
                    except (OSError, EOFError, zlib.error) as exc:
                        proc.kill()
                        raise read_failure(path, exc) from exc
                    finally:
                        proc.wait()
                        reader.join()
                if proc.returncode != 0:
                    detail = b"".join(errors).decode(errors="replace").strip()
                    raise BackupError(f"Loading {path.name} failed; the live database was not touched: {detail}")
                cursor.execute(f"SHOW FULL TABLES FROM {bq(staging)} WHERE Table_type = 'BASE TABLE'")
                new_tables = [row[0] for row in cursor.fetchall()]
                cursor.execute(f"SHOW FULL TABLES FROM {bq(live)} WHERE Table_type = 'BASE TABLE'")
                old_tables = [row[0] for row in cursor.fetchall()]
                cursor.execute(f"CREATE DATABASE {bq(retired)}")
                moves = [f"{bq(live)}.{bq(t)} TO {bq(retired)}.{bq(t)}" for t in old_tables]
                moves += [f"{bq(staging)}.{bq(t)} TO {bq(live)}.{bq(t)}" for t in new_tables]
                # MariaDB refuses to move a table with triggers to another
                # database ("Trigger in wrong schema"): the triggers (the search
                # index's) are taken off both sides and the restored ones are
                # created again on the live tables right after the swap. Writes
                # in that moment run without them: one of the things MariaDB
                # cannot make atomic (see the README).
                new_triggers = self._take_off_triggers(cursor, staging)
                old_triggers = self._take_off_triggers(cursor, live)
                self.report("Swapping the restored tables in with one RENAME TABLE ...")
                try:
                    if moves:
                        # One statement: every table moves, or none does.
                        cursor.execute("RENAME TABLE " + ", ".join(moves))
                except Exception:
                    for statement in old_triggers:
                        cursor.execute(statement)
                    raise
                for statement in new_triggers:
                    cursor.execute(statement)
            finally:
                for name in (staging, retired):
                    cursor.execute(f"DROP DATABASE IF EXISTS {bq(name)}")
        finally:
            conn.close()
        return self.live_row_counts()

    @staticmethod
    def _take_off_triggers(cursor, database: str) -> list[str]:
        """Drop the triggers of ``database`` and return the statements that
        create them again on the same tables in the connection's database."""
        cursor.execute(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s ORDER BY ACTION_ORDER",
            [database],
        )
        statements = []
        for (name,) in cursor.fetchall():
            cursor.execute(f"SHOW CREATE TRIGGER {bq(database)}.{bq(name)}")
            statements.append(cursor.fetchone()[2])
            cursor.execute(f"DROP TRIGGER {bq(database)}.{bq(name)}")
        return statements


CONNECTORS: dict[str, type[Connector]] = {
    "sqlite": SQLiteConnector,
    "postgresql": PostgreSQLConnector,
    "mysql": MySQLConnector,
}


def connector_for(alias: str) -> Connector:
    vendor = connections[alias].vendor
    try:
        return CONNECTORS[vendor](alias)
    except KeyError:
        raise BackupError(f"No backup connector for the {vendor!r} database engine.") from None
