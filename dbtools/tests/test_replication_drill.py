"""The disaster drill: writes through the real server under load, then the
server and Litestream killed with SIGKILL and the database, its -wal and
-shm deleted (a lost disk). ``dbrestore --replica`` brings back every write
acknowledged more than two sync intervals before the kill."""

from __future__ import annotations

import threading
import time

from dbtools import sqlite
from dbtools.tests.replication_support import SYNC, SYNC_SECONDS, manage, sqlite_files
from tools.reliability.server import Server, request, sign_up

pytestmark = sqlite_files
PASSWORD = "drill-Test-passw0rd!"


def test_a_lost_disk_loses_nothing_older_than_two_sync_intervals(tmp_path):
    replica = tmp_path / "replica"
    replica.mkdir()
    (tmp_path / "site").mkdir()
    server = Server(
        tmp_path / "site",
        workers=2,
        replicated=True,
        REPLICA_URL=f"file://{replica}",
        REPLICA_SYNC_INTERVAL=SYNC,
        BACKUP_DIR=str(tmp_path / "backups"),
    )
    server.migrate()
    server.start()
    acknowledged: list[tuple[str, float]] = []
    stop = threading.Event()
    try:
        tokens = [sign_up(server.port, f"writer{i}", PASSWORD) for i in range(4)]

        def writer(index: int, token: str) -> None:
            n = 0
            while not stop.is_set():
                title = f"w{index}-{n}"
                n += 1
                try:
                    status, _ = request(server.port, "POST", "/api/posts/", {"title": title, "body": "x"}, token=token)
                except OSError:
                    return  # killed mid-request: not acknowledged
                if status == 201:
                    acknowledged.append((title, time.monotonic()))

        threads = [threading.Thread(target=writer, args=(i, t)) for i, t in enumerate(tokens)]
        for thread in threads:
            thread.start()
        time.sleep(3)
        # /healthz carries the replica's state while it keeps up.
        status, health = request(server.port, "GET", "/healthz")
        killed_at = time.monotonic()
    finally:
        server.kill()  # SIGKILL to the launcher, Litestream, gunicorn and its workers
        stop.set()
    for thread in threads:
        thread.join(timeout=60)
    for suffix in ("", "-wal", "-shm"):
        server.db_path.with_name(server.db_path.name + suffix).unlink(missing_ok=True)

    assert status == 200, health
    assert health["checks"]["replica"] == "ok", health
    assert health["replica"]["lag_seconds"] < health["replica"]["max_lag_seconds"]

    done = manage(server.env, "dbrestore", "--replica", "--noinput")
    assert done.returncode == 0, done.stderr

    conn = sqlite.connect(server.db_path, mode="ro")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {row[0] for row in conn.execute("SELECT title FROM posts_post")}
    finally:
        conn.close()
    must_survive = [title for title, at in acknowledged if at < killed_at - 2 * SYNC_SECONDS]
    assert len(must_survive) > 20, "too few writes before the kill to prove anything"
    assert [title for title in must_survive if title not in stored] == []
