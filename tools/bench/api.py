#!/usr/bin/env python3
"""Load the REST API beside the peer apps with the shared comparison script.

Builds the benchmark database once (seed_demo: 2,000 users, 100,000 posts,
plus an API token for one ordinary user), then runs compare.py with this
project served by production WSGI servers: DEBUG off, a SECRET_KEY, the normal
middleware, throttling on (rates raised through the environment so that it
counts every request without refusing any), each server start on a fresh copy
of the database. The create scenario posts as the token's user.

    flock /tmp/project-bench.lock .venv/bin/python -m tools.bench.api [--servers serve,granian]
        [--also before=../other-checkout] [--uncached] [--seconds 6] [--rounds 2]
        [--connections 32] [--peers flask,fastapi,drf] [--json FILE]

``serve`` is the server exactly as ``make serve`` starts it (gunicorn.conf.py,
its worker model and request log). ``--also NAME=PATH`` serves another
checkout of the project in the same run (its own virtualenv, PATH/.venv, its
own migrations and seeded database, the same token), so that "before" and
"after" are measured beside the peers under the same load. ``--uncached``
adds this project once more with the page cache off (API_PAGE_CACHE_SECONDS=0).

After the comparison, a second phase measures conditional requests: for each
project server, ``GET /api/posts/?page=1`` in full, then the same request with
the ``If-None-Match`` of its ETag (a 304), taking turns round after round.

Scale (``--scale``, and always when DATABASE_URL names PostgreSQL or
MariaDB): the same comparison script, without the peers, serves this project
(``serve``) on the 1,000- and the 1,000,000-post data sets of the engine
(tools/bench/datasets.py: SQLite files, or a database per size copied once
from them onto the server), taking turns round after round, and prints each
scenario's 1M/1k ratio and, at a million posts, the page 2,000 cursor pages
deep against the first page; the page cache is off (API_PAGE_CACHE_SECONDS=0),
so that every request reaches the database. On a server the create scenario adds its posts
to the kept data set (the other benchmarks count at least the set's posts);
SQLite serves a fresh copy per start, as above.

Needs wrk, and the comparison script beside the project (../shared/bench/compare.py,
or --compare PATH). Throttle counters (and cached pages) go to Redis when
CACHE_URL is set or a Redis answers on 127.0.0.1:6379, else to a file cache.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The project's packages: the SQLite library every process of the project uses.
sys.path.insert(0, str(ROOT))
from dbtools.sqlite import Database  # noqa: E402
from tools.bench import datasets  # noqa: E402

BIN = Path(sys.executable).parent
WORKERS = 2 * (os.cpu_count() or 1) + 1  # What compare.py gives each peer.
USERS, POSTS = 2000, 100_000

SERVERS = {
    # As `make serve` runs it: gunicorn.conf.py (WEB_CONCURRENCY, WEB_THREADS, WEB_TIMEOUT, the request log).
    "serve": f"{BIN}/gunicorn -c gunicorn.conf.py project.wsgi",
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


def manage(*args: str, env: dict[str, str], root: Path = ROOT, python: str = sys.executable) -> str:
    result = subprocess.run([python, "manage.py", *args], cwd=root, env=env, check=True, capture_output=True, text=True)
    return result.stdout


def build_database(
    folder: Path, base_env: dict[str, str], token: str, *, root: Path = ROOT, python: str = sys.executable
) -> Path:
    """The seeded database of one checkout (its own migrations and seed_demo),
    built once and reused, with ``token`` as the API token of one ordinary user."""
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / f"seed-{USERS}-{POSTS}.sqlite3"
    if not (folder / ".ready").exists():
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        env = {**base_env, "DATABASE_URL": f"sqlite:///{db}"}
        print(f"building {db} (seed_demo --users {USERS} --posts {POSTS}) ...", file=sys.stderr)
        manage("migrate", "--noinput", "-v0", env=env, root=root, python=python)
        manage("seed_demo", "--users", str(USERS), "--posts", str(POSTS), "-v0", env=env, root=root, python=python)
        # Fold the WAL into the main file so that a plain copy is the whole database.
        with Database.connect(db) as con:
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (folder / ".ready").touch()
    # The same key in every checkout's database: compare.py sends one header to all.
    manage(
        "shell",
        "-v0",
        "-c",
        "from rest_framework.authtoken.models import Token; from users.models import User;"
        "user = User.objects.filter(is_staff=False).order_by('id')[0];"
        f"Token.objects.filter(user=user).delete(); Token.objects.create(user=user, key={token!r})",
        env={**base_env, "DATABASE_URL": f"sqlite:///{db}"},
        root=root,
        python=python,
    )
    with Database.connect(db) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return db


def load_compare(path: str):
    spec = importlib.util.spec_from_file_location("bench_compare", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def conditional_phase(compare, apps: list[tuple[str, str]], args: argparse.Namespace, env: dict, header: str) -> dict:
    """Full list_p1 against the same request answered 304, per app, rounds in turn."""
    results: dict[str, dict[str, list[float]]] = {}
    path = "/api/posts/?page=1"
    for _ in range(int(args.rounds)):
        for name, command in apps:
            with compare.Server(name, command, [header], env) as server:
                # A loopback URL of the server just started.
                request = urllib.request.Request(server.url(path), headers={"Authorization": header.split(": ", 1)[1]})  # noqa: S310
                with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
                    etag = answer.headers.get("ETag")
                got = results.setdefault(name, {"full": [], "304": [], "errors": []})
                full = compare.wrk(server, path, args.seconds, args.connections)
                got["full"].append(full["rps"])
                if not etag:
                    continue
                server.headers = [header, f"If-None-Match: {etag}"]
                cond = compare.wrk(server, path, args.seconds, args.connections)
                got["304"].append(cond["rps"])
                got["errors"].append(full["errors"] + cond["errors"])
    print("\nconditional requests (GET /api/posts/?page=1; wrk counts 304 as a success)")
    print(f"{'req/s':<14}{'full':>12}{'304':>12}{'304/full':>10}")
    for name, got in results.items():
        full = statistics.median(got["full"])
        if got["304"]:
            cond = statistics.median(got["304"])
            print(f"{name:<14}{full:>12.0f}{cond:>12.0f}{cond / full:>10.2f}  errors {sum(got['errors'])}")
        else:
            print(f"{name:<14}{full:>12.0f}{'no ETag':>12}")
    return results


def bench_environment(folder: Path, log_level: str) -> dict[str, str]:
    """The servers' environment: production settings, throttling counting every request but refusing none."""
    env = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "DEBUG", "ENV_FILE", "VAR_DIR", "CACHE_URL"}
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        ENV_FILE=str(folder / "no.env"),  # A developer's .env must not change the figures.
        VAR_DIR=str(folder / "var"),
        LOG_LEVEL=log_level,
        # Plain HTTP on loopback, as behind the TLS proxy that production has in front.
        SECURE_SSL_REDIRECT="false",
        # Throttling stays on and counts every request; the rates only make room for the load.
        API_THROTTLE_ANON="100000000/minute",
        API_THROTTLE_USER="100000000/minute",
    )
    cache_url = os.environ.get("CACHE_URL") or ("redis://127.0.0.1:6379/0" if redis_answers() else "")
    env["CACHE_URL"] = cache_url or f"file://{folder / 'cache'}"
    return env


