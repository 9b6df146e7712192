"""Benchmark of the public pages, in-process (Django's test client, no network).

Seeds a fresh SQLite file with the demo data set (2,000 users / 100,000 posts
by default), then times each page and prints milliseconds per request and the
number of queries. It also times one users-list page with post counts done
both ways (the stored ``post_count`` column the page reads,
against the JOIN + GROUP BY of ``Count("posts")``) and prints the ratio.

    python -m tools.bench.pages [--users 2000] [--posts 100000] [--repeat 30]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` calls, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page (median reported)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as workdir:
        return bench(args, Path(workdir))


def bench(args: argparse.Namespace, workdir: Path) -> int:
    # A production-like configuration: DEBUG off, a real SQLite file.
    os.environ.update(
        {
            "DATABASE_URL": f"sqlite:///{workdir / 'db.sqlite3'}",
            "DEBUG": "false",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "benchmark-only-secret-key"),
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "WARNING",
            "VAR_DIR": str(workdir),
            # The test client speaks plain HTTP; nothing is collected into STATIC_ROOT.
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_MANIFEST": "false",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from posts.models import Post
    from users.models import User

    call_command("migrate", verbosity=0)
    # The progress bar goes to a buffer: only the figures are printed.
    call_command("seed_demo", users=args.users, posts=args.posts, seed=42, stdout=io.StringIO(), stderr=io.StringIO())
    reader = User.objects.create_user(username="bench-reader", email="bench@example.com", password=None)
    post = Post.objects.with_author().newest_first().first()
    author = post.author
    deep_home = max(1, args.posts // 20 // 2)

    anonymous, logged_in = Client(), Client()
    logged_in.force_login(reader)
    pages = [
        ("home, page 1", anonymous, "/"),
        ("home, page 1 (logged in)", logged_in, "/"),
        (f"home, page {deep_home} (OFFSET {(deep_home - 1) * 20})", anonymous, f"/?page={deep_home}"),
        ("post detail", anonymous, f"/posts/{post.pk}/"),
        ("author page", anonymous, f"/users/{author.username}/"),
        ("users list, page 1", anonymous, "/users/"),
        ("sign-up form", anonymous, "/accounts/signup/"),
    ]
    print(f"Public pages, in-process, SQLite file, {args.users:,} users / {args.posts:,} posts")
    print(f"{'page':<40} {'ms/request':>10} {'queries':>8}")
    for label, client, url in pages:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        # Read the count now: later requests reset the connection's query log.
        query_count = len(queries)
        if response.status_code != 200:
            print(f"{label}: HTTP {response.status_code} for {url}", file=sys.stderr)
            connections.close_all()
            return 1
        ms = timed(lambda client=client, url=url: client.get(url), args.repeat)
        print(f"{label:<40} {ms:>10.1f} {query_count:>8}")

    stored = User.objects.order_by("username", "id")
    grouped = User.objects.annotate(posts_counted=Count("posts")).order_by("username", "id")
    sub_ms = timed(lambda: (stored.count(), list(stored[:50])), args.repeat)
    join_ms = timed(lambda: (grouped.count(), list(grouped[:50])), args.repeat)
    print()
    print("users list page (COUNT + 50 rows with post counts), queries only:")
    print(f"  stored column (post_count)            {sub_ms:>8.1f} ms")
    print(f"  JOIN + GROUP BY (Count('posts'))       {join_ms:>8.1f} ms")
    print(f"  ratio                                  {join_ms / sub_ms:>8.1f}x")
    connections.close_all()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
