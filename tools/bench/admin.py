#!/usr/bin/env python3
"""Time the admin pages people click most, at 1,000 and at 1,000,000 posts.

For each size, a SQLite file (built once, by ``migrate`` and ``seed_demo``
with 2,000 users, and kept in the temp folder for later runs) is measured in
a fresh process: Django's test client, logged in as a superuser, requests
each page a few times after a warm-up, and the median is kept. Each page's
query count is taken from one more request. The goal is a ratio (1,000,000
posts / 1,000 posts) of at most 2 on every page.

usage: python -m tools.bench.admin [--sizes 1000,1000000] [--users 2000] [--repeat 7] [--rounds 3]
                             [--dir /tmp/project-bench-admin] [--write docs/benchmarks.md]

With DATABASE_URL naming PostgreSQL or MariaDB, each size is a database of
its own on that server, copied once from the search benchmark's SQLite file
of that size (tools/bench/datasets.py: the same seed_demo rows), and
``--write`` leaves the SQLite table alone.

Wrap heavy runs in ``flock /tmp/project-bench.lock`` (``make bench-admin`` does).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
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
from tools.bench import datasets  # noqa: E402

SECTION = "## Admin pages at 1,000 and 1,000,000 posts"
NOTES = """\
Reading the table:

- Each page's database work stays flat from 1,000 to 1,000,000 posts (the SQL
  column): counts come from the per-user counters or stop at 10,000 rows,
  every sort and filter reads one page from an index, the date drill-down
  seeks once per period. Stock Django admin on the same data: sorting by
  title 2.3 to 2.6 s, the users list with post counts 0.5 to 0.8 s, the date
  drill-down a pass over every post.
- "posts on one day" and "posts of one author" show 2 or 3 rows at 1,000
  posts (1,000 posts spread over 365 days and 2,000 users) and 100 rows at a
  million. Their ratio is the time to draw 97 more rows (about 0.3 ms each
  in Django's changelist template), not to find them: their SQL time stays
  under a few milliseconds. Pages that show the same number of rows at both
  sizes are within the goal.
- "posts in one month" at a million posts counts 10,000 matches, then shows
  an estimate marked "(estimated)" on the page.
- Figures come from a machine shared with other work; the rounds in which
  the sizes take turns keep that drift out of the ratios, not out of the
  absolute times.
"""


def pages(first_user_id: int, day: dt.date) -> list[tuple[str, str]]:
    month = f"created_at__year={day.year}&created_at__month={day.month}"
    return [
        ("posts list", "/admin/posts/post/"),
        ("posts by title", "/admin/posts/post/?o=1"),
        ("posts by title, descending", "/admin/posts/post/?o=-1"),
        ("posts by author", "/admin/posts/post/?o=2"),
        ("posts by author, descending", "/admin/posts/post/?o=-2"),
        ("posts by created, oldest first", "/admin/posts/post/?o=3"),
        ("posts by updated", "/admin/posts/post/?o=4"),
        ("posts by updated, descending", "/admin/posts/post/?o=-4"),
        ("posts on one day (date hierarchy)", f"/admin/posts/post/?{month}&created_at__day={day.day}"),
        ("posts in one month (date hierarchy)", f"/admin/posts/post/?{month}"),
        ("posts of one author", f"/admin/posts/post/?author={first_user_id}"),
        ("users list", "/admin/users/user/"),
        ("users by post count", "/admin/users/user/?o=-6"),
        ("a user's change page", f"/admin/users/user/{first_user_id}/change/"),
    ]


def environment(database: Path | str) -> dict[str, str]:
    """The measuring process's environment: ``database`` is a SQLite file or a server's URL."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database if isinstance(database, str) else f"sqlite:///{database}",
        DEBUG="false",
        SECRET_KEY="benchmark-only-secret-key",  # noqa: S106 (a throw-away key for a local run)
        ALLOWED_HOSTS="localhost",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="project.settings",
        # The test client speaks plain HTTP; nothing is collected into STATIC_ROOT.
        SECURE_SSL_REDIRECT="false",
        STATIC_MANIFEST="false",
    )
    return env


def build(database: Path, posts: int, users: int) -> None:
    """Migrate and seed the file unless it already holds the data."""
    env = environment(database)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], check=True, env=env, cwd=ROOT)
    started = time.monotonic()
    subprocess.run(
        [*manage, "seed_demo", "--if-empty", "--users", str(users), "--posts", str(posts), "-v1"],
        check=True,
        env=env,
        cwd=ROOT,
    )
    print(f"  {database.name}: ready in {time.monotonic() - started:.0f} s", file=sys.stderr)


class QueryTimer:
    """A database execute wrapper: number of queries, their total time and
    the slowest one."""

    def __init__(self) -> None:
        self.count = 0
        self.total = 0.0
        self.slowest: tuple[float, str] = (0.0, "")

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            self.count += 1
            self.total += elapsed
            if elapsed > self.slowest[0]:
                self.slowest = (elapsed, sql)


