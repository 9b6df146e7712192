"""Load: concurrent writers posting and readers listing, against gunicorn on SQLite.

    python -m tools.reliability.load --writers 32 --readers 8 --duration 30

Promises checked: no 5xx answer, no "database is locked" anywhere (answers or
server log), and the posts in the database are exactly the ones answered 201.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from dbtools.sqlite import Database
from tools.reliability.server import Server, print_summary, request, sign_up

PASSWORD = "load-Test-passw0rd!"  # noqa: S105  (a throw-away account in a throw-away database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    parser.add_argument("--workers", type=int, default=None, help="gunicorn workers (default: gunicorn.conf.py's)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="load-") as folder:
        server = Server(Path(folder), workers=args.workers)
        server.migrate()
        server.start()
        try:
            tokens = [sign_up(server.port, f"writer{i}", PASSWORD) for i in range(args.writers)]
            summary = run_load(server, tokens, readers=args.readers, duration=args.duration)
        finally:
            server.stop()
        summary.update(check_database(server.db_path, summary.pop("acknowledged")))
        locked_in_log = server.log_text().count("database is locked")
    summary["database_is_locked_in_server_log"] = locked_in_log
    summary["writers"], summary["readers"], summary["duration_s"] = args.writers, args.readers, args.duration
    failures = []
    if summary["server_errors"]:
        failures.append(f"{summary['server_errors']} server errors (5xx)")
    if summary["database_is_locked"] or locked_in_log:
        failures.append("'database is locked' seen")
    if summary["posts_in_database"] != summary["created_201"]:
        failures.append(f"{summary['posts_in_database']} posts in the database but {summary['created_201']} 201s")
    if summary["missing_acknowledged"]:
        failures.append(f"{summary['missing_acknowledged']} acknowledged posts missing")
    if summary["created_201"] == 0:
        failures.append("no post was created")
    summary["ok"] = not failures
    summary["failures"] = failures
    print_summary(summary)
    return 0 if not failures else 1


def run_load(server: Server, tokens: list[str], *, readers: int, duration: float) -> dict:
    statuses: Counter[str] = Counter()
    acknowledged: list[str] = []
    write_ms: list[float] = []
    locked = 0
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def writer(index: int, token: str) -> None:
        nonlocal locked
        n = 0
        while time.monotonic() < stop_at:
            title = f"w{index}-{n}"
            n += 1
            began = time.monotonic()
            try:
                status, data = request(
                    server.port, "POST", "/api/posts/", {"title": title, "body": "x" * 200}, token=token
                )
            except OSError as exc:
                with lock:
                    statuses["connection_error"] += 1
                    errors.append(f"write: {exc}")
                continue
            with lock:
                statuses[f"write_{status}"] += 1
                write_ms.append((time.monotonic() - began) * 1000)
                if status == 201:
                    acknowledged.append(title)
                if "database is locked" in str(data):
                    locked += 1

    def reader() -> None:
        nonlocal locked
        paths = ["/api/posts/", "/api/users/", "/api/posts/?page=2"]
        n = 0
        while time.monotonic() < stop_at:
            path = paths[n % len(paths)]
            n += 1
            try:
                status, data = request(server.port, "GET", path)
            except OSError as exc:
                with lock:
                    statuses["connection_error"] += 1
                    errors.append(f"read: {exc}")
                continue
            with lock:
                statuses[f"read_{status}"] += 1
                if "database is locked" in str(data):
                    locked += 1

    threads = [threading.Thread(target=writer, args=(i, t)) for i, t in enumerate(tokens)]
    threads += [threading.Thread(target=reader) for _ in range(readers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    server_errors = sum(count for key, count in statuses.items() if key.split("_")[-1].startswith("5"))
    writes = sum(count for key, count in statuses.items() if key.startswith("write_"))
    reads = sum(count for key, count in statuses.items() if key.startswith("read_"))
    return {
        "statuses": dict(sorted(statuses.items())),
        "created_201": len(acknowledged),
        "acknowledged": acknowledged,
        "server_errors": server_errors,
        "database_is_locked": locked,
        "writes_per_s": round(writes / elapsed, 1),
        "reads_per_s": round(reads / elapsed, 1),
        "write_latency_ms": percentiles(write_ms),
        "first_errors": errors[:5],
    }


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": round(ordered[-1], 1)}


def check_database(db_path: Path, acknowledged: list[str]) -> dict:
    with Database.connect(db_path) as db:
        titles = {row[0] for row in db.execute("SELECT title FROM posts_post")}
        count = db.execute("SELECT COUNT(*) FROM posts_post").fetchone()[0]
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    return {
        "posts_in_database": count,
        "missing_acknowledged": len(set(acknowledged) - titles),
        "integrity_check": integrity,
    }


if __name__ == "__main__":
    raise SystemExit(main())
