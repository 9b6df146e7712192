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
username, OR-ed) on the same word.

The data sets are seed_demo's (--users 2000, --seed 42), built once into SQLite
files in BENCH_DIR (default: project-search-bench in the temp folder) and
reused; building the million-post file takes a few minutes. Prints median and
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
# The project's packages: the SQLite library every process of the project uses.
sys.path.insert(0, str(ROOT))
from dbtools.sqlite import Database  # noqa: E402

PAGE_SIZE = 20
RARE_WORD = "zeppelin"
RARE_POSTS = 5


def build_fixture(path: Path, posts: int) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "bench-only"}
    print(f"building {path} ({posts:,} posts; once) ...", file=sys.stderr, flush=True)
    tmp = path.with_suffix(".building")
    for leftover in tmp.parent.glob(tmp.name + "*"):
        leftover.unlink()
    env["DATABASE_URL"] = f"sqlite:///{tmp}"
    manage = [sys.executable, str(ROOT / "manage.py")]
    # Fixed argument lists: this interpreter and manage.py.
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "seed_demo", "--users", "2000", "--posts", str(posts), "-v0"], env=env, check=True)
    # Fold the WAL back into the file so that the fixture is one file.

    with Database.connect(tmp) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.rename(path)


def measure(path: Path, repeat: int, words: list[str] | None) -> dict:
    """Runs in a child process: Django reads DATABASE_URL once per process."""
    os.environ["DATABASE_URL"] = f"sqlite:///{path}"
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db.models import Q

    from posts.management.commands.seed_demo import WORDS
    from posts.models import Post

    total = Post.objects.count()
    if words is None:
        # The word nearest to 10% of posts, measured on this data set.
        # Counted straight from the FTS5 table: search() caps its counts.
        fractions = {w: _fts_count(f'"{w}"') for w in WORDS}
        return {"total": total, "fractions": fractions}

    common, rare = words
    # The demo vocabulary has no rare word (the least common is in ~4% of
    # posts), so the benchmark adds one, in the same few posts of each data set.
    if not Post.objects.filter(title__contains=RARE_WORD).exists():
        author = Post.objects.order_by("id").values_list("author_id", flat=True).first()
        Post.objects.bulk_create(
            [Post(author_id=author, title=f"A {RARE_WORD} sighting", body=f"Sighting {i}.") for i in range(RARE_POSTS)]
        )
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
    results["matches"] = with_matches
    results["exact"] = {
        "rare word": _fts_count(f'"{RARE_WORD}"'),
        "one author": Post.objects.filter(author__username=rare).count(),
        "~10% word": _fts_count(f'"{common}"'),
    }
    results["timings"]["stock admin icontains | ~10% word"] = timed(stock_admin, common, n=max(1, repeat // 10))
    return results


def _fts_count(match: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM posts_post_fts WHERE posts_post_fts MATCH %s", [match])
        return cursor.fetchone()[0]


def run_child(path: Path, repeat: int, words: list[str] | None) -> dict:
    args = [sys.executable, __file__, "--child", str(path), "--repeat", str(repeat)]
    if words:
        args += ["--words", ",".join(words)]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"measuring {path} failed")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=30)
    default_dir = os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "project-search-bench")
    parser.add_argument("--dir", default=default_dir)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--words", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        out = measure(Path(args.child), args.repeat, args.words.split(",") if args.words else None)
        print(json.dumps(out))
        return

    sizes = [int(s) for s in args.sizes.split(",")]
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for n in sizes:
        paths[n] = folder / f"posts-{n}.sqlite3"
        if not paths[n].exists():
            build_fixture(paths[n], n)

    smallest = paths[min(sizes)]
    survey = run_child(smallest, 1, None)
    total = survey["total"]
    common = min(survey["fractions"], key=lambda w: abs(survey["fractions"][w] / total - 0.10))
    rare = "user00001"
    print(f"search: seed_demo --users 2000 --seed 42, SQLite, count + page of {PAGE_SIZE}, {args.repeat} runs each")
    share = survey["fractions"][common] / total
    print(f"words: rare={RARE_WORD!r}, author={rare!r}, common={common!r} ({share:.1%} of posts at {total:,})")

    results = {n: run_child(paths[n], args.repeat, [common, rare]) for n in sizes}
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
