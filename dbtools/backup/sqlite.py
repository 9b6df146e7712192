"""SQLite: backups through the online backup API, restores written into the
live database by the same API, every check on a staged copy first.

``SQLiteConnector.restore_file`` is the one safe path from an uncompressed
SQLite file into the live database: a decompressed backup takes it, and so
can a copy restored from a replica.
"""

from __future__ import annotations

import gzip
import os
import shutil
import threading
import zlib
from collections.abc import Callable
from pathlib import Path

from dbtools import replication, sqlite
from dbtools.backup.base import (
    CHUNK,
    GZIP_LEVEL,
    BackupError,
    Connector,
    Dump,
    HashingWriter,
    Restored,
    count_differences,
    decompress_to,
    fsync_file,
    new_private_file,
    read_failure,
    sha256_file,
)
from dbtools.engines import EngineError, SQLiteEngine, latest_migrations

HEADER = b"SQLite format 3\x00"
#: dbbackup --verify / dbrestore --verify: the PRAGMA each depth runs.
PRAGMAS = {"full": "integrity_check", "quick": "quick_check"}


def check_file(path: Path, verify: str) -> None:
    """The file is a SQLite database that passes ``integrity_check`` (full)
    or ``quick_check`` (quick: the same page and record checks without
    comparing every index with its table)."""
    with open(path, "rb") as fh:
        if fh.read(16) != HEADER:
            raise BackupError(f"{path.name} is not an SQLite database.")
    pragma = PRAGMAS[verify]
    conn = sqlite.connect(path, mode="ro")
    try:
        problems = [str(row[0]) for row in conn.execute(f"PRAGMA {pragma}")]
    except sqlite.Database.DatabaseError as exc:
        raise BackupError(f"{path.name} is not a usable SQLite database: {exc}.") from exc
    finally:
        conn.close()
    if problems != ["ok"]:
        raise BackupError(f"PRAGMA {pragma} failed on {path.name}: {'; '.join(problems[:5])}")


