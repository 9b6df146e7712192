"""MariaDB/MySQL: mariadb-dump in one consistent snapshot; restores loaded
into a staging database, checked there, and swapped in with one RENAME TABLE."""

from __future__ import annotations

import contextlib
import gzip
import os
import subprocess
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dbtools.backup.base import (
    CHUNK,
    GZIP_LEVEL,
    BackupError,
    Connector,
    Dump,
    HashingWriter,
    Restored,
    count_differences,
    new_private_file,
    open_dump,
    read_failure,
    tool,
)
from dbtools.engines import latest_migrations

# Why a MariaDB backup's row counts are a warning, not a refusal, when they
# differ: mariadb-dump opens its own snapshot, which cannot be shared.
COUNTS_NOTE = "Row counts come from a consistent snapshot taken just before the dump's own."


class MySQLConnector(Connector):
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

    def dump(self, workdir: Path, *, compress: bool, verify: str) -> Dump:
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
                    self.engine.database_name,
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
                notes=[COUNTS_NOTE],
                verified="dump trailer",
            )
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def _snapshot_facts(self) -> tuple[dict[str, int], list[tuple[str, str]], str]:
        with self.engine.side_connection() as conn, conn.cursor() as cursor:
            cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
            names = self.base_tables(cursor, self.engine.database_name)
            counts = self.engine.count_rows(cursor, names)
            rows: list[tuple[str, str]] = []
            if "django_migrations" in names:
                cursor.execute("SELECT app, name FROM django_migrations ORDER BY id")
                rows = list(cursor.fetchall())
            cursor.execute("SELECT VERSION()")
            version = cursor.fetchone()[0]
            cursor.execute("COMMIT")
        return counts, rows, version

    def base_tables(self, cursor: Any, database: str) -> list[str]:
        cursor.execute(f"SHOW FULL TABLES FROM {self.engine.quote(database)} WHERE Table_type = 'BASE TABLE'")
        return sorted(row[0] for row in cursor.fetchall())

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
        """MariaDB cannot roll back DDL, so the dump is loaded into a staging
        database first and checked there: a table of the manifest missing
        from it refuses the restore, row counts that differ are a warning
        (see ``COUNTS_NOTE``). Only then are the tables swapped in with ONE
        ``RENAME TABLE`` statement, which is atomic. Any failure before it
        leaves the live database as it was."""
        client = tool("mariadb", "mysql")
        quote = self.engine.quote
        live = self.engine.database_name
        staging = f"{live[:50]}_restore_tmp"
        retired = f"{live[:50]}_restore_old"
        warnings = []
        self.connection.close()
        with self.engine.side_connection() as conn, conn.cursor() as cursor:
            try:
                for name in (staging, retired):
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
                cursor.execute(f"CREATE DATABASE {quote(staging)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
                self.report(f"Loading {path.name} into the staging database {staging} ...")
                self._load(client, path, compression, workdir, staging)
                new_tables = self.base_tables(cursor, staging)
                missing = sorted(set(expected) - set(new_tables))
                if missing:
                    raise BackupError(
                        f"Row counts differ from the manifest: {', '.join(missing)} not in the backup; "
                        "the live database was not touched."
                    )
                found = self.engine.count_rows(cursor, new_tables, schema=staging)
                if difference := count_differences(expected, found):
                    warnings.append(difference)
                before_replacing()
                old_tables = self.base_tables(cursor, live)
                cursor.execute(f"CREATE DATABASE {quote(retired)}")
                moves = [f"{quote(live)}.{quote(t)} TO {quote(retired)}.{quote(t)}" for t in old_tables]
                moves += [f"{quote(staging)}.{quote(t)} TO {quote(live)}.{quote(t)}" for t in new_tables]
                # MariaDB refuses to move a table with triggers to another
                # database ("Trigger in wrong schema"): the triggers (the search
                # index's) are taken off both sides and the restored ones are
                # created again on the live tables right after the swap. Writes
                # in that moment run without them: one of the things MariaDB
                # cannot make atomic (see docs/backups.md).
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
                    cursor.execute(f"DROP DATABASE IF EXISTS {quote(name)}")
        return Restored(self.engine.row_counts(), warnings)

    def _load(self, client: str, path: Path, compression: str, workdir: Path, database: str) -> None:
        with self.option_file(workdir) as cnf:
            proc = subprocess.Popen(  # noqa: S603
                [client, f"--defaults-extra-file={cnf}", "--batch", database],
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

    def _take_off_triggers(self, cursor: Any, database: str) -> list[str]:
        """Drop the triggers of ``database`` and return the statements that
        create them again on the same tables in the connection's database."""
        cursor.execute(
            "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s ORDER BY ACTION_ORDER",
            [database],
        )
        quote = self.engine.quote
        statements = []
        for (name,) in cursor.fetchall():
            cursor.execute(f"SHOW CREATE TRIGGER {quote(database)}.{quote(name)}")
            statements.append(cursor.fetchone()[2])
            cursor.execute(f"DROP TRIGGER {quote(database)}.{quote(name)}")
        return statements
