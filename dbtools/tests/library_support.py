"""Which SQLite library the tests expect, and a process without pysqlite3."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

# requirements.txt installs pysqlite3 on these platforms (its environment
# marker); there every process must run a SQLite with the WAL-reset fix.
WHEEL_PLATFORMS = {("linux", "x86_64"), ("darwin", "arm64"), ("win32", "AMD64")}
FIXED_SQLITE_EXPECTED = (sys.platform, platform.machine()) in WHEEL_PLATFORMS


def without_pysqlite3(tmp_path: Path) -> dict[str, str]:
    """Environment variables under which ``import pysqlite3`` fails, as on a
    platform it has no wheel for."""
    stub = tmp_path / "no-pysqlite3" / "pysqlite3"
    stub.mkdir(parents=True, exist_ok=True)
    (stub / "__init__.py").write_text("raise ImportError('pysqlite3 is not installed here')\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(stub.parent), os.environ.get("PYTHONPATH")]))}
