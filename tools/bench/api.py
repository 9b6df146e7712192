#!/usr/bin/env python3
"""Load the REST API beside the peer apps with the shared comparison script.

Builds the benchmark database once (seed_demo: 2,000 users, 100,000 posts,
plus an API token for one ordinary user), then runs compare.py with this
project served by production WSGI servers: DEBUG off, a SECRET_KEY, the normal
middleware, throttling on (rates raised through the environment so that it
counts every request without refusing any), each server start on a fresh copy
of the database. The create scenario posts as the token's user.

    flock /tmp/project-bench.lock .venv/bin/python -m tools.bench.api [--servers granian,gunicorn]
        [--seconds 6] [--rounds 2] [--connections 32] [--peers flask,fastapi,drf] [--json FILE]

Needs wrk, and the comparison script beside the project (../shared/bench/compare.py,
or --compare PATH). Throttle counters go to Redis when CACHE_URL is set or a
Redis answers on 127.0.0.1:6379, else to a file cache.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's packages: the SQLite library every process of the project uses.
sys.path.insert(0, str(ROOT))
from dbtools.sqlite import Database  # noqa: E402

BIN = Path(sys.executable).parent
WORKERS = 2 * (os.cpu_count() or 1) + 1  # What compare.py gives each peer.
USERS, POSTS = 2000, 100_000

SERVERS = {
    # Rust HTTP front, Python only for the WSGI call.
    "granian": f"{BIN}/granian --interface wsgi --host 127.0.0.1 --port {{port}} --workers {WORKERS} "
    "--no-ws --log-level warning project.wsgi:application",
    # One Python thread per worker, like gunicorn's sync workers: SQLite writers
    # then wait in the server's queue, not in SQLite's busy-timeout sleeps.
    "granian1": f"{BIN}/granian --interface wsgi --host 127.0.0.1 --port {{port}} --workers {WORKERS} "
    "--blocking-threads 1 --no-ws --log-level warning project.wsgi:application",
    # At most two requests in Python per worker; the rest wait in granian's queue.
    "granian-bp2": f"{BIN}/granian --interface wsgi --host 127.0.0.1 --port {{port}} --workers {WORKERS} "
    "--backpressure 2 --no-ws --log-level warning project.wsgi:application",
    # One worker per core: fewer processes to start and to share the cores with.
    "granian2": f"{BIN}/granian --interface wsgi --host 127.0.0.1 --port {{port}} --workers {os.cpu_count() or 1} "
    "--no-ws --log-level warning project.wsgi:application",
    # --preload: the app is imported once, before the workers fork, so that no
    # worker spends the first seconds of a run importing Django.
    "gunicorn": f"{BIN}/gunicorn --preload -w {WORKERS} -b 127.0.0.1:{{port}} --log-level warning "
    "project.wsgi:application",
    "gthread": f"{BIN}/gunicorn --preload -k gthread --threads 4 -w {WORKERS} -b 127.0.0.1:{{port}} "
    "--log-level warning project.wsgi:application",
}


def manage(*args: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def build_database(folder: Path, base_env: dict[str, str]) -> tuple[Path, str]:
    """The seeded database and the token, built once and reused."""
    db = folder / f"seed-{USERS}-{POSTS}.sqlite3"
    token_file = folder / "token"
    if not (folder / ".ready").exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        env = {**base_env, "DATABASE_URL": f"sqlite:///{db}"}
        print(f"building {db} (seed_demo --users {USERS} --posts {POSTS}) ...", file=sys.stderr)
        manage("migrate", "--noinput", "-v0", env=env)
        manage("seed_demo", "--users", str(USERS), "--posts", str(POSTS), "-v0", env=env)
        token = manage(
            "shell",
            "-v0",
            "-c",
            "from rest_framework.authtoken.models import Token; from users.models import User;"
            "print(Token.objects.get_or_create(user=User.objects.filter(is_staff=False).order_by('id')[0])[0].key)",
            env=env,
        ).split()[-1]
        # Fold the WAL into the main file so that a plain copy is the whole database.

        with Database.connect(db) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        token_file.write_text(token)
        (folder / ".ready").touch()
    return db, token_file.read_text().strip()


def redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compare", default=str(ROOT.parent / "shared" / "bench" / "compare.py"))
    ap.add_argument(
        "--servers", default="granian,granian2,gunicorn", help=f"comma-separated, from {', '.join(SERVERS)}"
    )
    ap.add_argument("--peers", default="flask,fastapi,drf")
    ap.add_argument("--seconds", default="6")
    ap.add_argument("--rounds", default="2")
    ap.add_argument("--connections", default="32")
    ap.add_argument("--json")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "project-bench-api"))
    args = ap.parse_args()
    if not Path(args.compare).exists():
        raise SystemExit(f"The comparison script is missing: {args.compare} (pass --compare PATH).")
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"Unknown server(s): {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}.")

    folder = Path(args.work)
    folder.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "ENV_FILE", "VAR_DIR", "CACHE_URL"}
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ENV_FILE=str(folder / "no.env"),  # A developer's .env must not change the figures.
        VAR_DIR=str(folder / "var"),
        LOG_LEVEL="WARNING",
        # Throttling stays on and counts every request; the rates only make room for the load.
        API_THROTTLE_ANON="100000000/minute",
        API_THROTTLE_USER="100000000/minute",
    )
    cache_url = os.environ.get("CACHE_URL") or ("redis://127.0.0.1:6379/0" if redis_answers() else "")
    env["CACHE_URL"] = cache_url or f"file://{folder / 'cache'}"
    db, token = build_database(folder, env)
    print(f"throttle cache: {env['CACHE_URL']}", file=sys.stderr)

    runs = folder / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    command = [sys.executable, args.compare, "--header", f"Authorization: Token {token}"]
    for name in servers:
        # Every server start gets a fresh copy, so earlier creates never change the data.
        copy = f"{runs}/{name}-{{port}}.sqlite3"
        command += [
            "--app",
            f"{name}=cd {ROOT} && cp {db} {copy} && DATABASE_URL=sqlite:///{copy} exec {SERVERS[name]}",
        ]
    command += ["--peers", args.peers, "--users", str(USERS), "--posts", str(POSTS)]
    command += ["--seconds", args.seconds, "--rounds", args.rounds, "--connections", args.connections]
    if args.json:
        command += ["--json", args.json]
    try:
        subprocess.run(command, env=env, check=True)
    finally:
        shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
