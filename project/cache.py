"""Turn ``CACHE_URL`` into a Django ``CACHES`` entry.

The cache holds state that every server process must see alike (API throttle
counters), so the default is a file-based cache, shared by all processes on
one machine and needing nothing but Python; Redis is the choice for several
machines or heavy traffic.
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
        Path(path).mkdir(parents=True, exist_ok=True)
        return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": path}
    if scheme == "locmem":
        # One process only: counters are not shared between server workers.
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": url}
    raise ImproperlyConfigured(
        f"CACHE_URL={url!r} is not a cache URL this project understands "
        "(redis://host:6379/0, file:///absolute/path, locmem://)."
    )
