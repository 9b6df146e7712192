"""Turn ``DATABASE_URL`` into a Django ``DATABASES`` entry.

The URL names the vendor; the vendor's class in ``dbtools/engines.py`` fills
in its defaults (SQLite's PRAGMAs, locking and busy timeout; MariaDB's
character set, strict mode and isolation level; the servers' connect
timeout), the one place for each of those differences.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dbtools.engines import engine_class

# mariadb://user:pass@host:3306/db names the same engine as mysql://.
dj_database_url.register("mariadb", "django.db.backends.mysql")(dj_database_url.apply_ssl_ca)


def database_from_url(url: str, *, base_dir: Path, conn_max_age: int, create_folder: bool = False) -> dict[str, Any]:
    """``sqlite:///relative/path`` is relative to ``base_dir``; ``sqlite:////abs/path`` is absolute.

    ``create_folder``: a SQLite file's folder is created when the first
    connection opens it (the project's own default location), instead of
    failing as a mistyped path in a DATABASE_URL must."""
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} is not a database URL this project understands: {exc}"
        ) from exc
    config.setdefault("OPTIONS", {})
    vendor = engine_class(config["ENGINE"])
    if vendor is not None:
        vendor.configure(config, base_dir=base_dir, create_folder=create_folder)
    return config
