"""The production server's worker model, shared by ``gunicorn.conf.py`` and the
settings (the SQLite WAL-reset system check needs to know how many database
connections can write at once).

gunicorn runs ``WEB_CONCURRENCY`` worker processes (default: two per CPU core
plus one, gunicorn's own rule of thumb), each with ``WEB_THREADS`` threads
(default 1: plain sync workers). Every process and every thread holds its own
database connection.
"""

from __future__ import annotations

import os

from project.env import env_int


def default_workers() -> int:
    # os.cpu_count() is the machine; sched_getaffinity is what this process may use.
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return 2 * cores + 1


def server_workers() -> int:
    return env_int("WEB_CONCURRENCY", default_workers(), minimum=1)


def server_threads() -> int:
    return env_int("WEB_THREADS", 1, minimum=1)


def server_timeout() -> int:
    """Seconds before gunicorn kills a worker stuck in one request (``WEB_TIMEOUT``)."""
    return env_int("WEB_TIMEOUT", 30, minimum=1)


def server_connections() -> int:
    """How many database connections the server can have writing at the same moment."""
    return server_workers() * server_threads()
