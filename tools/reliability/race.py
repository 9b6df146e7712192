"""Races: simultaneous sign-ups with one email, and simultaneous wrong passwords for one username.

    python -m tools.reliability.race --clients 50

Sign-ups: exactly one 201, the others 400 or 409, no 5xx, one row.
Token endpoint: of the simultaneous wrong-password requests for one username,
at most LOCKOUT_MAX_FAILURES (5) are even checked (400), the rest are refused
by the lockout (429), across all the server's processes.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
from collections import Counter
from pathlib import Path

from dbtools.sqlite import Database
from tools.reliability.server import Server, print_summary, request

LOCKOUT_MAX_FAILURES = 5


def simultaneously(count: int, call) -> Counter:
    """Run ``call(i)`` in ``count`` threads released at the same moment; count the statuses."""
    barrier = threading.Barrier(count)
    statuses: Counter = Counter()
    lock = threading.Lock()

    def worker(index: int) -> None:
        barrier.wait()
        try:
            status, _ = call(index)
        except OSError as exc:
            status = f"error: {type(exc).__name__}"
        with lock:
            statuses[status] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="race-") as folder:
        server = Server(Path(folder), workers=args.workers, LOCKOUT_MAX_FAILURES=str(LOCKOUT_MAX_FAILURES))
        server.migrate()
        server.start()
        try:
            signups = simultaneously(
                args.clients,
                lambda i: request(
                    server.port,
                    "POST",
                    "/api/users/",
                    {"username": f"racer{i}", "email": "Same@Example.com", "password": "race-Test-passw0rd!"},
                ),
            )
            guesses = simultaneously(
                args.clients,
                lambda i: request(server.port, "POST", "/api/auth/token/", {"username": "racer0", "password": f"x{i}"}),
            )
        finally:
            server.stop()
        with Database.connect(server.db_path) as db:
            rows = db.execute("SELECT COUNT(*) FROM users_user WHERE LOWER(email) = 'same@example.com'").fetchone()[0]
    summary = {
        "clients": args.clients,
        "signup_statuses": {str(k): v for k, v in sorted(signups.items(), key=str)},
        "signup_rows": rows,
        "token_statuses": {str(k): v for k, v in sorted(guesses.items(), key=str)},
    }
    failures = []
    if signups[201] != 1:
        failures.append(f"{signups[201]} sign-ups answered 201, expected exactly 1")
    if signups[201] + signups[400] + signups[409] != args.clients:
        failures.append(f"sign-up answers other than 201/400/409: {summary['signup_statuses']}")
    if rows != 1:
        failures.append(f"{rows} rows with the email, expected 1")
    if guesses[400] > LOCKOUT_MAX_FAILURES:
        failures.append(f"{guesses[400]} wrong passwords were checked, the limit is {LOCKOUT_MAX_FAILURES}")
    if guesses[400] + guesses[429] != args.clients:
        failures.append(f"token answers other than 400/429: {summary['token_statuses']}")
    summary["ok"] = not failures
    summary["failures"] = failures
    print_summary(summary)
    return 0 if not failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
