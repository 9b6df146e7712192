"""Throttle counter stores side by side: what a request's count costs, what
opening the store costs, and how many increments two processes lose.

Each store gets what a throttled request does to it: ``add(key, 0)``,
``incr(key)``, then ``close()`` (Django closes caches at the end of every
request). Stores: Django's file-based cache, diskcache's Django backend as it
is, the project's default (``project.cache.SharedFileCache``: diskcache,
opened on first use and kept open) and Redis when one answers.

    python -m tools.bench.throttle_store [--ops 2000] [--redis redis://127.0.0.1:6379/15]

Figures from one run are comparable with each other; compare ratios, not
absolute times across runs.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

STORES = {
    "django file cache": "django.core.cache.backends.filebased.FileBasedCache",
    "diskcache.DjangoCache": "diskcache.DjangoCache",
    "project default": "project.cache.SharedFileCache",
    "redis": "django.core.cache.backends.redis.RedisCache",
}


def open_store(backend: str, location: str):
    from django.utils.module_loading import import_string

    return import_string(backend)(location, {})


def setup_django() -> None:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure()
        django.setup()


def count(backend: str, location: str, ops: int, key: str, start=None) -> float:
    """``ops`` throttled requests' worth of counting; the seconds it took."""
    setup_django()
    store = open_store(backend, location)
    store.add("warm-up", 0, 60)
    if start is not None:
        start.wait()
    began = time.perf_counter()
    for _ in range(ops):
        store.add(key, 0, 300)
        store.incr(key)
        store.close()
    return time.perf_counter() - began


def opening_ms(backend: str, location: str) -> float:
    """Creating the store, as Django's system checks do at every command."""
    setup_django()
    began = time.perf_counter()
    open_store(backend, location)
    return (time.perf_counter() - began) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=2000, help="requests counted per process (default 2000)")
    parser.add_argument("--redis", default=os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    setup_django()
    ctx = multiprocessing.get_context("spawn")
    print(f"{'store':24} {'us/request':>10} {'open ms':>8} {'2 processes: counted':>21}")
    for name, backend in STORES.items():
        with tempfile.TemporaryDirectory() as folder:
            location = args.redis if name == "redis" else folder
            if name == "redis":
                try:
                    open_store(backend, location).get("ping")
                except Exception as exc:  # any connection failure: report and go on
                    print(f"{name:24} skipped: {exc}")
                    continue
            key = f"bench-{os.getpid()}-{time.time_ns()}"
            single = count(backend, location, args.ops, key + "-1")
            # Opening a store whose files exist, as every process after the first does.
            opened = min(ctx.Pool(1).apply(opening_ms, (backend, location)) for _ in range(3))
            with ctx.Manager() as manager:
                start = manager.Event()
                with ctx.Pool(2) as pool:
                    runs = [pool.apply_async(count, (backend, location, args.ops, key + "-2", start)) for _ in range(2)]
                    time.sleep(1.0)
                    start.set()
                    [run.get() for run in runs]
            store = open_store(backend, location)
            counted = store.get(key + "-2")
            store.delete(key + "-1")
            store.delete(key + "-2")
            print(
                f"{name:24} {single / args.ops * 1e6:10.0f} {opened:8.1f} "
                f"{counted:>10} of {2 * args.ops} ({(2 * args.ops - counted) / (2 * args.ops):.0%} lost)"
            )


if __name__ == "__main__":
    main()
