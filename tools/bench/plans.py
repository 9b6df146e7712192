#!/usr/bin/env python3
"""The query plans the engine switches choose between, timed on both sides.

``dbtools.engines.Engine`` says where an engine's planner needs another query
shape (``joined_page_stops_early``, ``offset_reads_rows``), and MariaDB's
search backend picks a walk of the newest rows or its FULLTEXT index by how
many of the newest rows match. This prints, at each size of the
scale data sets on DATABASE_URL's engine (tools/bench/datasets.py), the time
of each shape the code chooses between, in process (no HTTP), median of
``--repeat`` runs after one warm-up (a run over 2 s is taken once):

  * the API's first page of posts, the author's name joined / by a subquery;
  * page 2,000 of 20 by number (the last page of a smaller set), in one
    query / keys first;
  * the admin's ids of all posts sorted by author (first page and halfway),
    the plain ORDER BY / the walk of the per-user counters;
  * a search of every post, as run / the walk alone / the FULLTEXT index
    alone (MariaDB/MySQL only);
  * searches among filtered rows (none, one author, the last 30 days), as the
    code runs them.

The rare word is the search benchmark's (its 5 posts are added to each set).
A figure, not a test: it never fails on a slow machine.

usage: DATABASE_URL=mysql://root@127.0.0.1:3306/h_scale python -m tools.bench.plans [--sizes 1000,1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from tools.bench import datasets  # noqa: E402
from tools.bench.search import RARE_WORD, add_rare_posts, child_json  # noqa: E402

COMMON_WORD = "made"  # seed_demo's word nearest to 10% of posts (make bench-search measures it)
SLOW_MS = 2000


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of ``repeat`` runs after a warm-up; one run when that is slow."""
    started = time.perf_counter()
    fn()
    first = (time.perf_counter() - started) * 1000
    if first > SLOW_MS:
        return first
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(repeat: int) -> dict[str, float]:
    """Runs in a child process on the DATABASE_URL it was given."""
    import django

    django.setup()
    from datetime import timedelta

    from django.db import connection

    from dbtools.engines import engine_for
    from posts.counting import ids_in_order, ids_sorted_by_author
    from posts.models import Post, PostQuerySet
    from posts.search import search_posts
    from project.counting import CountedPaginator, known
    from users.models import User

    add_rare_posts()
    engine = type(engine_for("default"))
    chosen = (engine.joined_page_stops_early, engine.offset_reads_rows)
    out: dict[str, float] = {}
    total = Post.objects.count()
    try:
        for joined in (True, False):
            engine.joined_page_stops_early = joined
            page = Post.objects.for_api().newest_first().values(*PostQuerySet.API_VALUES)
            out[f"API first page | name {'joined' if joined else 'by subquery'}"] = timed(
                lambda page=page: list(page[:20]), repeat
            )
        engine.joined_page_stops_early = chosen[0]
        page = Post.objects.for_api().newest_first().values(*PostQuerySet.API_VALUES)
        for keys_first in (False, True):
            engine.offset_reads_rows = keys_first
            paginator = CountedPaginator(page, 20, counter=known(total))
            deep = min(2000, paginator.num_pages)  # the last page of a smaller set
            out[f"page 2,000 (or the last) by number | {'keys first' if keys_first else 'one query'}"] = timed(
                lambda paginator=paginator, deep=deep: list(paginator.page(deep)), repeat
            )
    finally:
        engine.joined_page_stops_early, engine.offset_reads_rows = chosen

    for descending in (False, True):
        listed = Post.objects.order_by(f"{'-' if descending else ''}author__username", "-created_at", "-pk")
        walk = ids_sorted_by_author(descending=descending)
        for where, bottom in (("first page", 0), ("halfway", total // 2)):
            label = f"admin by author{', descending' if descending else ''}, {where}"
            out[f"{label} | ORDER BY"] = timed(lambda q=listed, b=bottom: ids_in_order(q, b, b + 100), repeat)
            out[f"{label} | counter walk"] = timed(lambda q=listed, b=bottom, w=walk: w(q, b, b + 100), repeat)

    if connection.vendor == "mysql":
        from posts.search.mysql import MysqlBackend

        # The backend's two plans forced: the probe reads one row, then the
        # walk always (no match is enough) or the index always (one never is).
        plans = {"as run": {}, "walk alone": {"dense_from": 0}, "index alone": {"dense_from": 2}}
        chosen_plan = {name: getattr(MysqlBackend, name) for name in ("probe_rows", "dense_from")}
        try:
            for word in (RARE_WORD, COMMON_WORD):
                for label, plan in plans.items():
                    for name, value in {**chosen_plan, **({"probe_rows": 1, **plan} if plan else {})}.items():
                        setattr(MysqlBackend, name, value)

                    def first_page(word=word) -> None:
                        found = search_posts(Post.objects.for_api().newest_first(), word, all_posts=True)
                        found.count()
                        list(found.posts.values(*PostQuerySet.API_VALUES)[:20])

                    out[f"search of every post, {word} | {label}"] = timed(first_page, repeat)
        finally:
            for name, value in chosen_plan.items():
                setattr(MysqlBackend, name, value)

    author = User.objects.order_by("pk").first()
    newest = Post.objects.order_by("-created_at").values_list("created_at", flat=True).first()
    every = Post.objects.for_api().newest_first()
    filtered = {
        "Post.objects.search()": every,
        "one author": every.filter(author=author),
        "last 30 days": every.filter(created_at__gte=newest - timedelta(days=30)),
    }
    for word in (RARE_WORD, COMMON_WORD):
        for label, posts in filtered.items():

            def results(posts=posts, word=word) -> None:
                found = search_posts(posts, word)
                found.count()
                list(found.posts.values(*PostQuerySet.API_VALUES)[:20])

            out[f"search {word}, {label} | as run"] = timed(results, repeat)
    return out


def run_child(url: str, repeat: int) -> dict[str, float]:
    return child_json([sys.executable, __file__, "--child", "--repeat", str(repeat)], url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.repeat)))
        return
    base_url = os.environ.get("DATABASE_URL", "")
    sizes = [int(size) for size in args.sizes.split(",")]
    results = {n: run_child(datasets.dataset_url(base_url, n), args.repeat) for n in sizes}
    small, large = min(sizes), max(sizes)
    print(f"plans on {datasets.engine_of(base_url)}: ms, median of {args.repeat} (one run when over {SLOW_MS} ms)")
    print(f"{'query | shape':66} {f'{small:,}':>10} {f'{large:,}':>12} {'ratio':>8}")
    for key, a in results[small].items():
        b = results[large][key]
        print(f"{key:66} {a:10.1f} {b:12.1f} {b / a:7.1f}x")


if __name__ == "__main__":
    main()