def file_contents(engine: SQLiteEngine, path: Path) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts per table and the latest migration per app, read from a file."""
    conn = sqlite.connect(path, mode="ro")
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'"
            )
        ]
        cursor = conn.cursor()
        counts = engine.count_rows(cursor, names)
        rows = []
        if "django_migrations" in names:
            rows = conn.execute("SELECT app, name FROM django_migrations ORDER BY id").fetchall()
    except sqlite.Database.DatabaseError as exc:
        raise BackupError(f"{path.name} cannot be read: {exc}.") from exc
    finally:
        conn.close()
    return counts, latest_migrations(rows)


class SQLiteConnector(Connector):
    suffix = ".sqlite3"
    engine: SQLiteEngine

    def live_path(self, what: str) -> Path:
        try:
            return self.engine.require_path(what)
        except EngineError as exc:
            raise BackupError(str(exc)) from exc

    def dump(self, workdir: Path, *, compress: bool, verify: str) -> Dump:
        source = self.live_path("back up")
        if not source.exists():
            raise BackupError(f"The SQLite database {source} does not exist.")
        snapshot = new_private_file(workdir, ".snapshot-", ".partial")
        pragma = PRAGMAS[verify]
        try:
            self.report(f"Copying {source.stat().st_size:,} bytes with the online backup API ...")
            version = self._snapshot(source, snapshot)
            self.report(f"Checking the copy with PRAGMA {pragma} ...")
            if compress:
                # The check runs on the uncompressed copy; gzip streams from it
                # in 1 MiB chunks, so memory stays flat whatever the size.
                check_file(snapshot, verify)
                counts, migrations = file_contents(self.engine, snapshot)
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
                return Dump(target, hashing.sha.hexdigest(), "gzip", counts, migrations, version, verified=pragma)
            # Uncompressed: the snapshot is the backup. Hash it on a second
            # thread while SQLite checks it (both release the GIL), so the
            # check costs little more than one read of the file.
            digest: dict[str, str] = {}
            hasher = threading.Thread(target=lambda: digest.setdefault("sha", sha256_file(snapshot)))
            hasher.start()
            try:
                check_file(snapshot, verify)
                counts, migrations = file_contents(self.engine, snapshot)
            finally:
                hasher.join()
            fsync_file(snapshot)
            return Dump(snapshot, digest["sha"], "none", counts, migrations, version, verified=pragma)
        except BaseException:
            snapshot.unlink(missing_ok=True)
            raise

    def _snapshot(self, source: Path, dest: Path) -> str:
        """Copy ``source`` into ``dest``; return the SQLite version that copied it."""
        # The online backup API in ONE step (pages=-1): it copies every page
        # under a single read transaction, so writers (WAL mode) carry on and
        # the copy is one consistent moment. A backup in small steps restarts
        # whenever another connection writes, and may never finish.
        src = sqlite.connect(source)
        dst = sqlite.connect(dest)
        try:
            version = str(src.execute("SELECT sqlite_version()").fetchone()[0])
            src.backup(dst, pages=-1)
            # A backup file is a single self-contained file: no WAL to lose.
            dst.execute("PRAGMA journal_mode=DELETE")
        except sqlite.Database.DatabaseError as exc:
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
        if header != HEADER:
            raise BackupError(f"{path.name} is not an SQLite database.")

    def restore(
        self,
        path: Path,
        compression: str,
        workdir: Path,
        *,
        expected: dict[str, int],
        verify: str,
        before_replacing: Callable[[], None],
    ) -> Restored:
        live = self.live_path("restore into")
        live.parent.mkdir(parents=True, exist_ok=True)
        # Decompressed next to the live database, where the space it needs is.
        staged = new_private_file(live.parent, f".{live.name}.restore-", ".partial")
        try:
            self.report(f"Staging {path.name} next to the database ...")
            decompress_to(path, compression, staged)
            counts = self.restore_file(staged, expected=expected, verify=verify, before_replacing=before_replacing)
        finally:
            staged.unlink(missing_ok=True)
        return Restored(counts)

    def restore_file(
        self,
        staged: Path,
        *,
        expected: dict[str, int] | None,
        verify: str,
        before_replacing: Callable[[], None],
    ) -> dict[str, int]:
        """Write an uncompressed SQLite file into the live database once it
        passed every check; return the row counts now in it.

        Checked first, with the live database untouched: the integrity
        PRAGMA of ``verify``, then the tables and row counts against
        ``expected`` (the manifest's; None skips that comparison). Then
        ``before_replacing()`` runs (the safety backup), and only then is the
        live database written.
        """
        live = self.live_path("restore into")
        self.report(f"Checking the staged copy with PRAGMA {PRAGMAS[verify]} ...")
        check_file(staged, verify)
        counts, _ = file_contents(self.engine, staged)
        if expected is not None and (difference := count_differences(expected, counts)):
            raise BackupError(f"{difference}. The backup does not hold what its manifest says; nothing was changed.")
        before_replacing()
        self.connection.close()
        self.report(f"Writing it into {live} in one transaction ...")
        self._write_into(staged, live)
        return counts

    def _write_into(self, staged: Path, live: Path) -> None:
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
        src = sqlite.connect(staged, mode="ro")
        dst = sqlite.connect(live, timeout=60)
        try:
            dst.execute("PRAGMA busy_timeout=60000")
            src.backup(dst, pages=-1)
            # Fold the restored pages into the main file and shrink the log
            # (leaving the log to Litestream while it replicates).
            dst.execute(f"PRAGMA wal_checkpoint({replication.checkpoint_mode()})")
        except sqlite.Database.DatabaseError as exc:
            raise BackupError(f"Restoring into {live} failed, the database is unchanged: {exc}.") from exc
        finally:
            dst.close()
            src.close()
