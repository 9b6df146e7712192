#!/usr/bin/env python3
"""Replication with Litestream: what it costs and what it saves.

    flock /tmp/project-bench.lock .venv/bin/python -m tools.bench.replica
        [--seconds 10] [--connections 32] [--size-mb 1024] [--sync 1s] [--skip-restore]

1. API write throughput: ``POST /api/posts/`` with wrk at 32 connections
   against gunicorn as ``make serve`` runs it, without and with a file
   replica (the server under ``litestream replicate -exec``).
2. Restore time of a SQLite database of about ``--size-mb`` (built once in
   the temporary folder): ``dbrestore --replica`` against ``dbbackup`` then
   ``dbrestore``, both with their full checks.
3. The loss window (RPO) of the disaster drill at the production sync
   interval: writes under load, SIGKILL to the server and Litestream, the
   database files deleted, a restore from the replica; how old the newest
   lost acknowledged write was.

Prints figures; nothing fails on a slow machine. Needs wrk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from dbtools.sqlite import Database  # noqa: E402
from tools.reliability.server import Server, request, sign_up  # noqa: E402

PASSWORD = "bench-Replica-passw0rd!"  # noqa: S105 (a throw-away account in a throw-away database)
FIXTURE_DIR = Path(tempfile.gettempdir()) / "project-replica-bench"
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Token {token}"
wrk.body = '{{"title": "benchmark post", "body": "written by wrk to measure the cost of replication"}}'
"""


def server_for(folder: Path, *, replicated: bool, sync: str) -> Server:
    folder.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {"BACKUP_DIR": str(folder / "backups"), "BACKUP_BEFORE_MIGRATE": "false"}
    if replicated:
        (folder / "replica").mkdir(exist_ok=True)
        env.update(REPLICA_URL=f"file://{folder / 'replica'}", REPLICA_SYNC_INTERVAL=sync)
    return Server(folder, replicated=replicated, **env)


