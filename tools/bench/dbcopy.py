"""Benchmark: move the demo data set (2,000 users, 100,000 posts) from SQLite
to PostgreSQL with ``manage.py dbcopy``, with pgloader (when it is installed)
and with ``dumpdata | loaddata``, in one run, and print wall time and peak
memory (max RSS) of each, and where dbcopy's time goes.

    make bench-dbcopy          # or: python -m tools.bench.dbcopy [--posts N] [--rounds N] [--no-loaddata]

Needs a PostgreSQL server and the psycopg driver (requirements-postgres.txt).
BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/bench_dbcopy)
names the target database; it is dropped, created and migrated again before
each load, so every method loads into the same freshly migrated schema.

pgloader (Debian: ``apt-get install -y pgloader``) loads data only into that
schema: its default mode, which creates the tables itself, does not fit a
schema made by ``migrate``. Its load file names the tables dbcopy copies,
truncates them first (``migrate`` fills three of them) and resets the
sequences. It does not verify what it loaded; dbcopy does, in the same time.

``--rounds`` runs dbcopy and pgloader that many times, one after the other, and
reports the fastest of each: on a shared machine the ratio of the two in the
same run is the figure that counts, not the absolute times.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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


def manage(*args: str, database_url: str, stdin=None, stdout=None, stderr=None) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": database_url, "SECRET_KEY": "benchmark-only", "DEBUG": "false"}
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        text=True,
    )


def wait(process: subprocess.Popen) -> int:
    """Wait for one child and return its peak RSS in KiB (Linux ru_maxrss;
    the child's own, threads included: each method here is one process)."""
    _pid, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{process.args[:3]} failed with exit code {process.returncode}")
    return usage.ru_maxrss


def timed(process: subprocess.Popen, started: float) -> tuple[float, int, str]:
    """(seconds, peak KiB, stdout) of a child started at ``started``."""
    output = process.stdout.read() if process.stdout else ""
    peak = wait(process)
    return time.perf_counter() - started, peak, output


def run(*args: str, database_url: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    return timed(manage(*args, database_url=database_url, stdout=subprocess.PIPE), started)


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


def dbcopy(source: str, target: str) -> tuple[float, int, dict[str, float], list[str]]:
    """One dbcopy: seconds, peak KiB, its time by phase, the tables it copied."""
    started = time.perf_counter()
    process = manage(
        "dbcopy",
        "--from",
        source,
        "--to",
        target,
        "--noinput",
        database_url=source,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # the progress bars
    )
    seconds, peak, output = timed(process, started)
    phases = {
        name: float(value)
        for name, value in re.findall(r"(\w[\w ]*?) ([\d.]+) s", _line(output, "Time by phase:").partition(":")[2])
    }
    tables = re.findall(r"^  (\w+): [\d,]+ rows$", output, flags=re.MULTILINE)
    return seconds, peak, phases, tables


def _line(output: str, prefix: str) -> str:
    return next((line for line in output.splitlines() if line.startswith(prefix)), "")


def pgloader(pgloader_bin: str, source_path: Path, target: str, tables: list[str], tmp: Path) -> tuple[float, int]:
    """pgloader's data-only load of ``tables`` into the migrated target."""
    parts = urlsplit(target)
    names = ", ".join(f"'{name}'" for name in tables)
    load = tmp / "data-only.load"
    load.write_text(
        "LOAD DATABASE\n"
        f"  FROM sqlite://{source_path}\n"
        f"  INTO {parts._replace(scheme='postgresql').geturl()}\n"
        "  WITH data only, truncate, reset sequences\n"
        f"  INCLUDING ONLY TABLE NAMES LIKE {names};\n"
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [pgloader_bin, "--root-dir", str(tmp / "pgloader"), "--quiet", str(load)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output = process.stdout.read()
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    # pgloader exits 0 after errors it logged per table; its summary says.
    if os.waitstatus_to_exitcode(status) != 0 or re.search(r"\bERROR\b|FATAL", output):
        raise SystemExit(f"pgloader failed:\n{output[-3000:]}")
    return seconds, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2, help="dbcopy and pgloader runs each (the fastest counts)")
    parser.add_argument("--no-loaddata", action="store_true", help="skip dumpdata | loaddata (minutes)")
    args = parser.parse_args()
    target = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL)
    pgloader_bin = shutil.which("pgloader")
    today = datetime.now(timezone.utc).date().isoformat()
    results: dict[str, tuple[float, int]] = {}

    with tempfile.TemporaryDirectory(prefix="bench-dbcopy-") as tmp_name:
        tmp = Path(tmp_name)
        source_path = tmp / "source.sqlite3"
        source = f"sqlite:///{source_path}"
        print(f"Source: SQLite with {args.users:,} users and {args.posts:,} posts; target: {target}", flush=True)
        if not pgloader_bin:
            print("pgloader is not installed (Debian: apt-get install -y pgloader): measuring without it.", flush=True)
        run("migrate", "--noinput", "-v", "0", database_url=source)
        run("seed_demo", "--users", str(args.users), "--posts", str(args.posts), "-v", "0", database_url=source)

        copies, loads = [], []
        for round_ in range(1, args.rounds + 1):
            recreate(target)
            seconds, peak, phases, tables = dbcopy(source, target)
            check_posts(target, args.posts, "dbcopy")
            copies.append((seconds, peak, phases))
            spent = ", ".join(f"{name} {value:.1f} s" for name, value in phases.items())
            print(f"round {round_}: dbcopy {seconds:.1f} s, peak {peak / 1024:.0f} MB ({spent})", flush=True)
            if pgloader_bin:
                recreate(target)
                seconds, peak = pgloader(pgloader_bin, source_path, target, tables, tmp)
                check_posts(target, args.posts, "pgloader")
                loads.append((seconds, peak))
                print(f"round {round_}: pgloader {seconds:.1f} s, peak {peak / 1024:.0f} MB", flush=True)
        best_copy = min(copies, key=lambda c: c[0])
        results["`dbcopy` (verified)"] = best_copy[:2]
        if loads:
            results["pgloader, data only (not verified)"] = min(loads)

        if not args.no_loaddata:
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
            results["`dumpdata \\| loaddata`"] = (pipe_seconds, max(dump_peak, load_peak))

    copy_seconds, copy_peak = results["`dbcopy` (verified)"]
    print()
    print("| Date | Method | Rows | Time | Peak memory | Time relative to dbcopy |")
    print("| --- | --- | --- | --- | --- | --- |")
    for method, (seconds, peak) in results.items():
        print(
            f"| {today} | {method} | {args.posts:,} posts + {args.users:,} users | {seconds:.1f} s | "
            f"{peak / 1024:.0f} MB | {seconds / copy_seconds:.2f}x |"
        )
    print()
    phases = best_copy[2]
    print(
        "Where dbcopy's time goes (its own clock, fastest round): "
        + ", ".join(f"{k} {v:.1f} s" for k, v in phases.items())
    )
    print(
        f"  the rest of {copy_seconds:.1f} s: starting Python and Django, and the checks before the copy "
        "(migrations of both sides, data in the target)"
    )
    goals = [f"peak under 100 MB ({'met' if copy_peak < 100 * 1024 else 'NOT met'})"]
    if loads:
        pg_seconds = results["pgloader, data only (not verified)"][0]
        goals.insert(0, f"at least as fast as pgloader ({'met' if copy_seconds <= pg_seconds else 'NOT met'})")
    if not args.no_loaddata:
        goals.append(
            f"10x faster than dumpdata | loaddata ({'met' if pipe_seconds >= 10 * copy_seconds else 'NOT met'})"
        )
    print("Targets: " + ", ".join(goals) + ".")


if __name__ == "__main__":
    main()
