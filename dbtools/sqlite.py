"""The one SQLite library of every process: Django's connections (through
``dbtools.backends.sqlite3``), dbtools, the tests, the benchmarks and the
reliability scripts all take it from here, so they all run the same SQLite.

Python's own ``sqlite3`` module uses the library the interpreter was built
with, often older than 3.51.3, the release that fixed SQLite's WAL-reset
corruption bug. pysqlite3's wheels bundle a recent SQLite (0.6.1: SQLite
3.53.4, with FTS5); ``requirements.txt`` installs it on the platforms it has
wheels for. The rule, decided here and nowhere else: pysqlite3 when it is
installed and its library is not older than Python's; Python's ``sqlite3``
otherwise. On such a deployment ``check --deploy`` warns (project.W001) while
the library lacks the fix.

No Django import here: benchmarks and scripts use this module without
settings.
"""

from __future__ import annotations

from pathlib import Path
from sqlite3 import dbapi2 as _python_sqlite
from types import ModuleType
from urllib.parse import quote

# SQLite's WAL-reset bug (present since 3.7.0, fixed in 3.51.3): when two
# connections to one WAL database, in different processes or threads, write
# and checkpoint at nearly the same moment, a checkpoint can record a wrong
# WAL header and the database can be corrupted or lose committed
# transactions. Rare, but a server with several workers is that pattern.
WAL_RESET_FIXED_IN: tuple[int, int, int] = (3, 51, 3)


def _choose() -> tuple[ModuleType, str]:
    try:
        from pysqlite3 import dbapi2 as bundled
    except ImportError:
        return _python_sqlite, "sqlite3 (Python's own)"
    if bundled.sqlite_version_info < _python_sqlite.sqlite_version_info:
        return _python_sqlite, "sqlite3 (Python's own, newer than pysqlite3's)"
    return bundled, "pysqlite3 (bundled SQLite)"


#: The DB-API module: ``Database.connect``, ``Database.Error``, ``Database.sqlite_version``.
Database, LIBRARY = _choose()
sqlite_version: str = Database.sqlite_version
sqlite_version_info: tuple[int, int, int] = tuple(Database.sqlite_version_info)
#: For annotations: a connection of either library (pysqlite3's has the same API as Python's).
Connection = _python_sqlite.Connection


def has_wal_reset_fix(version: tuple[int, ...] = sqlite_version_info) -> bool:
    return tuple(version) >= WAL_RESET_FIXED_IN


def connect(
    path: Path | str,
    *,
    mode: str | None = None,
    immutable: bool = False,
    timeout: float = 20.0,
) -> _python_sqlite.Connection:
    """A plain connection to a SQLite file, in autocommit (transactions are
    written out as BEGIN/COMMIT), usable from any thread.

    ``mode`` "ro" or "rw" opens the file by URI and never creates a missing
    one; None opens (and creates) it as usual. ``immutable`` reads a file no
    process can be writing without locks or a -shm file.
    """
    if mode is None and not immutable:
        return Database.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    query = [f"mode={mode or 'ro'}"] + (["immutable=1"] if immutable else [])
    return Database.connect(
        f"file:{quote(str(path))}?{'&'.join(query)}",
        uri=True,
        timeout=timeout,
        isolation_level=None,
        check_same_thread=False,
    )


#: Python's own library, whichever was chosen (for messages and tests).
python_sqlite_version: str = _python_sqlite.sqlite_version
python_sqlite_version_info: tuple[int, int, int] = tuple(_python_sqlite.sqlite_version_info)
