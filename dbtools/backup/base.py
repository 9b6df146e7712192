"""The backup connector interface and the small pieces every connector uses.

A connector is one engine's way to dump and to restore, chosen by the
database's engine (``Engine.backup()``), the way django-dbbackup maps engines
to connectors:

- ``dump(workdir, compress=..., verify=...)`` writes a consistent snapshot
  into a new file inside ``workdir`` and returns it with its sha256, row
  counts per table and the latest applied migration per app, read from that
  same snapshot where the engine allows it;
- ``check_dump(path, compression)`` proves cheaply that a file is a dump of
  this engine, before a restore is even offered;
- ``restore(path, ...)`` stages the dump, runs every check on the staged copy
  (integrity, row counts against the manifest), calls ``before_replacing``
  (the safety backup) and only then replaces the live data, all or nothing.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import shutil
import subprocess
import tempfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from dbtools.engines import Engine

CHUNK = 1024 * 1024
GZIP_LEVEL = 6  # zlib's own default: most of level 9's ratio at a fraction of its time.
#: How deeply a SQLite copy is checked: PRAGMA integrity_check or quick_check.
VERIFY_CHOICES = ("full", "quick")


class BackupError(Exception):
    """A backup or restore could not be done; the live database is untouched."""


@dataclass
class Dump:
    path: Path
    sha256: str
    compression: str  # "gzip", "none" or "pg_custom"
    row_counts: dict[str, int]
    migrations: dict[str, str]
    server_version: str = ""
    notes: list[str] = field(default_factory=list)
    verified: str = ""  # the check the dump passed, for the manifest


@dataclass
class Restored:
    row_counts: dict[str, int]
    warnings: list[str] = field(default_factory=list)


class Connector:
    #: File suffix of a stored backup, before any ".gz".
    suffix: ClassVar[str]
    #: Whether dbbackup gzips the stored file itself when asked to compress.
    gzips: ClassVar[bool] = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.alias = engine.alias
        self.connection = engine.connection
        self.settings = engine.settings
        # Progress lines for long runs (the commands send them to stderr).
        self.report: Callable[[str], None] = lambda message: None

    @property
    def name(self) -> str:
        """The engine as manifests name it."""
        return self.engine.vendor

    def dump(self, workdir: Path, *, compress: bool, verify: str) -> Dump:
        raise NotImplementedError

    def check_dump(self, path: Path, compression: str) -> None:
        raise NotImplementedError

    def restore(
        self,
        path: Path,
        compression: str,
        workdir: Path,
        *,
        expected: dict[str, int],
        verify: str,
        before_replacing: Callable[[], None],
    ) -> Restored:
        raise NotImplementedError


# --- comparing with the manifest ------------------------------------------------


def count_differences(expected: dict[str, int], found: dict[str, int]) -> str:
    """ "" when the tables and their row counts agree, else what differs."""
    differing = sorted(t for t in set(expected) | set(found) if expected.get(t) != found.get(t))
    if not differing:
        return ""
    return "Row counts differ from the manifest for: " + ", ".join(
        f"{t} ({found.get(t)} in the backup, {expected.get(t)} in the manifest)" for t in differing[:10]
    )


def manifest_tables(expected: dict[str, Any]) -> dict[str, int]:
    """The manifest's row counts, refusing anything that is not a plain
    table name and a count (they end up in SQL)."""
    checked = {}
    for name, count in expected.items():
        if not isinstance(name, str) or not name.replace("_", "").replace("$", "").isalnum():
            raise BackupError(f"The manifest names a table {name!r} that is not a plain table name.")
        if not isinstance(count, int) or isinstance(count, bool) or count < 0:
            raise BackupError(f"The manifest's row count for {name} is not a count: {count!r}.")
        checked[name] = count
    return checked


# --- files ----------------------------------------------------------------------


class HashingWriter:
    """A binary file wrapper that hashes what passes through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def sha256_file(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
    return sha.hexdigest()


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    # A rename is only durable once the directory entry is on disk.
    fsync_file(path)


def new_private_file(directory: Path, prefix: str, suffix: str = "") -> Path:
    """A new empty file readable by the owner only (0600), whatever the umask."""
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=suffix, dir=directory)
    os.close(fd)
    os.chmod(name, 0o600)
    return Path(name)


@contextlib.contextmanager
def open_dump(path: Path, compression: str) -> Iterator[IO[bytes]]:
    """Read a stored dump, decompressing gzip on the fly."""
    if compression == "gzip":
        with gzip.open(path, "rb") as fh:
            yield fh
    else:
        with open(path, "rb") as fh:
            yield fh


def read_failure(path: Path, exc: BaseException) -> BackupError:
    if isinstance(exc, EOFError):
        return BackupError(f"{path.name} is truncated: the compressed stream ends early.")
    if isinstance(exc, (gzip.BadGzipFile, zlib.error)):
        return BackupError(f"{path.name} is not a valid gzip file or is corrupt: {exc}.")
    return BackupError(f"Could not read {path.name}: {exc}.")


def decompress_to(path: Path, compression: str, dest: Path) -> None:
    try:
        with open_dump(path, compression) as src, open(dest, "wb") as out:
            shutil.copyfileobj(src, out, CHUNK)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            raise BackupError(f"No space left in {dest.parent} to stage the restore; nothing was changed.") from exc
        raise read_failure(path, exc) from exc
    except (EOFError, zlib.error) as exc:
        raise read_failure(path, exc) from exc


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise BackupError(f"{' or '.join(names)} is not installed or not on PATH; it is needed for this database engine.")


def run_checked(args: list[str], *, env: dict[str, str] | None = None, what: str, **kwargs: Any) -> None:
    completed = subprocess.run(args, env=env, capture_output=True, check=False, **kwargs)  # noqa: S603
    if completed.returncode != 0:
        message = completed.stderr.decode(errors="replace").strip() or f"exit status {completed.returncode}"
        raise BackupError(f"{what} failed: {message}")
