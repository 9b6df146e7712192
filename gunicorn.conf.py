"""gunicorn settings for ``make serve``; every value can be changed from the environment.

Worker model: ``WEB_CONCURRENCY`` processes (default 2 x cores + 1), each with
``WEB_THREADS`` threads (default 1, sync workers; above 1 the gthread worker).
Requests are CPU-bound Python plus short SQLite transactions, so processes, not
threads, are what use several cores. See docs/deployment.md.
"""

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from project.dbconnect import configured_engine, missing_driver
from project.env import load_project_env
from project.serving import server_threads, server_timeout, server_workers

_HERE = Path(__file__).resolve().parent
try:
    # The same variables as the settings: the environment, then .env (or
    # ENV_FILE), here too (WEB_CONCURRENCY in .env counts); workers inherit them.
    load_project_env(_HERE)
    workers = server_workers()
    threads = server_threads()
    # A request that takes longer than this is stuck: its worker is killed and replaced.
    timeout = server_timeout()
    # A database driver that is missing is one line here, before any worker
    # starts, not a traceback from each worker.
    _engine = configured_engine(_HERE)
    _missing = missing_driver(_engine) if _engine else None
    if _missing:
        raise ImproperlyConfigured(_missing)
except ImproperlyConfigured as exc:
    # A bad variable is one line, not gunicorn's "Failed to read config file" traceback.
    sys.exit(f"Cannot start: {exc}")

bind = [f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"]
worker_class = "gthread" if threads > 1 else "sync"
graceful_timeout = 20
# Recycle workers now and then so a slow leak cannot grow for ever; the jitter
# keeps them from all restarting at once.
max_requests = 5000
max_requests_jitter = 500
# Django writes one line per request (with its request id); gunicorn's own
# access log would duplicate it.
accesslog = None
# The address of the proxy in front, whose X-Forwarded-Proto gunicorn may trust.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# gunicorn's own messages (start, worker boot/exit) go to stdout like the app's.
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [-] %(message)s"}},
    # gunicorn's defaults refer to these two handler names; both go to stdout here.
    "handlers": {
        name: {"class": "logging.StreamHandler", "stream": "ext://sys.stdout", "formatter": "plain"}
        for name in ("console", "error_console")
    },
    "loggers": {"gunicorn.error": {"handlers": ["error_console"], "level": "INFO", "propagate": False}},
}
# No runtime control socket: nothing here uses it, and several servers on one
# machine (tests, benchmarks) would otherwise share its default path.
control_socket_disable = True
