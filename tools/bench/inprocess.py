#!/usr/bin/env python3
"""Time the API list requests, a search, the pages and the admin's posts list
in-process, for one or more checkouts of the project, side by side.

Each checkout gets a worker process on its own copy of a seeded SQLite file:
Django's test client (the whole middleware stack, no network), DEBUG off,
token authentication, and the throttle counters in Redis when one answers
(else in the file cache). The workers take turns batch by batch (a few
dozen requests of one kind each) and each request keeps the median of its
batches, so that a change in a shared machine's load hits every checkout
alike. Wall time and CPU time (``time.process_time``: this process only,
so the time spent waiting for the CPU on a loaded machine, and for Redis,
is left out) are both shown; read the ratios between checkouts of one run,
not the absolute times.

    python -m tools.bench.inprocess --db seeded.sqlite3 [--root . --root ../other-checkout]
        [--repeat 50] [--rounds 15] [--only "GET /api"] [--redis redis://127.0.0.1:6379/13]

The seeded file comes from ``manage.py migrate`` and ``manage.py seed_demo``
(run by each checkout itself, so each gets its own migrations). Pass --db
once per checkout (in the same order as --root) or once for all of them.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]


def requests(author_id: int, author_name: str, word: str) -> list[tuple[str, str, str]]:
    """(label, client, path): client is "anon", "token" (an ordinary user's API token) or "admin"."""
    return [
        ("GET /api/posts/ (anonymous)", "anon", "/api/posts/"),
        ("GET /api/posts/ (token)", "token", "/api/posts/"),
        ("GET /api/posts/?page=2 (token)", "token", "/api/posts/?page=2"),
        ("GET /api/posts/?cursor= (token)", "token", "/api/posts/?cursor="),
        ("GET /api/posts/?author= (token)", "token", f"/api/posts/?author={author_id}"),
        ("GET /api/users/<id>/posts/ (token)", "token", f"/api/users/{author_id}/posts/"),
        ("GET /api/posts/?search= (token)", "token", f"/api/posts/?search={word}"),
        ("GET /api/users/ (anonymous)", "anon", "/api/users/"),
        ("GET /api/users/ (token)", "token", "/api/users/"),
        ("GET /api/posts/<id>/ (token)", "token", "/api/posts/{post_id}/"),
        ("page: home", "anon", "/"),
        ("page: home, search", "anon", f"/?q={word}"),
        ("page: author", "anon", f"/users/{author_name}/"),
        ("admin: posts list", "admin", "/admin/posts/post/"),
        ("admin: posts of one author", "admin", f"/admin/posts/post/?author={author_id}"),
        ("admin: posts search", "admin", f"/admin/posts/post/?q={word}"),
    ]


def serve(word: str) -> None:
    """A worker: the current directory is the checkout, DATABASE_URL names the file.

    Reads "<label> <count>" lines on stdin; answers each with one JSON line:
    the median wall and CPU time of ``count`` requests, and their queries.
    """
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from rest_framework.authtoken.models import Token

    from posts.models import Post
    from users.models import User

    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", "bench-admin@example.com", None)
    reader = User.objects.filter(is_staff=False).order_by("id").first()
    token, _ = Token.objects.get_or_create(user=reader)
    author = User.objects.filter(post_count__gt=0).order_by("-post_count", "id").first()
    post_id = Post.objects.order_by("-id").values_list("id", flat=True).first()
    clients = {"anon": Client(), "token": Client(HTTP_AUTHORIZATION=f"Token {token.key}"), "admin": Client()}
    clients["admin"].force_login(admin)
    table = {
        label: (clients[who], path.format(post_id=post_id))
        for label, who, path in requests(author.pk, author.username, word)
    }
    for client, path in table.values():
        for _ in range(3):  # warm-up: page cache, templates, the connection
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
    print(json.dumps({"posts": Post.objects.count()}), flush=True)
    for line in sys.stdin:
        label, _, count = line.rstrip("\n").rpartition(" ")
        client, path = table[label]
        wall, cpu = [], []
        for _ in range(int(count)):
            started, started_cpu = time.perf_counter(), time.process_time()
            client.get(path)
            cpu.append((time.process_time() - started_cpu) * 1e6)
            wall.append((time.perf_counter() - started) * 1e6)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        answer = {"wall": statistics.median(wall), "cpu": statistics.median(cpu), "queries": len(queries)}
        print(json.dumps(answer), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", help="A checkout of the project (default: this one).")
    parser.add_argument("--db", action="append", required=True, help="Seeded SQLite file (one, or one per root).")
    parser.add_argument("--repeat", type=int, default=50, help="Timed API requests per batch (pages: a tenth).")
    parser.add_argument("--rounds", type=int, default=15, help="Batches of each request per checkout.")
    parser.add_argument("--word", default="checkpoint", help="The search word.")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Throttle cache, when it answers.")
    parser.add_argument("--only", default="", help="Only the requests whose label contains this text.")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.word)
        return
    roots = [Path(r).resolve() for r in (args.root or [ROOT])]
    dbs = [Path(d).resolve() for d in args.db]
    if len(dbs) == 1:
        dbs = dbs * len(roots)
    if len(dbs) != len(roots):
        raise SystemExit("Pass --db once, or once per --root.")
    sys.path.insert(0, str(ROOT))
    from tools.bench.api import redis_answers

    address = urlsplit(args.redis)
    cache_url = args.redis if redis_answers(address.hostname or "127.0.0.1", address.port or 6379) else ""
    labels = [label for label, _, _ in requests(0, "", "") if args.only in label]
    results: dict[str, list[list[dict]]] = {label: [[] for _ in roots] for label in labels}
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as work:
        workers = []
        for i, (root, db) in enumerate(zip(roots, dbs, strict=True)):
            copy = Path(work) / f"db-{i}.sqlite3"
            shutil.copyfile(db, copy)
            env = {
                **os.environ,
                "DATABASE_URL": f"sqlite:///{copy}",
                "DEBUG": "false",
                "SECRET_KEY": "benchmark-only-secret-key",
                "ALLOWED_HOSTS": "testserver",
                "LOG_LEVEL": "WARNING",
                "VAR_DIR": str(Path(work) / f"var-{i}"),
                "ENV_FILE": str(Path(work) / "no.env"),
                "CACHE_URL": cache_url or f"file://{Path(work) / f'cache-{i}'}",
                "API_THROTTLE_ANON": "100000000/minute",
                "API_THROTTLE_USER": "100000000/minute",
                "DJANGO_SETTINGS_MODULE": "project.settings",
                "PYTHONDONTWRITEBYTECODE": "1",
                "PYTHONWARNINGS": "ignore",
                # The test client speaks plain HTTP; nothing is collected into STATIC_ROOT.
                "SECURE_SSL_REDIRECT": "false",
                "STATIC_MANIFEST": "false",
            }
            command = [sys.executable, str(Path(__file__).resolve()), "--serve", "--db", str(copy), "--word", args.word]
            worker = subprocess.Popen(
                command, cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            workers.append(worker)
        posts = [json.loads(worker.stdout.readline())["posts"] for worker in workers]
        # Checkouts take turns batch by batch: a change in the machine's load
        # hits each alike instead of skewing their ratio.
        for number in range(args.rounds):
            print(f"round {number + 1}/{args.rounds}", file=sys.stderr)
            for label in labels:
                count = args.repeat if label.startswith("GET") else max(args.repeat // 10, 5)
                for i, worker in enumerate(workers):
                    worker.stdin.write(f"{label} {count}\n")
                    worker.stdin.flush()
                    results[label][i].append(json.loads(worker.stdout.readline()))
        for worker in workers:
            worker.stdin.close()
            worker.wait()
    print(f"{posts[0]:,} posts; throttle cache: {cache_url or 'file'}; median of {args.rounds} batches of each request")
    head = "".join(f" | {root.name} wall / CPU us (queries)" for root in roots)
    ratio_head = "".join(f" | {root.name}/{roots[0].name} wall, CPU" for root in roots[1:])
    print(f"| request{head}{ratio_head} |")
    print("| --- " + "| ---: " * (2 * len(roots) - 1) + "|")
    for label in labels:
        wall = [statistics.median(r["wall"] for r in runs) for runs in results[label]]
        cpu = [statistics.median(r["cpu"] for r in runs) for runs in results[label]]
        queries = [runs[-1]["queries"] for runs in results[label]]
        cells = "".join(f" | {w:,.0f} / {c:,.0f} ({q})" for w, c, q in zip(wall, cpu, queries, strict=True))
        ratios = "".join(f" | {w / wall[0]:.2f}, {c / cpu[0]:.2f}" for w, c in zip(wall[1:], cpu[1:], strict=True))
        print(f"| {label}{cells}{ratios} |")


if __name__ == "__main__":
    main()
