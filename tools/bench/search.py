#!/usr/bin/env python3
"""Search at 1,000 vs 1,000,000 posts: does a results page stay cheap?

A "results page" is what the API, the admin and the pages do for a search:
the count, then the first 20 posts with their authors, through
``Post.objects.with_author().search(query, order=...)``. Each is timed in
process (no HTTP), newest first and by relevance, for

  * a rare word: "zeppelin", in 5 posts the benchmark adds to each data set;
  * one author's username (each demo user wrote ~0.05% of the posts);
  * a common word: the seed_demo word closest to 10% of posts (the word list is
    Zipf-weighted; the fraction is measured, not assumed);
  * a phrase of two frequent words, and a prefix being typed;

and, for scale, Django's stock admin search (``icontains`` on title, body and
username, OR-ed) on the same word. Then the rare and the ~10% word once more
through the API (``GET /api/posts/?search=``, Django's test client, the page
cache off), typed as a client sends them: no space after the word.

The data sets are seed_demo's (--users 2000, --seed 42), built once into SQLite
files in BENCH_DIR (default: project-search-bench in the temp folder) and
reused; building the million-post file takes a few minutes. With DATABASE_URL
naming PostgreSQL or MariaDB, each size is copied from its SQLite file into a
database of its own on that server, once (tools/bench/datasets.py), and
measured there. Prints median and
95th percentile times and the 1M/1k ratio. A figure, not a test: it never fails
on a slow machine.

usage: python -m tools.bench.search [--sizes 1000,1000000] [--repeat 30] [--dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools.bench import datasets  # noqa: E402

PAGE_SIZE = 20
RARE_WORD = "zeppelin"
RARE_POSTS = 5


def child_environment(work: Path) -> dict[str, str]:
    """What the measuring process runs with: DEBUG off, the API's throttle
    counting but never refusing, and no page cache (the search itself is timed)."""
    return {
        "SECRET_KEY": "bench-only",
        "DJANGO_SETTINGS_MODULE": "project.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
        "LOG_LEVEL": "WARNING",
        "SECURE_SSL_REDIRECT": "false",
        "STATIC_MANIFEST": "false",
        "VAR_DIR": str(work / "var"),
        "ENV_FILE": str(work / "no.env"),
        "CACHE_URL": f"file://{work / 'cache'}",
        "API_THROTTLE_ANON": "100000000/minute",
        "API_THROTTLE_USER": "100000000/minute",
        "API_PAGE_CACHE_SECONDS": "0",
    }


def add_rare_posts() -> None:
    """The demo vocabulary has no rare word (the least common is in ~4% of
    posts), so the benchmarks add one, in the same few posts of each data set."""
    from posts.models import Post

    if not Post.objects.filter(title__contains=RARE_WORD).exists():
        author = Post.objects.order_by("id").values_list("author_id", flat=True).first()
        Post.objects.bulk_create(
            [Post(author_id=author, title=f"A {RARE_WORD} sighting", body=f"Sighting {i}.") for i in range(RARE_POSTS)]
        )


def measure(url: str, repeat: int, words: list[str] | None) -> dict:
    """Runs in a child process: Django reads DATABASE_URL once per process."""
    os.environ["DATABASE_URL"] = url
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Q
    from django.test import Client

    from posts.management.commands.seed_demo import WORDS
    from posts.models import Post

    total = Post.objects.count()
    if words is None:
        # The word nearest to 10% of posts, measured on this data set.
        # Counted straight from the FTS5 table: search() caps its counts.
        fractions = {w: _fts_count(f'"{w}"') for w in WORDS}
        return {"total": total, "fractions": fractions}

    common, rare = words
    add_rare_posts()
    queries = {
        "rare word": RARE_WORD + " ",
        "one author": rare + " ",
        "~10% word": common + " ",
        "phrase": '"foreign key" ',
        "typing": common[: max(4, len(common) - 2)],
    }

    def page(query: str, order: str) -> None:
        qs = Post.objects.with_author().search(query, order=order)
        qs.count()
        for post in qs[:PAGE_SIZE]:
            post.author.username  # noqa: B018 (the page shows the author)

    client = Client()

    def api(query: str) -> None:
        response = client.get("/api/posts/", {"search": query})
        if response.status_code != 200:
            raise SystemExit(f"?search={query} answered {response.status_code}: {response.content[:300]!r}")

    def stock_admin(word: str) -> None:
        qs = Post.objects.with_author().filter(
            Q(title__icontains=word) | Q(body__icontains=word) | Q(author__username__icontains=word)
        )
        qs.count()
        list(qs[:PAGE_SIZE])

    def timed(fn, *args, n: int) -> dict:
        fn(*args)  # warm the page cache and Django's query path
        samples = []
        for _ in range(n):
            started = time.perf_counter()
            fn(*args)
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        return {"median": statistics.median(samples), "p95": samples[int(0.95 * (len(samples) - 1))]}

    results: dict = {"total": total, "timings": {}}
    with_matches = {}
    for label, query in queries.items():
        with_matches[label] = Post.objects.search(query).count()
        for order in ("newest", "relevance"):
            results["timings"][f"{label} | {order}"] = timed(page, query, order, n=repeat)
    # Through the API (Django's test client: middleware, token-less reads,
    # the throttle, DRF, the serializer), as a client types them: no space
    # after the last word, so it is also a prefix.
    for label, word in (("rare word", RARE_WORD), ("~10% word", common)):
        results["timings"][f"API ?search= {label}"] = timed(api, word, n=repeat)
    results["matches"] = with_matches
    results["exact"] = {
        "rare word": _exact_count(RARE_WORD),
        "one author": Post.objects.filter(author__username=rare).count(),
        "~10% word": _exact_count(common),
    }
    results["engine"] = f"{connection.display_name} {'.'.join(map(str, connection.get_database_version()))}"
    results["timings"]["stock admin icontains | ~10% word"] = timed(stock_admin, common, n=max(1, repeat // 10))
    return results


def _exact_count(word: str) -> int:
    """Every post holding ``word`` (no cap), on any engine."""
    from django.db import connection

    from posts.models import Post
    from posts.search import backend_for, parse_query

    if connection.vendor == "sqlite":
        return _fts_count(f'"{word}"')
    backend = backend_for(connection)
    parsed = backend.prepare(connection, parse_query(word + " ", underscore_in_words=backend.underscore_in_words))
    return Post.objects.filter(backend.match_condition(parsed)).count()


def _fts_count(match: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM posts_post_fts WHERE posts_post_fts MATCH %s", [match])
        return cursor.fetchone()[0]


def run_child(url: str, repeat: int, words: list[str] | None) -> dict:
    args = [sys.executable, __file__, "--child", url, "--repeat", str(repeat)]
    if words:
        args += ["--words", ",".join(words)]
    return child_json(args, url)


def child_json(args: list[str], url: str) -> dict:
    """Run a measuring child process (``args``) on the data set at ``url``, in
    the benchmark's environment; it prints its figures as JSON on its last line."""
    with tempfile.TemporaryDirectory(prefix="bench-child-") as work:
        env = {**os.environ, **child_environment(Path(work)), "DATABASE_URL": url}
        proc = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"measuring {datasets.safe_url(url)} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--dir", default=str(datasets.sqlite_folder()))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--words", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        out = measure(args.child, args.repeat, args.words.split(",") if args.words else None)
        print(json.dumps(out))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    folder = Path(args.dir)
    base_url = os.environ.get("DATABASE_URL", "")
    engine = datasets.engine_of(base_url)
    urls = {}
    for n in sizes:
        datasets.sqlite_file(n, folder)
        urls[n] = datasets.dataset_url(base_url, n, folder=folder)

    # The word survey reads the SQLite file of the smallest set: the same rows on every engine.
    survey = run_child(f"sqlite:///{datasets.sqlite_file(min(sizes), folder)}", 1, None)
    total = survey["total"]
    common = min(survey["fractions"], key=lambda w: abs(survey["fractions"][w] / total - 0.10))
    rare = "user00001"
    results = {n: run_child(urls[n], args.repeat, [common, rare]) for n in sizes}
    name = results[max(sizes)]["engine"] if engine != "sqlite" else "SQLite"
    print(f"search: seed_demo --users 2000 --seed 42, {name}, count + page of {PAGE_SIZE}, {args.repeat} runs each")
    share = survey["fractions"][common] / total
    print(f"words: rare={RARE_WORD!r}, author={rare!r}, common={common!r} ({share:.1%} of posts at {total:,})")
    for n in sizes:
        r = results[n]
        exact = r["exact"]
        print(
            f"{n:>9,} posts: rare word in {exact['rare word']:,} posts, {rare} wrote {exact['one author']:,}, "
            f"common word in {exact['~10% word']:,} "
            f"({exact['~10% word'] / r['total']:.1%}); results counted (capped): {r['matches']}"
        )
    small, large = min(sizes), max(sizes)
    print(f"\n{'query | order':40} {'1k median':>10} {'1k p95':>8} {'1M median':>10} {'1M p95':>8} {'ratio':>6}")
    for key in results[small]["timings"]:
        a, b = results[small]["timings"][key], results[large]["timings"][key]
        ratio = b["median"] / a["median"]
        print(f"{key:40} {a['median']:9.2f}ms {a['p95']:7.2f}ms {b['median']:9.2f}ms {b['p95']:7.2f}ms {ratio:5.1f}x")


if __name__ == "__main__":
    main()
