"""A real gunicorn for the reliability scripts, and a small HTTP client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """gunicorn in its own process group, so the whole group (master and
    workers) can be killed at once, as a crash or an OOM kill would."""

    def __init__(
        self, workdir: Path, *, workers: int | None = None, threads: int = 1, replicated: bool = False, **env: str
    ) -> None:
        self.workdir = workdir
        self.db_path = workdir / "db.sqlite3"
        self.port = free_port()
        self.log_path = workdir / "server.log"
        self.process: subprocess.Popen | None = None
        # As make serve runs it: under Litestream when REPLICA_URL is set (the
        # launcher, Litestream and gunicorn share the process group).
        self.launcher = [sys.executable, "-m", "dbtools.replication", "serve", "--"] if replicated else []
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECURE_", "STATIC_"))},
            "DJANGO_SETTINGS_MODULE": "project.settings",
            "ENV_FILE": str(workdir / "no.env"),
            "DEBUG": "false",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "false",
            "STATIC_MANIFEST": "false",
            "DATABASE_URL": f"sqlite:///{self.db_path}",
            "VAR_DIR": str(workdir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "WEB_THREADS": str(threads),
            # The scripts measure the server and the database, not the API's
            # per-client throttles (all their clients share one address).
            "API_THROTTLE_ANON": "1000000/minute",
            "API_THROTTLE_USER": "1000000/minute",
            "LOG_LEVEL": "WARNING",
            **env,
        }
        if workers is not None:
            self.env["WEB_CONCURRENCY"] = str(workers)

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=300,
        )

    def start(self, timeout: float = 60, *, healthy: bool = True) -> None:
        """Start gunicorn and wait until /healthz answers 200 (any answer, with ``healthy=False``:
        for a server whose database is meant to be unreachable)."""
        log = open(self.log_path, "ab")  # noqa: SIM115  (closed with the process)
        self.process = subprocess.Popen(
            [*self.launcher, sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "project.wsgi"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}; see {self.log_path}")
            try:
                status, _ = request(self.port, "GET", "/healthz", timeout=2)
                if status == 200 or not healthy:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout}s; see {self.log_path}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the whole process group and wait for the master."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)
        if sig == signal.SIGKILL:
            # Workers are in the group too; wait until none is left holding the database.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(self.process.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        self.process = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def request(
    port: int, method: str, path: str, body: Any = None, *, token: str | None = None, timeout: float = 30
) -> tuple[int, Any]:
    """One HTTP request on a new connection; returns (status, decoded JSON or text)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Accept": "application/json"}
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Token {token}"
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
    except http.client.HTTPException as exc:
        # A server killed mid-answer: for the caller, the same as a dropped connection.
        raise ConnectionError(f"incomplete answer: {exc!r}") from exc
    finally:
        connection.close()
    try:
        return response.status, json.loads(raw)
    except ValueError:
        return response.status, raw.decode(errors="replace")


def sign_up(port: int, username: str, password: str) -> str:
    """A new API user and their token."""
    status, data = request(
        port, "POST", "/api/users/", {"username": username, "email": f"{username}@example.com", "password": password}
    )
    if status != 201:
        raise RuntimeError(f"sign-up of {username} answered {status}: {data}")
    status, data = request(port, "POST", "/api/auth/token/", {"username": username, "password": password})
    if status != 200:
        raise RuntimeError(f"token for {username} answered {status}: {data}")
    return data["token"]


def print_summary(summary: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    sys.stdout.flush()