def throughput(folder: Path, *, replicated: bool, seconds: int, connections: int, sync: str) -> dict:
    server = server_for(folder, replicated=replicated, sync=sync)
    server.migrate()
    server.start()
    try:
        token = sign_up(server.port, "bencher", PASSWORD)
        script = folder / "post.lua"
        script.write_text(WRK_SCRIPT.format(token=token))
        out = subprocess.run(
            [
                shutil.which("wrk") or "wrk",
                f"-t{min(4, connections)}",
                f"-c{connections}",
                f"-d{seconds}s",
                "-s",
                str(script),
                f"http://127.0.0.1:{server.port}/api/posts/",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        server.stop()
    rps = next(float(line.split()[1]) for line in out.splitlines() if line.startswith("Requests/sec:"))
    non2xx = next((int(line.split()[-1]) for line in out.splitlines() if "Non-2xx" in line), 0)
    return {"requests_per_second": rps, "non_2xx": non2xx}


def build_fixture(path: Path, size_mb: int) -> None:
    print(f"Building {path} (~{size_mb} MB, once) ...", file=sys.stderr)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".building")
    partial.unlink(missing_ok=True)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{partial}", "SECRET_KEY": "bench", "DEBUG": "false"}
    env["BACKUP_BEFORE_MIGRATE"] = "false"
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    subprocess.run([*manage, "seed_demo", "--users", "200", "--posts", "20000", "-v0"], env=env, cwd=ROOT, check=True)
    conn = Database.connect(partial, isolation_level=None)
    # The bulk of the size: text that compresses about as well as posts do.
    conn.execute("CREATE TABLE bench_filler (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    rows = size_mb * 1024 * 1024 // 2200
    for start in range(0, rows, 50_000):
        conn.execute("BEGIN")
        conn.execute(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO bench_filler (body) SELECT hex(randomblob(500)) || printf('%.1000c', 'x') FROM n",
            (min(50_000, rows - start) - 1,),
        )
        conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    partial.rename(path)


def timed(args: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}")
    return time.perf_counter() - started


def restore_times(size_mb: int) -> dict:
    fixture = FIXTURE_DIR / f"fixture-{size_mb}mb.sqlite3"
    if not fixture.exists():
        build_fixture(fixture, size_mb)
    with tempfile.TemporaryDirectory(prefix="replica-bench-", dir=FIXTURE_DIR) as folder:
        work = Path(folder)
        db = work / "db.sqlite3"
        shutil.copyfile(fixture, db)
        (work / "replica").mkdir()
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{db}",
            "SECRET_KEY": "bench",
            "DEBUG": "false",
            "BACKUP_DIR": str(work / "backups"),
            "REPLICA_URL": f"file://{work / 'replica'}",
        }
        manage = [sys.executable, str(ROOT / "manage.py")]
        # The replica: one snapshot, as Litestream takes it when it starts.
        litestream = subprocess.run(
            [sys.executable, "-m", "dbtools.replication", "binary"], env=env, capture_output=True, text=True, check=True
        ).stdout.strip()
        snapshot_started = time.perf_counter()
        cfg = work / "litestream.yml"
        cfg.write_text(json.dumps({"dbs": [{"path": str(db), "replica": {"url": env["REPLICA_URL"]}}]}))
        subprocess.run([litestream, "replicate", "-config", str(cfg), "-once"], check=True, capture_output=True)
        snapshot = time.perf_counter() - snapshot_started
        backup = timed([*manage, "dbbackup", "-v0"], env)
        return {
            "database_bytes": db.stat().st_size,
            "litestream_snapshot_seconds": round(snapshot, 2),
            "dbbackup_seconds": round(backup, 2),
            "dbrestore_backup_seconds": round(timed([*manage, "dbrestore", "--noinput", "-v0"], env), 2),
            "dbrestore_replica_seconds": round(timed([*manage, "dbrestore", "--replica", "--noinput", "-v0"], env), 2),
        }


def drill(folder: Path, *, sync: str, seconds: float) -> dict:
    server = server_for(folder, replicated=True, sync=sync)
    server.migrate()
    server.start()
    acknowledged: list[tuple[str, float]] = []
    stop = threading.Event()
    tokens = [sign_up(server.port, f"writer{i}", PASSWORD) for i in range(8)]

    def writer(index: int, token: str) -> None:
        n = 0
        while not stop.is_set():
            title = f"w{index}-{n}"
            n += 1
            try:
                status, _ = request(server.port, "POST", "/api/posts/", {"title": title, "body": "x"}, token=token)
            except OSError:
                return
            if status == 201:
                acknowledged.append((title, time.monotonic()))

    threads = [threading.Thread(target=writer, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    killed_at = time.monotonic()
    server.kill()
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{server.db_path}{suffix}").unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "dbrestore", "--replica", "--noinput", "-v0"],
        cwd=ROOT,
        env=server.env,
        capture_output=True,
        text=True,
        check=False,
    )
    restore = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"restore failed: {done.stderr}")
    conn = Database.connect(f"file:{server.db_path}?mode=ro", uri=True)
    stored = {row[0] for row in conn.execute("SELECT title FROM posts_post")}
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    lost = [at for title, at in acknowledged if title not in stored]
    return {
        "sync_interval": sync,
        "acknowledged": len(acknowledged),
        "lost": len(lost),
        "rpo_seconds": round(killed_at - min(lost), 3) if lost else 0.0,
        "restore_seconds": round(restore, 2),
        "integrity_check": integrity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--size-mb", type=int, default=1024)
    parser.add_argument("--sync", default="1s", help="REPLICA_SYNC_INTERVAL for the throughput run and the drill")
    parser.add_argument("--skip-restore", action="store_true", help="Leave out the large restore comparison.")
    options = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed (Debian: apt-get install -y wrk).")
    FIXTURE_DIR.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory(prefix="replica-bench-") as folder:
        for replicated in (False, True):
            name = "with_replication" if replicated else "without_replication"
            results[name] = throughput(
                Path(folder) / name,
                replicated=replicated,
                seconds=options.seconds,
                connections=options.connections,
                sync=options.sync,
            )
            print(name, results[name], flush=True)
        without = results["without_replication"]["requests_per_second"]
        with_ = results["with_replication"]["requests_per_second"]
        results["write_throughput_change"] = f"{(with_ - without) / without * 100:+.1f}%"
        print("write throughput with replication:", results["write_throughput_change"], flush=True)
        results["drill"] = drill(Path(folder) / "drill", sync=options.sync, seconds=5)
        print("drill", results["drill"], flush=True)
    if not options.skip_restore:
        results["restore"] = restore_times(options.size_mb)
        print("restore", results["restore"], flush=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
