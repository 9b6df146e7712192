"""The API throttles as clients meet them: who is counted behind proxies, and
that server processes share one count.

Rates are per day here, so that no test meets the end of a window.
"""

import json
import os
import random
import runpy
import subprocess
import sys
import time
from contextlib import closing
from http import HTTPStatus

import pytest
import redis
from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from dbtools import sqlite
from project.api import AnonThrottle
from project.cache import cache_from_url

OK, THROTTLED = HTTPStatus.OK, HTTPStatus.TOO_MANY_REQUESTS


def anon_limit(monkeypatch, count: int) -> None:
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": f"{count}/day", "user": f"{count}/day"})


def with_environment(monkeypatch, settings, **env: str) -> None:
    """Apply the settings project/settings.py derives from these environment
    variables, as a server started with them would have them."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    derived = runpy.run_path(str(django_settings.BASE_DIR / "project" / "settings.py"))
    settings.TRUSTED_PROXY_COUNT = derived["TRUSTED_PROXY_COUNT"]
    settings.REST_FRAMEWORK = derived["REST_FRAMEWORK"]


def get(client, remote_addr: str, forwarded_for: str) -> int:
    return client.get("/api/", REMOTE_ADDR=remote_addr, HTTP_X_FORWARDED_FOR=forwarded_for).status_code


# --- proxies -------------------------------------------------------------------


@pytest.mark.parametrize(
    "proxies",
    [
        # Nothing is in front: the header is the client's own invention.
        "0",
        # Two proxies would have written two entries; one means a proxy was
        # bypassed, and the entry is the client's own.
        "2",
    ],
)
def test_a_forwarded_for_no_trusted_proxy_wrote_changes_nothing(anon_client, monkeypatch, settings, proxies):
    with_environment(monkeypatch, settings, TRUSTED_PROXY_COUNT=proxies)
    anon_limit(monkeypatch, 3)
    statuses = [get(anon_client, "203.0.113.7", f"198.51.100.{n}") for n in range(5)]
    assert statuses == [OK, OK, OK, THROTTLED, THROTTLED]
    # The socket's address is what is counted (project.clientaddr, as for the
    # lockout and the request log): another one is still served.
    assert get(anon_client, "203.0.113.8", "198.51.100.0") == OK


def test_behind_one_proxy_the_address_it_appended_is_counted(anon_client, monkeypatch, settings):
    with_environment(monkeypatch, settings, TRUSTED_PROXY_COUNT="1")
    anon_limit(monkeypatch, 3)
    proxy = "10.0.0.254"
    # The proxy appends the address it saw (203.0.113.7); the client controls the rest.
    statuses = [get(anon_client, proxy, f"198.51.100.{n}, 203.0.113.7") for n in range(5)]
    assert statuses == [OK, OK, OK, THROTTLED, THROTTLED]
    assert get(anon_client, proxy, "203.0.113.7") == THROTTLED
    # Another client behind the same proxy has a count of its own.
    assert get(anon_client, proxy, "198.51.100.1, 203.0.113.8") == OK


# --- one count across server processes -----------------------------------------

# One server process's worth of requests: Django's WSGI handler with the
# project's settings and its configured cache, no HTTP in between. It warms up
# (from another address), says it is ready, waits for the go, then sends
# REQUESTS anonymous requests from ADDRESS and prints their statuses.
CLIENT = r"""
import json, os, sys, time
import django
django.setup()
from django.test import Client
requests, address, ready, go = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
client = Client()
client.get("/api/", REMOTE_ADDR="192.0.2.1")
open(ready, "w").close()
while not os.path.exists(go):
    time.sleep(0.002)