def scale_phase(args: argparse.Namespace, base_url: str) -> None:
    """``serve`` at each size of ``--sizes`` on DATABASE_URL's engine, beside each other, no peers."""
    folder = Path(args.work) / "scale"
    folder.mkdir(parents=True, exist_ok=True)
    env = bench_environment(folder, args.log_level)
    # The page cache would answer the first page from memory at any size: off, so the database is measured.
    env["API_PAGE_CACHE_SECONDS"] = "0"
    engine = datasets.engine_of(base_url)
    sizes = sorted(int(size) for size in args.sizes.split(","))
    token = secrets.token_hex(20)
    runs = folder / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    apps = []
    for size in sizes:
        url = datasets.dataset_url(base_url, size)
        manage(
            "shell",
            "-v0",
            "-c",
            "from rest_framework.authtoken.models import Token; from users.models import User;"
            "user = User.objects.filter(is_staff=False).order_by('id')[0];"
            f"Token.objects.filter(user=user).delete(); Token.objects.create(user=user, key={token!r})",
            env={**env, "DATABASE_URL": url},
        )
        if engine == "sqlite":
            # A fresh copy per server start: the create scenario never changes the kept file.
            seed = url.removeprefix("sqlite:///")
            with Database.connect(Path(seed)) as con:
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            copy = f"{runs}/{size}-{{port}}.sqlite3"
            database = f"cp {seed} {copy} && DATABASE_URL=sqlite:///{copy}"
        else:
            database = f"DATABASE_URL={url}"
        apps.append((f"{size}-posts", f"cd {ROOT} && {database} PORT={{port}} exec {SERVERS['serve']}"))
    command = [sys.executable, args.compare, "--header", f"Authorization: Token {token}", "--peers", ""]
    for name, shell in apps:
        command += ["--app", f"{name}={shell}"]
    # --posts 0: the sets differ in size, so the script's check of the first page's count is off.
    figures = Path(args.json) if args.json else folder / "scale.json"
    command += ["--posts", "0", "--seconds", args.seconds, "--rounds", args.rounds, "--connections", args.connections]
    command += ["--json", str(figures)]
    try:
        subprocess.run(command, env=env, check=True)
    finally:
        shutil.rmtree(runs, ignore_errors=True)
    table = json.loads(figures.read_text())["table"]
    small, large = f"{sizes[0]}-posts", f"{sizes[-1]}-posts"
    print(f"\n{engine}: requests/s at {sizes[-1]:,} posts / at {sizes[0]:,} (1.00 = flat)")
    for scenario, got in table[large].items():
        if scenario in table[small] and table[small][scenario]["rps"] and not table[small][scenario]["errors"]:
            print(f"  {scenario:<12} {got['rps'] / table[small][scenario]['rps']:.2f}")
    if "cursor_deep" in table[large]:
        deep, first = table[large]["cursor_deep"]["rps"], table[large]["list_p1"]["rps"]
        print(f"  at {sizes[-1]:,} posts, 2,000 cursor pages deep / first page: {deep / first:.2f}")


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
    ap.add_argument("--servers", default="serve,granian", help=f"comma-separated, from {', '.join(SERVERS)}")
    ap.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="another checkout of the project, served by its own .venv with the first of --servers",
    )
    ap.add_argument("--uncached", action="store_true", help="also serve this project with the page cache off")
    ap.add_argument("--peers", default="flask,fastapi,drf")
    ap.add_argument("--seconds", default="6")
    ap.add_argument("--rounds", default="2")
    ap.add_argument("--connections", default="32")
    ap.add_argument("--log-level", default="INFO", help="LOG_LEVEL of the project (INFO: the request log, as served)")
    ap.add_argument("--json")
    ap.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "project-bench-api"))
    ap.add_argument("--scale", action="store_true", help="1,000 against 1,000,000 posts (on DATABASE_URL's engine)")
    ap.add_argument("--sizes", default="1000,1000000", help="post counts of --scale")
    args = ap.parse_args()
    if not Path(args.compare).exists():
        raise SystemExit(f"The comparison script is missing: {args.compare} (pass --compare PATH).")
    base_url = os.environ.get("DATABASE_URL", "")
    if args.scale or datasets.engine_of(base_url) != "sqlite":
        scale_phase(args, base_url)
        return
    servers = [s for s in args.servers.split(",") if s]
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"Unknown server(s): {', '.join(sorted(unknown))}; choose from {', '.join(SERVERS)}.")
    others: list[tuple[str, Path]] = []
    for spec in args.also:
        name, _, path = spec.partition("=")
        root = Path(path).resolve()
        if not name or not (root / "manage.py").exists() or not (root / ".venv" / "bin" / "python").exists():
            raise SystemExit(
                f"--also {spec}: expected NAME=PATH of a checkout with manage.py and .venv/ "
                "(run `make .venv/.dev-installed` there)."
            )
        others.append((name, root))

    folder = Path(args.work)
    folder.mkdir(parents=True, exist_ok=True)
    env = bench_environment(folder, args.log_level)
    token = secrets.token_hex(20)
    db = build_database(folder / "this", env, token)
    other_dbs = {
        name: build_database(folder / f"also-{name}", env, token, root=root, python=str(root / ".venv/bin/python"))
        for name, root in others
    }
    print(f"throttle cache: {env['CACHE_URL']}", file=sys.stderr)

    runs = folder / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir()
    header = f"Authorization: Token {token}"

    def served(name: str, root: Path, seed: Path, server: str, extra: str = "") -> tuple[str, str]:
        # Every server start gets a fresh copy, so earlier creates never change the data.
        copy = f"{runs}/{name}-{{port}}.sqlite3"
        command = SERVERS[server].replace(str(BIN), str(root / ".venv" / "bin"))
        # The page cache's keys carry the data version, which differs per copy; flushing
        # the cache is not needed, but the throttle counters are per checkout anyway.
        return (
            name,
            f"cd {root} && cp {seed} {copy} && {extra}DATABASE_URL=sqlite:///{copy} PORT={{port}} exec {command}",
        )

    apps = [served(name, ROOT, db, name) for name in servers]
    if args.uncached:
        apps.append(served(f"{servers[0]}-uncached", ROOT, db, servers[0], "API_PAGE_CACHE_SECONDS=0 "))
    apps += [served(name, root, other_dbs[name], servers[0]) for name, root in others]
    command = [sys.executable, args.compare, "--header", header]
    for name, shell in apps:
        command += ["--app", f"{name}={shell}"]
    command += ["--peers", args.peers, "--users", str(USERS), "--posts", str(POSTS)]
    command += ["--seconds", args.seconds, "--rounds", args.rounds, "--connections", args.connections]
    if args.json:
        command += ["--json", args.json]
    try:
        subprocess.run(command, env=env, check=True)
        conditional_phase(load_compare(args.compare), apps, args, env, header)
    finally:
        shutil.rmtree(runs, ignore_errors=True)


if __name__ == "__main__":
    main()
