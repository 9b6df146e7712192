"""Turn ``DATABASE_URL`` into a Django ``DATABASES`` entry, tuned per engine.

SQLite is the default and is configured for a web server, not for a script:
the stock settings (rollback journal, DEFERRED transactions, a 5 s busy
timeout) are what produce "database is locked" under concurrent writers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from project.env import env_choice, env_int

# dj_database_url names Django's own SQLite backend; the project's subclass of
# it runs on the one SQLite library every process uses (see dbtools/sqlite.py).
DJANGO_SQLITE_ENGINE = "django.db.backends.sqlite3"
SQLITE_ENGINE = "dbtools.backends.sqlite3"

# mariadb://user:pass@host:3306/db names the same engine as mysql://.
dj_database_url.register("mariadb", "django.db.backends.mysql")(dj_database_url.apply_ssl_ca)


def sqlite_pragmas(*, synchronous: str) -> list[str]:
    """PRAGMAs run on every new SQLite connection (per-connection state)."""
    return [
        # Readers never block the writer and the writer never blocks readers.
        # Persistent in the file once set; repeating it is a cheap no-op.
        "PRAGMA journal_mode=WAL",
        # NORMAL: in WAL mode a power loss can lose the last transactions
        # committed since the last checkpoint, but never corrupts the file.
        # FULL: fsync on every commit, durable across power loss, slower writes.
        f"PRAGMA synchronous={synchronous}",
        # Django already turns foreign keys on; stated here so that the list
        # documents everything the project relies on.
        "PRAGMA foreign_keys=ON",
        # Sorts and temporary indexes in memory rather than in temp files.
        "PRAGMA temp_store=MEMORY",
        # Page cache per connection, in KiB when negative: 16 MiB.
        "PRAGMA cache_size=-16000",
        # After a checkpoint, truncate the -wal file to at most 64 MiB so one
        # big write does not leave a huge log behind for ever.
        "PRAGMA journal_size_limit=67108864",
        # No mmap_size on purpose: memory-mapped I/O widens the window of
        # SQLite's WAL-reset corruption bug (fixed in 3.51.3).
    ]


def database_from_url(url: str, *, base_dir: Path, conn_max_age: int) -> dict[str, Any]:
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True))
    except (ValueError, KeyError) as exc:
        raise ImproperlyConfigured(
            f"DATABASE_URL={url!r} is not a database URL this project understands: {exc}"
        ) from exc
    engine = config["ENGINE"]
    options = config.setdefault("OPTIONS", {})
    if engine in (DJANGO_SQLITE_ENGINE, SQLITE_ENGINE):
        config["ENGINE"] = SQLITE_ENGINE
        name = config.get("NAME") or ""
        if name and name != ":memory:" and not name.startswith("file:"):
            path = Path(name)
            if not path.is_absolute():
                path = base_dir / path
            config["NAME"] = str(path)
        synchronous = env_choice("SQLITE_SYNCHRONOUS", "NORMAL", ("NORMAL", "FULL"))
        options.setdefault("init_command", ";".join(sqlite_pragmas(synchronous=synchronous)))
        # Every transaction takes the write lock at BEGIN. With DEFERRED, a
        # transaction that read first and then writes cannot wait for the lock
        # (SQLite answers SQLITE_BUSY at once to avoid a deadlock), which is the
        # classic "database is locked" under load.
        options.setdefault("transaction_mode", "IMMEDIATE")
        # Busy timeout, in seconds: how long a writer waits for the lock.
        options.setdefault("timeout", env_int("SQLITE_BUSY_TIMEOUT", 20, minimum=1))
    elif engine == "django.db.backends.mysql":
        # 4-byte UTF-8: MariaDB's "utf8" is a 3-byte subset that cannot store emoji.
        options.setdefault("charset", "utf8mb4")
        options.setdefault("init_command", ";".join(mysql_session_settings()))
        # Django's recommendation: REPEATABLE READ (the MariaDB default) makes
        # get_or_create and friends miss rows committed by other transactions.
        options.setdefault("isolation_level", "read committed")
        # The test database is created by Django, so it states the character set
        # and a case-insensitive collation itself (see users migration 0002).
        test = config.setdefault("TEST", {})
        test.setdefault("CHARSET", MYSQL_CHARSET)
        test.setdefault("COLLATION", MYSQL_COLLATION)
    # PostgreSQL needs nothing beyond Django's defaults: it enforces VARCHAR
    # lengths, builds the LOWER() unique indexes and stores timestamptz in UTC.
    return config


# A case-insensitive collation: MariaDB's unique indexes then treat "Alice"
# and "alice" as equal, which is how the project's case-insensitive username
# and email rules are enforced there. It is also accent-insensitive ("José"
# equals "Jose"), stricter than the LOWER() indexes on SQLite and PostgreSQL.
MYSQL_CHARSET = "utf8mb4"
MYSQL_COLLATION = "utf8mb4_unicode_ci"


def mysql_session_settings() -> list[str]:
    """Statements run on every new MariaDB/MySQL connection."""
    return [
        # Strict mode: an over-long string or a bad date is an error, not a
        # silent truncation or a zero date. Set per session so that a server
        # configured otherwise cannot weaken it.
        "SET sql_mode='STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'",
        # Django stores UTC in DATETIME columns; a session in UTC keeps NOW()
        # and the server's own conversions in agreement with it whatever the
        # server's system time zone is.
        "SET time_zone='+00:00'",
    ]