print(json.dumps([client.get("/api/", REMOTE_ADDR=address).status_code for _ in range(requests)]))
"""

PROCESSES, LIMIT = 2, 100


def statuses_from_processes(tmp_path, *, requests: int, address: str, **env: str) -> list[list[int]]:
    """Start PROCESSES Python processes with the project's settings and ``env``,
    let them send ``requests`` each at the same time, and return their statuses."""
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "CACHE_URL", "REDIS_URL"}}
    base.update(
        DJANGO_SETTINGS_MODULE="project.settings",
        ENV_FILE=str(tmp_path / "no.env"),
        VAR_DIR=str(tmp_path),
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
        API_THROTTLE_ANON=f"{LIMIT}/day",
        **env,
    )
    go = tmp_path / "go"
    ready = [tmp_path / f"ready{i}" for i in range(PROCESSES)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, str(requests), address, str(ready[i]), str(go)],
            cwd=django_settings.BASE_DIR,
            env=base,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        deadline = time.monotonic() + 60
        while not all(path.exists() for path in ready):
            assert all(p.poll() is None for p in processes), [p.communicate() for p in processes]
            assert time.monotonic() < deadline, "the client processes did not start"
            time.sleep(0.01)
        go.touch()
        outcomes = [p.communicate(timeout=120) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, err) in zip(processes, outcomes, strict=True):
        assert p.returncode == 0, err
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outcomes]


def assert_one_shared_atomic_count(results: list[list[int]]) -> None:
    # Shared: together the processes get LIMIT answers, not LIMIT each.
    # Atomic: not one increment lost, however the requests interleaved.
    assert sum(statuses.count(OK) for statuses in results) == LIMIT
    for statuses in results:
        assert set(statuses) <= {OK, THROTTLED}
        # Once the count is spent it stays spent: every 429 comes after the last 200.
        assert statuses == sorted(statuses)


def test_the_default_cache_counts_once_across_processes(tmp_path):
    # No CACHE_URL: the default store under VAR_DIR, which needs no server.
    results = statuses_from_processes(tmp_path, requests=LIMIT, address="203.0.113.7")
    assert_one_shared_atomic_count(results)


def test_redis_counts_once_across_processes(tmp_path, redis_url):
    # A fresh address, so that runs sharing the Redis database never meet.
    address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"
    try:
        results = statuses_from_processes(tmp_path, requests=LIMIT, address=address, CACHE_URL=redis_url)
    finally:
        client = redis.Redis.from_url(redis_url)
        for key in client.scan_iter(f"*throttle*{address}*"):
            client.delete(key)
    assert_one_shared_atomic_count(results)


def test_the_default_store_opens_no_file_until_used(tmp_path):
    # Django creates every cache for its system checks, at each manage.py command.
    config = cache_from_url(f"file://{tmp_path}/cache")
    store = import_string(config["BACKEND"])(config["LOCATION"], {})
    assert not (tmp_path / "cache").exists()  # not even its folder
    assert store.add("n", 0, 60) is True
    assert store.add("n", 5, 60) is False
    assert [store.incr("n"), store.incr("n", 2)] == [1, 3]
    store.close()  # the end of a request: the store goes on working
    assert store.get("n") == 3
    with pytest.raises(ValueError, match="not found"):
        store.incr("missing")
    store.set("gone", 1, timeout=0)
    assert store.get("gone") is None
    assert list((tmp_path / "cache").iterdir()) != []


READER = """
import sys, time
from dbtools import sqlite
readers = [sqlite.connect(path) for path in sys.argv[1:]]
for reader in readers:
    reader.execute("BEGIN")
    reader.execute("SELECT COUNT(*) FROM Cache").fetchone()  # holds a read lock until COMMIT
print("reading", flush=True)
time.sleep(0.5)
for reader in readers:
    reader.execute("COMMIT")
"""


def test_the_default_store_waits_for_a_reader_in_another_process_instead_of_failing(tmp_path):
    # With a rollback journal a COMMIT must wait until no other process is
    # reading the file. Another process (as another worker would) holds a read
    # lock on every shard for a moment; the increment waits for it and
    # succeeds rather than failing with "database is locked".
    config = cache_from_url(f"file://{tmp_path}/cache")
    store = import_string(config["BACKEND"])(config["LOCATION"], {})
    store.set("n", 1, 60)
    shards = [str(path) for path in sorted((tmp_path / "cache").rglob("*.db"))]
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, *shards],
        cwd=django_settings.BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == "reading"
        assert store.incr("n") == 2
    finally:
        reader.wait(timeout=30)
    assert reader.returncode == 0
    assert store.get("n") == 2


def test_the_default_store_keeps_out_of_wal_mode(tmp_path):
    # diskcache uses Python's own SQLite, which may have the WAL-reset bug;
    # the bug needs WAL mode, so the store must not be in it.
    config = cache_from_url(f"file://{tmp_path}/cache")
    store = import_string(config["BACKEND"])(config["LOCATION"], {})
    store.set("n", 1, 60)
    files = sorted((tmp_path / "cache").rglob("*.db"))
    assert files
    for path in files:
        with closing(sqlite.connect(path)) as db:
            # WAL is the one journal mode a file keeps; a fresh connection sees it.
            assert db.execute("PRAGMA journal_mode").fetchone()[0] != "wal"
    assert not list((tmp_path / "cache").rglob("*-wal"))