def measure(repeat: int) -> dict:
    """Runs in a child process whose DATABASE_URL names one file."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import setup_test_environment

    from posts.models import Post
    from users.models import User

    setup_test_environment()  # the test client's response.context, nothing else
    admin = User.objects.filter(username="bench-admin").first()
    if admin is None:
        admin = User.objects.create_superuser("bench-admin", "bench-admin@example.com", None)
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)
    first_user = User.objects.filter(is_staff=False).order_by("id").first()
    newest = Post.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    day = (newest - dt.timedelta(days=180)).date()
    results = {}
    for name, url in pages(first_user.pk, day):
        for _ in range(2):  # warm-up: page cache, templates, connection
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url} answered {response.status_code}")
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        timer = QueryTimer()
        with connection.execute_wrapper(timer):
            response = client.get(url)
        estimated = "(estimated)" in response.content.decode()
        changelist = response.context.get("cl") if response.context else None
        print(f"{name}: slowest query {timer.slowest[0]:.1f} ms: {timer.slowest[1][:300]}", file=sys.stderr)
        results[name] = {
            "url": url,
            "ms": statistics.median(timings),
            "queries": timer.count,
            "sql_ms": timer.total,
            "rows": len(changelist.result_list) if changelist is not None else None,
            "estimated": estimated,
        }
    if connection.vendor == "sqlite":
        engine = f"SQLite {Database.sqlite_version}"
    else:
        engine = f"{connection.display_name} {'.'.join(map(str, connection.get_database_version()))}"
    return {"posts": Post.objects.count(), "sqlite": Database.sqlite_version, "engine": engine, "pages": results}


def table(runs: dict[int, dict], sizes: list[int]) -> str:
    small, large = sizes[0], sizes[-1]
    lines = [
        f"| page | {small:,} posts (ms) | {large:,} posts (ms) | ratio | SQL ms | rows shown | queries |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in runs[small]["pages"]:
        a = runs[small]["pages"][name]
        b = runs[large]["pages"][name]
        note = " (count estimated)" if b["estimated"] else ""
        rows = "-" if a["rows"] is None else f"{a['rows']} / {b['rows']}"
        lines.append(
            f"| {name}{note} | {a['ms']:.1f} | {b['ms']:.1f} | {b['ms'] / a['ms']:.2f} | "
            f"{a['sql_ms']:.1f} / {b['sql_ms']:.1f} | {rows} | {a['queries']} / {b['queries']} |"
        )
    return "\n".join(lines)


def write_section(path: Path, body: str) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(SECTION)
    if start == -1:
        text = text.rstrip("\n") + "\n\n" + body
    else:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body.rstrip("\n") + ("\n\n" + text[end + 1 :] if end != -1 else "")
    path.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,1000000", help="Post counts, comma-separated.")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=7, help="Timed requests per page and round (median kept).")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds, sizes taking turns (median of rounds kept).")
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "project-bench-admin"))
    parser.add_argument("--write", help="Markdown file whose admin section gets the table.")
    parser.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.measure:
        print(json.dumps(measure(args.repeat)))
        return

    sizes = sorted(int(size) for size in args.sizes.split(","))
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    base_url = os.environ.get("DATABASE_URL", "")
    on_server = datasets.engine_of(base_url) != "sqlite"
    if on_server and args.users != datasets.USERS:
        raise SystemExit(f"--users: the data sets on a server are copies of the {datasets.USERS:,}-user SQLite sets.")
    databases: dict[int, Path | str] = {}
    for size in sizes:
        print(f"{size:,} posts:", file=sys.stderr)
        if on_server:
            # PostgreSQL / MariaDB: a database per size, copied once from the seeded SQLite file.
            databases[size] = datasets.dataset_url(base_url, size)
        else:
            databases[size] = folder / f"admin-{size}-posts-{args.users}-users.sqlite3"
            build(databases[size], size, args.users)
    # Sizes take turns, round after round (A B A B ...), and each page keeps
    # the median of its rounds: a drift in the machine's speed (it is shared)
    # then hits both sizes alike instead of skewing their ratio.
    rounds: dict[int, list[dict]] = {size: [] for size in sizes}
    for number in range(args.rounds):
        for size in sizes:
            print(f"round {number + 1}/{args.rounds}: {size:,} posts", file=sys.stderr)
            out = subprocess.run(
                [sys.executable, __file__, "--measure", "--repeat", str(args.repeat)],
                check=True,
                env=environment(databases[size]),
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            sys.stderr.write(out.stderr)
            rounds[size].append(json.loads(out.stdout.strip().splitlines()[-1]))
    runs = {}
    for size in sizes:
        run = rounds[size][-1]
        for name, page in run["pages"].items():
            page["ms"] = statistics.median(r["pages"][name]["ms"] for r in rounds[size])
        runs[size] = run
    result = table(runs, sizes)
    print(f"{runs[sizes[-1]]['engine']}, {args.users:,} users")
    print(result)
    if args.write and on_server:
        print(f"--write: {args.write} keeps the SQLite table; the tables of other engines are copied by hand.")
    elif args.write:
        command = "make bench-admin"
        body = (
            f"{SECTION}\n\n"
            f"Measured {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC with `{command}` "
            f"(`tools/bench/admin.py`): {args.users:,} users, `seed_demo` data, SQLite "
            f"{runs[sizes[-1]]['sqlite']}, Python {platform.python_version()}, "
            f"{os.cpu_count()} cores. In-process (Django test client, logged in as a "
            f"superuser, DEBUG off), median of {args.repeat} requests after two warm-ups, "
            f"then the median of {args.rounds} rounds in which the sizes take turns. "
            "SQL ms (time spent in the database driver), rows shown and queries: one "
            "more request, at each size. Goal: ratio at most 2.\n\n"
            f"{result}\n\n{NOTES}"
        )
        write_section(Path(args.write), body)


if __name__ == "__main__":
    main()
