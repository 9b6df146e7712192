"""The scale benchmarks' data sets, built once and reused: SQLite by default,
PostgreSQL or MariaDB when ``DATABASE_URL`` names one.

Every set is seed_demo's (``--users 2000 --seed 42``) at a number of posts.

- SQLite: a file ``posts-<N>.sqlite3`` in the search benchmark's folder
  (``BENCH_DIR``, default ``project-search-bench`` in the temp folder),
  built by ``migrate`` and ``seed_demo`` and kept.
- PostgreSQL / MariaDB: one database per size beside the one the URL names
  (``<name>_<N>``: ``h_bench`` gives ``h_bench_1000000``), created,
  migrated and filled by ``manage.py dbcopy`` from the SQLite file of the
  same size, then analysed (statistics for the planner; PostgreSQL's
  visibility map, which index-only scans need). A marker file in the temp
  folder, keyed like the SQLite file (its path and inode: a rebuilt file is
  a new one), remembers a finished copy; a missing marker, another SQLite
  file or fewer posts than the set holds build it again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
USERS = 2000
SERVER_SCHEMES = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}


def bench_env(database_url: str) -> dict[str, str]:
    # Scratch data sets, rebuilt at will: no backup of a million posts before each migrate.
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "bench-only",
        "DEBUG": "false",
        "BACKUP_BEFORE_MIGRATE": "false",
    }


def manage(*args: str, database_url: str, quiet: bool = True) -> None:
    env = bench_env(database_url)
    out = subprocess.DEVNULL if quiet else None
    # Fixed argument lists: this interpreter and manage.py.
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True, stdout=out)


def sqlite_folder() -> Path:
    return Path(os.environ.get("BENCH_DIR", Path(tempfile.gettempdir()) / "project-search-bench"))


def sqlite_file(posts: int, folder: Path | None = None) -> Path:
    """The seeded SQLite file of ``posts`` posts, built the first time it is asked for."""
    folder = folder or sqlite_folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"posts-{posts}.sqlite3"
    if not path.exists():
        build_sqlite(path, posts)
    elif not _migrated(f"sqlite:///{path}"):
        # A kept file and a newer migration (an index, a search view): bring it up to date.
        manage("migrate", "--noinput", "-v0", database_url=f"sqlite:///{path}")
    return path


def _migrated(url: str) -> bool:
    """No migration is pending on ``url`` (``migrate --check`` exits non-zero when one is)."""
    env = bench_env(url)
    check = [sys.executable, str(ROOT / "manage.py"), "migrate", "--check", "-v0"]
    return subprocess.run(check, env=env, cwd=ROOT, check=False, stdout=subprocess.DEVNULL).returncode == 0


def build_sqlite(path: Path, posts: int) -> None:
    sys.path.insert(0, str(ROOT))
    from dbtools.sqlite import Database

    print(f"building {path} ({posts:,} posts; once) ...", file=sys.stderr, flush=True)
    tmp = path.with_suffix(".building")
    for leftover in tmp.parent.glob(tmp.name + "*"):
        leftover.unlink()
    url = f"sqlite:///{tmp}"
    manage("migrate", "-v0", database_url=url)
    manage("seed_demo", "--users", str(USERS), "--posts", str(posts), "-v0", database_url=url)
    # Fold the WAL back into the file so that the fixture is one file.
    with Database.connect(tmp) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    tmp.rename(path)


def engine_of(url: str) -> str:
    """ "sqlite", "postgresql" or "mysql" for a DATABASE_URL (empty: SQLite)."""
    scheme = urlsplit(url).scheme.split("+")[0] if url else "sqlite"
    if scheme == "sqlite":
        return "sqlite"
    if scheme not in SERVER_SCHEMES:
        raise SystemExit(f"DATABASE_URL: the benchmarks run on sqlite://, postgres:// or mysql://, not {scheme}://")
    return SERVER_SCHEMES[scheme]


def server_url(base_url: str, posts: int) -> str:
    """The URL of the database holding the ``posts`` set beside ``base_url``'s database."""
    parts = urlsplit(base_url)
    name = parts.path.lstrip("/") or "bench"
    return parts._replace(path=f"/{name}_{posts}").geturl()


