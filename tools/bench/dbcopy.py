"""Benchmark: move the demo data set (2,000 users, 100,000 posts) from SQLite
to PostgreSQL with ``manage.py dbcopy`` and with ``dumpdata | loaddata``, in
one run, and print wall time and peak memory (max RSS) of each.

    make bench-dbcopy          # or: python -m tools.bench.dbcopy [--posts N]

Needs a PostgreSQL server and the psycopg driver (requirements-postgres.txt).
BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/bench_dbcopy)
names the target database; it is dropped and created again for each method.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_dbcopy"


def manage(*args: str, database_url: str, stdin=None, stdout=None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "benchmark-only", "DEBUG": "false"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, stdin=stdin, stdout=stdout
    )


def wait(process: subprocess.Popen) -> int:
    """Wait for one child and return its peak RSS in KiB (Linux ru_maxrss)."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{process.args[2:]} failed with exit code {process.returncode}")
    return usage.ru_maxrss


def run(*args: str, database_url: str) -> tuple[float, int]:
    started = time.perf_counter()
    peak = wait(manage(*args, database_url=database_url))
    return time.perf_counter() - started, peak


def recreate(url: str) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    run("migrate", "--noinput", "-v", "0", database_url=url)


def check_posts(url: str, expected: int, method: str) -> None:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT COUNT(*) FROM posts_post").fetchone()[0]
    if found != expected:
        raise SystemExit(f"{method} left {found:,} posts in the target, expected {expected:,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=100_000)
    args = parser.parse_args()
    target = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL)

    with tempfile.TemporaryDirectory(prefix="bench-dbcopy-") as tmp:
        source = f"sqlite:///{tmp}/source.sqlite3"
        print(f"Source: SQLite with {args.users:,} users and {args.posts:,} posts; target: {target}", flush=True)
        run("migrate", "--noinput", "-v", "0", database_url=source)
        run("seed_demo", "--users", str(args.users), "--posts", str(args.posts), "-v", "0", database_url=source)

        recreate(target)
        copy_seconds, copy_peak = run(
            "dbcopy", "--from", source, "--to", target, "--noinput", "-v", "0", database_url=source
        )
        check_posts(target, args.posts, "dbcopy")
        print(f"dbcopy: {copy_seconds:.1f} s, peak {copy_peak / 1024:.0f} MB", flush=True)

        # The usual way: dumpdata (without the rows migrate creates) piped into loaddata.
        recreate(target)
        started = time.perf_counter()
        dump = manage(
            "dumpdata",
            "--natural-foreign",
            "--exclude",
            "contenttypes",
            "--exclude",
            "auth.permission",
            database_url=source,
            stdout=subprocess.PIPE,
        )
        load = manage("loaddata", "--format", "json", "-v", "0", "-", database_url=target, stdin=dump.stdout)
        dump.stdout.close()  # loaddata owns the pipe now
        dump_peak, load_peak = wait(dump), wait(load)
        pipe_seconds = time.perf_counter() - started
        check_posts(target, args.posts, "loaddata")
        print(
            f"dumpdata | loaddata: {pipe_seconds:.1f} s, peak {dump_peak / 1024:.0f} MB (dumpdata) / "
            f"{load_peak / 1024:.0f} MB (loaddata)",
            flush=True,
        )

    today = datetime.now(timezone.utc).date().isoformat()
    print()
    print("| Date | Method | Rows | Time | Peak memory | Speed-up |")
    print("| --- | --- | --- | --- | --- | --- |")
    print(
        f"| {today} | `dbcopy` | {args.posts:,} posts | {copy_seconds:.1f} s | {copy_peak / 1024:.0f} MB | "
        f"{pipe_seconds / copy_seconds:.1f}x |"
    )
    print(
        f"| {today} | `dumpdata \\| loaddata` | {args.posts:,} posts | {pipe_seconds:.1f} s | "
        f"{max(dump_peak, load_peak) / 1024:.0f} MB | 1.0x |"
    )
    print()
    print(
        f"Targets: under 20 s ({'met' if copy_seconds < 20 else 'NOT met'}), "
        f"10x faster ({'met' if pipe_seconds >= 10 * copy_seconds else 'NOT met'}), "
        f"under 150 MB ({'met' if copy_peak < 150 * 1024 else 'NOT met'})."
    )


if __name__ == "__main__":
    main()
