#!/usr/bin/env python3
"""Time the API list requests, a search, the pages and the admin's posts list
in-process, for one or more checkouts of the project, side by side.

Each measurement runs in a fresh process with one checkout's code on a copy
of a seeded SQLite file: Django's test client (the whole middleware stack,
no network), DEBUG off, token authentication, and the throttle counters in
Redis when one answers (else in the file cache). Checkouts take turns round
after round and each request keeps the median of its rounds, so that a
drift in a shared machine's speed hits every checkout alike; the figures to
read are the ratios between checkouts of one run, not the absolute times.

    python bench/inprocess.py --db seeded.sqlite3 [--root . --root ../other-checkout]
        [--repeat 300] [--rounds 3] [--redis redis://127.0.0.1:6379/13]

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

ROOT = Path(__file__).resolve().parent.parent


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


def measure(repeat: int, word: str) -> dict:
    """Runs in a child process: the current directory is the checkout, DATABASE_URL names the file."""
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
    clients = {
        "anon": Client(),
        "token": Client(HTTP_AUTHORIZATION=f"Token {token.key}"),
        "admin": Client(),
    }
    clients["admin"].force_login(admin)
    results = {}
    for label, who, path in requests(author.pk, author.username, word):
        path = path.format(post_id=post_id)
        client = clients[who]
        for _ in range(3):  # warm-up: page cache, templates, the connection
            response = client.get(path)
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
        samples = []
        # Admin and pages are slower: fewer samples keep the run short.
        n = repeat if label.startswith("GET") else max(repeat // 10, 10)
        for _ in range(n):
            started = time.perf_counter()
            client.get(path)
            samples.append((time.perf_counter() - started) * 1e6)
        with CaptureQueriesContext(connection) as queries:
            client.get(path)
        results[label] = {"us": statistics.median(samples), "queries": len(queries)}
    return {"posts": Post.objects.count(), "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", action="append", help="A checkout of the project (default: this one).")
    parser.add_argument("--db", action="append", required=True, help="Seeded SQLite file (one, or one per root).")
    parser.add_argument("--repeat", type=int, default=300, help="Timed API requests per round (pages: a tenth).")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--word", default="checkpoint", help="The search word.")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0", help="Throttle cache, when it answers.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.repeat, args.word)))
        return
    roots = [Path(r).resolve() for r in (args.root or [ROOT])]
    dbs = [Path(d).resolve() for d in args.db]
    if len(dbs) == 1:
        dbs = dbs * len(roots)
    if len(dbs) != len(roots):
        raise SystemExit("Pass --db once, or once per --root.")
    from api import redis_answers  # bench/api.py, beside this script

    address = urlsplit(args.redis)
    cache_url = args.redis if redis_answers(address.hostname or "127.0.0.1", address.port or 6379) else ""
    rounds: list[list[dict]] = [[] for _ in roots]
    measure_args = ["--repeat", str(args.repeat), "--word", args.word]
    with tempfile.TemporaryDirectory(prefix="bench-inprocess-") as work:
        for number in range(args.rounds):
            for i, (root, db) in enumerate(zip(roots, dbs, strict=True)):
                copy = Path(work) / f"db-{i}.sqlite3"
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{copy}{suffix}").unlink(missing_ok=True)
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
                    # The test client speaks plain HTTP; nothing is collected into STATIC_ROOT.
                    "SECURE_SSL_REDIRECT": "false",
                    "STATIC_MANIFEST": "false",
                }
                print(f"round {number + 1}/{args.rounds}: {root}", file=sys.stderr)
                out = subprocess.run(
                    [sys.executable, str(Path(__file__).resolve()), "--measure", "--db", str(copy), *measure_args],
                    cwd=root,
                    env=env,
                    capture_output=True,
                    text=True,
                )
                if out.returncode:
                    raise SystemExit(f"{root}: the measuring process failed:\n{out.stderr[-3000:]}")
                rounds[i].append(json.loads(out.stdout.strip().splitlines()[-1]))
    labels = list(rounds[0][0]["results"])
    print(f"{rounds[0][0]['posts']:,} posts; throttle cache: {cache_url or 'file'}; median of {args.rounds} rounds")
    head = "".join(f" | {root.name} us (queries)" for root in roots)
    ratio_head = "".join(f" | {root.name}/{roots[0].name}" for root in roots[1:])
    print(f"| request{head}{ratio_head} |")
    print("| --- " + "| ---: " * (2 * len(roots) - 1) + "|")
    for label in labels:
        medians = [statistics.median(r["results"][label]["us"] for r in rs) for rs in rounds]
        queries = [rs[-1]["results"][label]["queries"] for rs in rounds]
        cells = "".join(f" | {m:,.0f} ({q})" for m, q in zip(medians, queries, strict=True))
        ratios = "".join(f" | {m / medians[0]:.2f}" for m in medians[1:])
        print(f"| {label}{cells}{ratios} |")


if __name__ == "__main__":
    main()
