"""Turn ``CACHE_URL`` into a Django ``CACHES`` entry.

The cache holds state that every server process must see alike (API throttle
counters), so the default needs nothing but Python and is shared by all
processes on one machine: diskcache's Django backend, SQLite files in a
folder (``SharedFileCache`` below). Its ``add`` and ``incr`` are atomic
across processes (each is one SQLite transaction), so two workers counting the
same client never lose a request. Django's own file-based cache is not: its
``incr`` reads the file and writes it back, and two processes counting at once
lost a third of their increments in ``tools/bench/throttle_store.py``; it also lists
its whole folder on every write and deletes a third of its entries at random
once it holds 300, throttle counters included. Redis is the choice for several
machines or heavy traffic.

The URL parsing is ours rather than django-cache-url's: three schemes, and
the file store must be this module's backend, not Django's.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured

FILE_BACKEND = "project.cache.SharedFileCache"
# diskcache's SQLite settings for the default store (see SharedFileCache).
STORE_SQLITE_OPTIONS = {"sqlite_journal_mode": "truncate", "sqlite_mmap_size": 0, "sqlite_synchronous": 0}
# How long one of the store's SQLite statements waits for another process's
# lock (SQLite's busy timeout), in seconds. diskcache's Django backend waits
# 10 ms, which is enough in WAL mode only: with a rollback journal a COMMIT
# waits until no other process is reading, and diskcache does not retry a
# COMMIT, so on a busy machine a throttled request failed with "database is
# locked". Locks are held for microseconds; the wait is a bound, not a cost.
STORE_BUSY_TIMEOUT_SECONDS = 5.0


def cache_from_url(url: str) -> dict[str, Any]:
    """``redis://host:port/db`` (or ``rediss://``), ``file:///abs/path`` or ``locmem://``."""
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss", "unix"}:
        # django-redis rather than Django's own RedisCache: Django's builds a
        # new redis-py client object for every operation (about 60 us with
        # redis 8, more than the round trip) and increments in two round
        # trips (EXISTS, INCR); django-redis keeps its clients and increments
        # in one (a script), which the throttle does on every API request.
        return {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}
    if scheme == "file":
        path = url[len("file://") :]
        if not path.startswith("/"):
            raise ImproperlyConfigured(f"CACHE_URL={url!r}: a file cache needs an absolute path (file:///path).")
        return {"BACKEND": FILE_BACKEND, "LOCATION": path}
    if scheme == "locmem":
        # One process only: counters are not shared between server workers.
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": url}
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} is not a cache URL this project understands "
        "(redis://host:6379/0, file:///absolute/path, locmem://)."
    )


class SharedFileCache(BaseCache):
    """diskcache's Django backend, opened on first use and kept open.

    ``diskcache.DjangoCache`` opens its SQLite files, and writes its settings
    into each of them, as soon as Django creates it, which Django's system
    checks do at the start of every management command: tens to hundreds of
    milliseconds each time, and on a full disk the command would die there
    with a traceback before it could report anything. This backend creates
    it when a value is first read or written.

    diskcache opens its files with Python's own ``sqlite3`` module, not the
    project's bundled library (``dbtools.sqlite``), so it may run a SQLite
    with the WAL-reset bug, and it defaults to WAL mode with memory-mapped I/O:
    the very conditions of that bug, with every worker writing on every
    request. The store therefore uses a rollback journal (the bug needs WAL)
    and no mmap. Its contents are counters that expire within the throttle
    window, so it skips fsync (``synchronous=OFF``): a power cut can at worst
    damage the folder, which deleting it mends, where an fsync per request
    would cost ten times the count itself (tools/bench/throttle_store.py).
    ``close()`` (which Django calls
    at the end of every request) keeps the connections: diskcache holds one
    per thread and opens new ones after a fork, so closing them would only
    mean reopening them on the next request.
    """

    def __init__(self, location: str, params: dict[str, Any]) -> None:
        super().__init__(params)
        self._location = location
        self._params = params

    @cached_property
    def _store(self) -> BaseCache:
        from diskcache import DjangoCache

        # Made here, on first use, not when the settings are read. Owner-only:
        # cached values are pickles, which whoever can write here could forge.
        Path(self._location).mkdir(mode=0o700, parents=True, exist_ok=True)
        options = {**STORE_SQLITE_OPTIONS, **self._params.get("OPTIONS", {})}
        params = {"DATABASE_TIMEOUT": STORE_BUSY_TIMEOUT_SECONDS, **self._params, "OPTIONS": options}
        return DjangoCache(self._location, params)

    def add(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._store.add(key, value, timeout, version)

    def get(self, key: str, default: Any = None, version: int | None = None) -> Any:
        return self._store.get(key, default, version)

    def set(self, key: str, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> None:
        self._store.set(key, value, timeout, version)

    def touch(self, key: str, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._store.touch(key, timeout, version)

    def delete(self, key: str, version: int | None = None) -> bool:
        return self._store.delete(key, version)

    def incr(self, key: str, delta: int = 1, version: int | None = None) -> int:
        """Atomic across processes: one SQLite transaction. ValueError if the key is missing."""
        return self._store.incr(key, delta, version)

    def has_key(self, key: str, version: int | None = None) -> bool:
        return self._store.has_key(key, version)

    def clear(self) -> None:
        self._store.clear()

    def close(self, **kwargs: Any) -> None:
        pass  # See the class docstring.
