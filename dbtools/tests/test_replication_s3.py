"""Replication to an S3-compatible store: moto's S3 server, started here on
a free port, with Litestream writing to it over HTTP as to any S3 endpoint."""

from __future__ import annotations

import contextlib
import http.client
import subprocess
import sys
import time

import pytest

from dbtools.tests.maintenance_support import rows_digest
from dbtools.tests.replication_support import (
    add_marks,
    litestream,
    manage,
    marks,
    moment_between,
    new_site,
    replica,
    site_env,
    sqlite_files,
    wait_replicated,
)
from tools.reliability.server import free_port

pytestmark = sqlite_files
BUCKET = "replica"
# Fake credentials: moto accepts any; Litestream reads them from the environment.
S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}


@contextlib.contextmanager
def s3_server():
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("PUT", f"/{BUCKET}")  # create the bucket
                assert conn.getresponse().status == 200
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def s3_site(tmp_path_factory, tmp_path, monkeypatch):
    # A CA bundle variable makes Litestream's S3 client refuse a custom
    # endpoint; the store here is plain HTTP.
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    for name, value in S3_ENV.items():
        monkeypatch.setenv(name, value)
    db = new_site(tmp_path_factory, tmp_path / "site")
    with s3_server() as (server, endpoint):
        url = f"s3://{BUCKET}/db"
        env = site_env(db, url, LITESTREAM_S3_ENDPOINT=endpoint, REPLICA_TIMEOUT_SECONDS="5", **S3_ENV)
        yield db, replica(url, s3_endpoint=endpoint, s3_region="us-east-1"), env, server


def test_point_in_time_restore_from_s3_and_an_unreachable_store(s3_site):
    db, target, env, server = s3_site
    with litestream(env):
        add_marks(db, "start")
        wait_replicated(target, db, "start")
        add_marks(db, "before")
        at = moment_between()
        add_marks(db, "after")
        wait_replicated(target, db, "after")
    done = manage(env, "dbrestore", "--replica", "--noinput", "--at", at.isoformat())
    assert done.returncode == 0, done.stderr
    assert marks(db) == {"start", "before"}

    server.kill()
    server.wait(timeout=30)
    before = (rows_digest(db), marks(db))
    done = manage(env, "dbrestore", "--replica", "--noinput")
    assert done.returncode == 1
    assert "cannot be read" in done.stderr or "got no answer" in done.stderr
    assert (rows_digest(db), marks(db)) == before
    assert manage(env, "dbcheck").returncode == 2
