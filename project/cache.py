"""Turn ``CACHE_URL`` into a Django ``CACHES`` entry.

The cache holds state that every server process must see alike (API throttle
counters), so the default needs nothing but Python and is shared by all
processes on one machine: diskcache's Django backend, SQLite files in a
folder. Its ``add`` and ``incr`` are atomic across processes (each is one
SQLite transaction), so two workers counting the same client never lose a
request. Django's own file-based cache is not: its ``incr`` reads the file and
writes it back, and two processes counting at once lose increments (about
four in ten in a two-process test); it also deletes a third of its entries at
random once it holds 300, throttle counters included. Redis is the choice for
several machines or heavy traffic.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured


def cache_from_url(url: str) -> dict[str, Any]:
    """``redis://host:port/db`` (or ``rediss://``), ``file:///abs/path`` or ``locmem://``."""
    scheme = urlsplit(url).scheme
    if scheme in {"redis", "rediss", "unix"}:
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}
    if scheme == "file":
        path = url[len("file://") :]
        if not path.startswith("/"):
            raise ImproperlyConfigured(f"CACHE_URL={url!r}: a file cache needs an absolute path (file:///path).")
        # Owner-only: cached values are pickles, which whoever can write here could forge.
        Path(path).mkdir(mode=0o700, parents=True, exist_ok=True)
        return {"BACKEND": "diskcache.DjangoCache", "LOCATION": path}
    if scheme == "locmem":
        # One process only: counters are not shared between server workers.
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": url}
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} is not a cache URL this project understands "
        "(redis://host:6379/0, file:///absolute/path, locmem://)."
    )
