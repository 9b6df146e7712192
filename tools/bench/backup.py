#!/usr/bin/env python3
"""Benchmark dbbackup / dbrestore on a SQLite database of about 2 GB.

Prints, from one run on the same file:
  - wall time of `sqlite3 DB ".backup FILE"` and of `manage.py dbbackup --no-compress`
    with `--verify full` (PRAGMA integrity_check and sha256 on the copy) and
    `--verify quick` (quick_check), rounds alternating A B C A B C ..., medians
    kept, and their ratios;
  - peak memory (max RSS of the process) of dbbackup and of dbrestore;
  - writers: N processes inserting posts in their own transactions during a
    dbbackup; their commits and errors.

The fixture (seed_demo --users 20000 --posts 2700000, about 2.2 GB with the search index) is built
once in the temporary folder and reused; every run works on a copy of it.

usage: python -m tools.bench.backup [--rounds 3] [--writers 2] [--fixture PATH]   (BENCH_KEEP=1 keeps the work folder)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's packages: the SQLite library every process of the project uses.
sys.path.insert(0, str(ROOT))
from dbtools.sqlite import Database  # noqa: E402

DEFAULT_FIXTURE = Path(tempfile.gettempdir()) / "project-backups-bench" / "fixture.sqlite3"
USERS, POSTS = 20_000, 2_700_000

WRITER = r"""
import sys, time
from dbtools.sqlite import Database
path, seconds = sys.argv[1], float(sys.argv[2])
conn = Database.connect(path, timeout=20, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("PRAGMA synchronous=NORMAL")
author = conn.execute("SELECT MIN(id) FROM users_user").fetchone()[0]
commits = errors = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(
            "INSERT INTO posts_post (author_id, title, body, created_at, updated_at) "
            "VALUES (?, 'written during the backup', 'body', datetime('now'), datetime('now'))",
            (author,),
        )
        conn.execute("COMMIT")
        commits += 1
    except Database.Error as exc:
        errors += 1
        print("writer error:", exc, file=sys.stderr)
        try:
            conn.execute("ROLLBACK")
        except Database.Error:
            pass
    time.sleep(0.002)
print(commits, errors)
"""


def env_for(db: Path, backups: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        BACKUP_DIR=str(backups),
        SECRET_KEY="benchmark-only-secret-key",  # noqa: S106 (a throw-away key for a local run)
        DEBUG="false",
    )
    return env


def run_measured(args: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed ({proc.returncode}):\n{stderr}")
    return elapsed, usage.ru_maxrss


def build_fixture(path: Path) -> None:
    print(f"Building the fixture {path} (once; a few minutes) ...", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".building")
    partial.unlink(missing_ok=True)
    env = env_for(partial, path.parent / "unused-backups")
    env["BACKUP_BEFORE_MIGRATE"] = "false"
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    subprocess.run(
        [*manage, "seed_demo", "--users", str(USERS), "--posts", str(POSTS), "--batch-size", "20000"],
        env=env,
        cwd=ROOT,
        check=True,
    )
    conn = Database.connect(partial)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    partial.rename(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--fixture", type=Path, default=DEFAULT_FIXTURE)
    options = parser.parse_args()
    if shutil.which("sqlite3") is None:
        raise SystemExit("The sqlite3 command-line shell is needed (Debian: apt-get install -y sqlite3).")
    if not options.fixture.exists():
        build_fixture(options.fixture)

    work = Path(tempfile.mkdtemp(prefix="backup-bench-", dir=options.fixture.parent))
    try:
        db = work / "live.sqlite3"
        shutil.copyfile(options.fixture, db)  # the fixture is closed and checkpointed
        backups = work / "backups"
        env = env_for(db, backups)
        manage = [sys.executable, str(ROOT / "manage.py")]
        size = db.stat().st_size
        print(f"database: {size / 1e9:.2f} GB, {POSTS:,} posts; sqlite {Database.sqlite_version}", file=sys.stderr)

        cli_times, ours_rss = [], []
        ours_times: dict[str, list[float]] = {"full": [], "quick": []}
        for round_no in range(options.rounds):
            target = work / f"cli-{round_no}.sqlite3"
            elapsed, _ = run_measured(["sqlite3", str(db), f".backup '{target}'"])
            cli_times.append(elapsed)
            target.unlink()
            line = f"round {round_no + 1}: sqlite3 .backup {elapsed:.2f} s"
            for verify in ("full", "quick"):
                out = work / f"ours-{round_no}-{verify}.sqlite3"
                args = [*manage, "dbbackup", "--no-compress", "--verify", verify, "--quiet", "--output", str(out)]
                elapsed, rss = run_measured(args, env)
                ours_times[verify].append(elapsed)
                ours_rss.append(rss)
                out.unlink()
                out.with_name(out.name + ".json").unlink()
                line += f", dbbackup --verify {verify} {elapsed:.2f} s"
            print(line, file=sys.stderr)

        # Where dbbackup's time goes, phase by phase, on the same file.
        phase = work / "phase.sqlite3"
        started = time.perf_counter()
        src, dst = Database.connect(db), Database.connect(phase)
        src.backup(dst, pages=-1)
        dst.close()
        src.close()
        copy_time = time.perf_counter() - started
        check = Database.connect(phase)
        started = time.perf_counter()
        check.execute("PRAGMA integrity_check").fetchall()
        integrity_time = time.perf_counter() - started
        started = time.perf_counter()
        check.execute("PRAGMA quick_check").fetchall()
        quick_time = time.perf_counter() - started
        check.close()
        phase.unlink()

        # Writers during a backup.
        seconds = max(3 * statistics.median(ours_times["full"]), 10)
        writers = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(db), str(seconds)], cwd=ROOT, stdout=subprocess.PIPE, text=True
            )
            for _ in range(options.writers)
        ]
        time.sleep(1)
        under_load, _ = run_measured([*manage, "dbbackup", "--no-compress", "--quiet"], env)
        commits = errors = 0
        for proc in writers:
            out_text, _ = proc.communicate()
            c, e = (int(x) for x in out_text.split())
            commits, errors = commits + c, errors + e
        (taken,) = [p for p in backups.iterdir() if not p.name.endswith(".json")]
        shell_version = subprocess.run(
            [shutil.which("sqlite3") or "sqlite3", "--version"], capture_output=True, text=True, check=True
        ).stdout.split()[0]

        # Restore of that backup (verify, safety backup compressed, swap in).
        restore_time, restore_rss = run_measured([*manage, "dbrestore", "--noinput", "--input", taken.name, "-v0"], env)
        check = Database.connect(db)
        integrity = check.execute("PRAGMA integrity_check").fetchone()[0]
        check.close()

        cli = statistics.median(cli_times)
        full, quick = statistics.median(ours_times["full"]), statistics.median(ours_times["quick"])
        rows = [
            ("database size", f"{size / 1e9:.2f} GB"),
            (f"sqlite3 .backup (median of {options.rounds}; the shell's own SQLite {shell_version})", f"{cli:.2f} s"),
            (f"dbbackup --no-compress --verify full (median of {options.rounds})", f"{full:.2f} s"),
            (f"dbbackup --no-compress --verify quick (median of {options.rounds})", f"{quick:.2f} s"),
            ("ratio dbbackup --verify full / sqlite3 .backup", f"{full / cli:.2f}x"),
            ("ratio dbbackup --verify quick / sqlite3 .backup", f"{quick / cli:.2f}x (goal <= 1.30x)"),
            ("  of which: backup API copy (one step)", f"{copy_time:.2f} s"),
            ("  of which: PRAGMA integrity_check on the copy", f"{integrity_time:.2f} s"),
            ("  (PRAGMA quick_check on the copy, for comparison)", f"{quick_time:.2f} s"),
            ("dbbackup peak memory (max RSS)", f"{max(ours_rss) / 1024:.0f} MB (goal < 100 MB)"),
            (f"dbbackup (default --verify) with {options.writers} writers running", f"{under_load:.2f} s"),
            ("writer commits / errors during it", f"{commits} / {errors} (goal 0 errors)"),
            ("dbrestore (checks incl. integrity_check, safety backup, swap)", f"{restore_time:.2f} s"),
            ("dbrestore peak memory (max RSS)", f"{restore_rss / 1024:.0f} MB (goal < 100 MB)"),
            ("integrity_check after restore", integrity),
        ]
        width = max(len(r[0]) for r in rows)
        print(f"| {'measure':<{width}} | result |")
        print(f"| {'-' * width} | --- |")
        for name, value in rows:
            print(f"| {name:<{width}} | {value} |")
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
