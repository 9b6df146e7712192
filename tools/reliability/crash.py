"""Crash: SIGKILL the whole gunicorn process group at random moments under write load, then restart.

    python -m tools.reliability.crash --cycles 20 --writers 8

After the last cycle: every post the server acknowledged (201) is in the
database, ``PRAGMA integrity_check`` says ok and ``PRAGMA foreign_key_check``
finds nothing.
"""

from __future__ import annotations

import argparse
import random
import signal
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from dbtools.sqlite import Database
from tools.reliability.server import Server, print_summary, request, sign_up

PASSWORD = "crash-Test-passw0rd!"  # noqa: S105  (a throw-away account in a throw-away database)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--min-run", type=float, default=0.3, help="shortest load before a kill, seconds")
    parser.add_argument("--max-run", type=float, default=2.0, help="longest load before a kill, seconds")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)  # noqa: S311  (kill timing, not cryptography)

    acknowledged: list[str] = []
    statuses: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="crash-") as folder:
        server = Server(Path(folder), workers=args.workers)
        server.migrate()
        server.start()
        try:
            tokens = [sign_up(server.port, f"crasher{i}", PASSWORD) for i in range(args.writers)]
            for cycle in range(args.cycles):
                if cycle:
                    server.start()
                run_for = rng.uniform(args.min_run, args.max_run)
                write_until_killed(server, tokens, cycle, run_for, acknowledged, statuses)
        finally:
            server.kill()
        report = check_database(server.db_path, acknowledged)
        # One more start on the crashed file: the server must come up and answer.
        server.start()
        status, _ = request(server.port, "GET", "/api/posts/")
        server.stop()
        # What the server said about any error, for a report that has to be read later.
        errors = [line for line in server.log_path.read_text(errors="replace").splitlines() if "Error" in line]
    report["server_log_errors"] = errors[-20:]
    report["statuses"] = dict(sorted(statuses.items()))
    report["cycles"], report["writers"] = args.cycles, args.writers
    report["acknowledged"] = len(acknowledged)
    report["list_after_restart"] = status
    failures = []
    if report["missing_acknowledged"]:
        failures.append(f"{report['missing_acknowledged']} acknowledged posts missing")
    if report["integrity_check"] != "ok":
        failures.append(f"integrity_check: {report['integrity_check']}")
    if report["foreign_key_violations"]:
        failures.append(f"{report['foreign_key_violations']} foreign key violations")
    if status != 200:
        failures.append(f"the list answered {status} after the last restart")
    if not acknowledged:
        failures.append("no post was acknowledged")
    if any(key.endswith(("_500", "_502", "_503")) for key in statuses):
        failures.append("server errors before a kill")
    report["ok"] = not failures
    report["failures"] = failures
    print_summary(report)
    return 0 if not failures else 1


def write_until_killed(
    server: Server, tokens: list[str], cycle: int, run_for: float, acknowledged: list[str], statuses: Counter
) -> None:
    killed = threading.Event()
    lock = threading.Lock()

    def writer(index: int, token: str) -> None:
        n = 0
        while not killed.is_set():
            title = f"c{cycle}-w{index}-{n}"
            n += 1
            try:
                status, _ = request(
                    server.port, "POST", "/api/posts/", {"title": title, "body": "y" * 300}, token=token
                )
            except OSError:
                # The server died mid-request: not acknowledged, may or may not be stored.
                with lock:
                    statuses["connection_error"] += 1
                killed.wait(0.05)
                continue
            with lock:
                statuses[f"write_{status}"] += 1
                if status == 201:
                    acknowledged.append(title)

    threads = [threading.Thread(target=writer, args=(i, t)) for i, t in enumerate(tokens)]
    for thread in threads:
        thread.start()
    time.sleep(run_for)
    server.kill(signal.SIGKILL)
    killed.set()
    for thread in threads:
        thread.join(timeout=60)


def check_database(db_path: Path, acknowledged: list[str]) -> dict:
    with Database.connect(db_path) as db:
        titles = {row[0] for row in db.execute("SELECT title FROM posts_post")}
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        foreign = db.execute("PRAGMA foreign_key_check").fetchall()
    return {
        "posts_in_database": len(titles),
        "missing_acknowledged": len(set(acknowledged) - titles),
        "integrity_check": integrity,
        "foreign_key_violations": len(foreign),
    }


if __name__ == "__main__":
    raise SystemExit(main())