def _marker(url: str) -> Path:
    parts = urlsplit(url)
    key = f"{engine_of(url)}-{parts.hostname}-{parts.port}-{parts.path.lstrip('/')}"
    return Path(tempfile.gettempdir()) / "project-bench-servers" / f"{key}.json"


def _source_key(source: Path) -> dict:
    # The file's inode: a rebuilt set is a new file renamed into place, while
    # the benchmarks' own small writes (a token, five rare posts) keep it.
    return {"source": str(source), "inode": source.stat().st_ino}


def dataset_url(base_url: str, posts: int, *, folder: Path | None = None) -> str:
    """A ``DATABASE_URL`` holding the ``posts`` set on ``base_url``'s engine (built once).

    For SQLite (``base_url`` empty or sqlite://) the seeded file; for a
    server, a database of its own filled from that file.
    """
    source = sqlite_file(posts, folder)
    engine = engine_of(base_url)
    if engine == "sqlite":
        return f"sqlite:///{source}"
    url = server_url(base_url, posts)
    marker = _marker(url)
    expected = {**_source_key(source), "posts": posts}
    try:
        recorded = json.loads(marker.read_text())
    except (OSError, ValueError):
        recorded = None
    if recorded == expected and _post_count(url) >= posts:
        if not _migrated(url):
            manage("migrate", "--noinput", "-v0", database_url=url)
        return url
    print(f"copying {source.name} into {safe_url(url)} (once) ...", file=sys.stderr, flush=True)
    started = time.monotonic()
    _recreate(url)
    manage("migrate", "--noinput", "-v0", database_url=url)
    manage("dbcopy", "--from", f"sqlite:///{source}", "--to", url, "--noinput", database_url=url, quiet=False)
    _analyse(url)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(expected))
    print(f"  ready in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return url


def safe_url(url: str) -> str:
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    return parts._replace(netloc=netloc).geturl()


def _connect(url: str, *, database: str | None):
    parts = urlsplit(url)
    if engine_of(url) == "postgresql":
        import psycopg

        return psycopg.connect(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or "") or None,
            dbname=database or "postgres",
            autocommit=True,
        )
    import MySQLdb  # type: ignore[import-untyped]  # mysqlclient has no type information; this is a benchmark helper

    kwargs = {"host": parts.hostname, "port": parts.port or 3306, "user": unquote(parts.username or "root")}
    if parts.password:
        kwargs["password"] = unquote(parts.password)
    if database:
        kwargs["database"] = database
    connection = MySQLdb.connect(**kwargs)
    connection.autocommit(True)
    return connection


def _name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _quote(url: str, name: str) -> str:
    return f'"{name}"' if engine_of(url) == "postgresql" else f"`{name}`"


def _recreate(url: str) -> None:
    name = _name(url)
    connection = _connect(url, database=None)
    try:
        cursor = connection.cursor()
        if engine_of(url) == "postgresql":
            cursor.execute(f"DROP DATABASE IF EXISTS {_quote(url, name)} WITH (FORCE)")
            cursor.execute(f"CREATE DATABASE {_quote(url, name)}")
        else:
            cursor.execute(f"DROP DATABASE IF EXISTS {_quote(url, name)}")
            cursor.execute(f"CREATE DATABASE {_quote(url, name)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    finally:
        connection.close()


def _post_count(url: str) -> int:
    try:
        connection = _connect(url, database=_name(url))
    except Exception:
        return -1
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM posts_post")
        return int(cursor.fetchone()[0])
    except Exception:
        return -1
    finally:
        connection.close()


def _analyse(url: str) -> None:
    """Planner statistics, as a running server's autovacuum / InnoDB would have them."""
    connection = _connect(url, database=_name(url))
    try:
        cursor = connection.cursor()
        if engine_of(url) == "postgresql":
            cursor.execute("VACUUM ANALYZE")
        else:
            cursor.execute("SHOW TABLES")
            for (table,) in cursor.fetchall():
                cursor.execute(f"ANALYZE TABLE `{table}`")
                cursor.fetchall()
    finally:
        connection.close()


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="Build the scale benchmarks' data sets on DATABASE_URL's engine.")
    parser.add_argument("--sizes", default="1000,1000000", help="Post counts, comma-separated.")
    args = parser.parse_args()
    for posts in (int(size) for size in args.sizes.split(",")):
        print(safe_url(dataset_url(os.environ.get("DATABASE_URL", ""), posts)))


if __name__ == "__main__":
    main()
