"""PostgreSQL: pg_dump's custom format inside the snapshot the row counts
were read in; restores replayed by psql in one transaction that checks the
row counts before it commits."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from dbtools.backup.base import (
    CHUNK,
    BackupError,
    Connector,
    Dump,
    Restored,
    fsync_file,
    manifest_tables,
    new_private_file,
    run_checked,
    sha256_file,
    tool,
)
from dbtools.engines import latest_migrations


class PostgreSQLConnector(Connector):
    suffix = ".pgdump"
    # A custom-format archive compresses itself; gzip on top would only spend CPU.
    gzips = False

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

    def dump(self, workdir: Path, *, compress: bool, verify: str) -> Dump:
        pg_dump = tool("pg_dump")
        target = new_private_file(workdir, ".backup-", ".partial")
        try:
            # Count rows inside the very snapshot pg_dump reads: a REPEATABLE
            # READ transaction exports it and pg_dump --snapshot joins it.
            with self.engine.side_connection() as conn, conn.cursor() as cursor:
                cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                snapshot = cursor.fetchone()[0]
                names = self.engine.table_names(cursor, conn)
                counts = self.engine.count_rows(cursor, names)
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
            # pg_dump wrote the archive from the snapshot the counts come from;
            # the restore checks them before it commits.
            return Dump(
                target, sha256_file(target), "pg_custom", counts, latest_migrations(rows), version, verified="pg_dump"
            )
        except BaseException:
            target.unlink(missing_ok=True)
            raise

    def check_dump(self, path: Path, compression: str) -> None:
        with open(path, "rb") as fh:
            if fh.read(5) != b"PGDMP":
                raise BackupError(f"{path.name} is not a PostgreSQL custom-format dump.")
        self.archive_tables(path)

    def archive_tables(self, path: Path) -> set[str]:
        """The tables in the archive's table of contents (``pg_restore
        --list``, which reads the whole list: a truncated or damaged archive
        fails here, before anything is dropped)."""
        listing = subprocess.run(  # noqa: S603
            [tool("pg_restore"), "--list", str(path)], capture_output=True, check=False
        )
        if listing.returncode != 0:
            detail = listing.stderr.decode(errors="replace").strip() or f"exit status {listing.returncode}"
            raise BackupError(f"Reading {path.name} with pg_restore failed: {detail}")
        # Entries read "<id>; <oid> <oid> TABLE <schema> <name> <owner>".
        text = listing.stdout.decode(errors="replace")
        return {match.group(1) for match in re.finditer(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", text, re.MULTILINE)}

    @staticmethod
    def verification_sql(expected: dict[str, int]) -> str:
        """A statement that fails (and so rolls the restore back) unless the
        replayed tables and their row counts are the manifest's. The names
        and counts passed ``manifest_tables``: plain identifiers and integers."""
        count_check = [
            "IF (SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = ANY (current_schemas(false))) "  # noqa: S608
            f"<> {len(expected)} THEN RAISE EXCEPTION 'Row counts differ from the manifest: the backup does not "
            f"hold the {len(expected)} tables the manifest names'; END IF;"
        ]
        checks = []
        for name, count in sorted(expected.items()):
            checks.append(
                f"IF to_regclass('\"{name}\"') IS NULL THEN RAISE EXCEPTION 'Row counts differ from the manifest: "
                f"{name} is not in the backup'; END IF;"
            )
            checks.append(
                f'SELECT count(*) INTO found FROM "{name}"; IF found <> {count} THEN RAISE EXCEPTION '  # noqa: S608
                f"'Row counts differ from the manifest for: {name} (% in the backup, {count} in the manifest)', "
                "found; END IF;"
            )
        return "DO $verify$ DECLARE found bigint; BEGIN " + " ".join(checks + count_check) + " END $verify$;"

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
        """One transaction: drop the current tables, replay the archive,
        check the tables and row counts against the manifest, and COMMIT only
        once all of it succeeded. If anything fails, or this process is
        killed, psql's session ends without COMMIT and PostgreSQL rolls
        everything back: other sessions never see the dropped tables."""
        expected = manifest_tables(expected)
        missing = sorted(set(expected) - self.archive_tables(path))
        if missing:
            raise BackupError(
                f"Row counts differ from the manifest: {', '.join(missing)} not in the backup; nothing was changed."
            )
        verification = self.verification_sql(expected)
        pg_restore, psql = tool("pg_restore"), tool("psql")
        env = self.env()
        # The safety backup must run before the transaction: pg_dump would
        # wait for the locks of the tables it drops.
        before_replacing()
        self.connection.close()
        with self.engine.side_connection() as conn, conn.cursor() as cursor:
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
            quote = self.engine.quote
            prelude = ["BEGIN;"]
            prelude += [f"DROP TABLE IF EXISTS {quote(schema)}.{quote(table)} CASCADE;" for schema, table in existing]
            prelude += [
                f"DROP FUNCTION IF EXISTS {quote(schema)}.{quote(name)}({args}) CASCADE;"
                for schema, name, args in functions
            ]
        self.report("Replaying the archive through psql in one transaction ...")
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
                    # pg_restore's output resets search_path; the checks name
                    # the tables as the application sees them.
                    consumer.stdin.write(b"\nRESET search_path;\n" + verification.encode() + b"\nCOMMIT;\n")
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
        return Restored(self.engine.row_counts())
