#!/usr/bin/env python3
"""Benchmark: PostgreSQL connection handling under ``make serve``'s worker model.

Three ways for the server's processes to get their database connections,
each measured on the same data with the same load, in one run:

  persistent   CONN_MAX_AGE=600: one connection per thread, kept open and
               health-checked (the project's default)
  per-request  CONN_MAX_AGE=0: a new connection for every request
  pool         DATABASE_POOL=true: Django's pool (psycopg_pool), one per
               process (CONN_MAX_AGE is then 0), default sizes

The server is real gunicorn as gunicorn.conf.py configures it
(WEB_CONCURRENCY processes, default two per core plus one, each with
WEB_THREADS threads); the load is wrk on the API's list (GET
/api/posts/?page=1) and a write (POST /api/posts/ with a token). Servers run
in turn, round after round (A B C A B C ...), and the median of the rounds is
kept, so a drift of the machine's speed hits all three alike. Every non-2xx
answer and socket error is counted and printed.

    make bench-pool BENCH_ARGS="--seconds 10 --rounds 3 --threads 1,4"
    python -m tools.bench.pool [--seconds 5] [--rounds 2] [--connections 32] [--threads 1,4]
                         [--users 200] [--posts 10000]

Needs a PostgreSQL server, psycopg (requirements-postgres.txt) and wrk
(Debian: apt-get install -y wrk). BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/bench_pool) names a scratch database: it is
dropped and created again. The API throttles stay on with rates that refuse
nothing; their counters live in CACHE_URL, by default a per-process memory
cache, so that the figures are about the database connections.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from project.serving import server_workers  # noqa: E402  (needs the project on the path)
from tools.reliability.server import Server  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/bench_pool"
CONFIGS = {
    "persistent": {"CONN_MAX_AGE": "600", "DATABASE_POOL": "false"},
    "per-request": {"CONN_MAX_AGE": "0", "DATABASE_POOL": "false"},
    "pool": {"DATABASE_POOL": "true"},
}
LIST_PATH = "/api/posts/?page=1"
WRITE_LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, nil, nil, string.format('{"title": "pool bench %d", "body": "written under load"}', n))
end
"""


def recreate(url: str, *, create: bool = True) -> None:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if create:
            conn.execute(f'CREATE DATABASE "{name}"')


def manage(server: Server, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=server.env, check=True, capture_output=True, text=True
    )
    return result.stdout


def wrk(port: int, path: str, *, seconds: int, connections: int, token: str, script: Path | None) -> dict:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"Authorization: Token {token}"]
    if script is not None:
        cmd += ["-s", str(script)]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    p99 = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out)
    return {
        "rps": rps,
        "errors": (int(bad.group(1)) if bad else 0) + (sum(map(int, sock.groups())) if sock else 0),
        "p99_ms": float(p99.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)] if p99 else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=5, help="wrk duration of each measurement")
    ap.add_argument("--warmup", type=int, default=1, help="seconds of unmeasured load after each server start")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--connections", type=int, default=32, help="wrk's open connections")
    ap.add_argument(
        "--threads", default=os.environ.get("WEB_THREADS", "1"), help="comma-separated WEB_THREADS values to measure"
    )
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--posts", type=int, default=10_000)
    args = ap.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    url = os.environ.get("BENCH_POSTGRES_URL", DEFAULT_URL)
    thread_counts = [int(t) for t in args.threads.split(",") if t]

    with tempfile.TemporaryDirectory(prefix="bench-pool-") as tmp:
        folder = Path(tmp)
        script = folder / "write.lua"
        script.write_text(WRITE_LUA)
        base = {"DATABASE_URL": url, "CACHE_URL": os.environ.get("CACHE_URL", "locmem://")}
        setup = Server(folder, **base)
        recreate(url)
        setup.migrate()
        manage(setup, "seed_demo", "--users", str(args.users), "--posts", str(args.posts), "-v0")
        token = manage(
            setup,
            "shell",
            "-v0",
            "-c",
            "from rest_framework.authtoken.models import Token; from users.models import User;"
            "print(Token.objects.get_or_create(user=User.objects.filter(is_staff=False).order_by('id')[0])[0].key)",
        ).split()[-1]
        print(
            f"PostgreSQL {url.rsplit('@', 1)[-1]}: {args.users:,} users, {args.posts:,} posts; gunicorn with "
            f"WEB_CONCURRENCY={server_workers()}; wrk {args.connections} connections, {args.seconds} s, "
            f"median of {args.rounds} rounds",
            flush=True,
        )
        results: dict[tuple[int, str, str], list[dict]] = {}
        load = {"connections": args.connections, "token": token}
        try:
            for threads in thread_counts:
                for _ in range(args.rounds):
                    for name, env in CONFIGS.items():
                        server = Server(folder, threads=threads, **base, **env)
                        server.start()
                        try:
                            # Every worker process imports Django on its first requests: not measured.
                            wrk(server.port, LIST_PATH, seconds=args.warmup, script=None, **load)
                            for scenario, path, lua in (("list", LIST_PATH, None), ("write", "/api/posts/", script)):
                                figures = wrk(server.port, path, seconds=args.seconds, script=lua, **load)
                                results.setdefault((threads, name, scenario), []).append(figures)
                        finally:
                            server.stop()
        finally:
            recreate(url, create=False)
        print(f"\n{'threads':>7}  {'connections':<12} {'scenario':<8} {'req/s':>9} {'vs persistent':>13} "
              f"{'p99 ms':>8} {'errors':>7}")  # fmt: skip
        for threads in thread_counts:
            for scenario in ("list", "write"):
                baseline = statistics.median(r["rps"] for r in results[(threads, "persistent", scenario)])
                for name in CONFIGS:
                    runs = results[(threads, name, scenario)]
                    rps = statistics.median(r["rps"] for r in runs)
                    p99s = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
                    p99 = f"{statistics.median(p99s):8.1f}" if p99s else f"{'-':>8}"
                    errors = sum(r["errors"] for r in runs)
                    ratio = rps / baseline if baseline else float("nan")
                    print(f"{threads:>7}  {name:<12} {scenario:<8} {rps:>9.0f} {ratio:>12.2f}x {p99} {errors:>7}")


if __name__ == "__main__":
    main()
