"""The switch to PostgreSQL as a new user makes it: a fresh clone of this
repository's HEAD, DATABASE_URL pointing at a new, empty PostgreSQL database,
and the README's `make run`. Then, in the same clone (its .venv has psycopg
but not mysqlclient), what a MariaDB URL without its driver and a server that
is down look like from make, manage.py and gunicorn.

Runs in `make test-postgres` (it needs the server); pip's cache keeps the
clone's .venv to about half a minute, and the demo data set is the smallest
`make run` takes.
"""

import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection

from tools.reliability.server import free_port

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs a PostgreSQL server: runs in make test-postgres"
)

DEMO = {"DEMO_USERS": "2", "DEMO_POSTS": "7"}
PASSWORD = "pw-that-must-not-leak"


def clean_env(**env: str) -> dict[str, str]:
    """The caller's environment without this test run's own settings (and its make's job server)."""
    dropped = {"DEBUG", "SECRET_KEY", "ENV_FILE", "VAR_DIR", "CACHE_URL", "REDIS_URL", "ALLOWED_HOSTS", "PYTHONPATH"}
    dropped |= {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "VIRTUAL_ENV", "SECURE_SSL_REDIRECT", "STATIC_MANIFEST"}
    base = {
        k: v for k, v in os.environ.items() if k not in dropped and not k.startswith(("DJANGO_", "DATABASE_", "WEB_"))
    }
    return {**base, **env}


@pytest.fixture(scope="module")
def server_url():
    """The suite's PostgreSQL server, as a URL without a database name."""
    parts = urlsplit(os.environ["DATABASE_URL"])
    return parts._replace(path="").geturl()


@pytest.fixture(scope="module")
def new_database(server_url):
    """A new, empty database on the suite's server, dropped afterwards."""
    import psycopg

    base = urlsplit(os.environ["DATABASE_URL"]).path.lstrip("/")
    name = f"{base}_clone_{secrets.token_hex(3)}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield f"{server_url}/{name}"
    with psycopg.connect(f"{server_url}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    if subprocess.run(["git", "-C", str(settings.BASE_DIR), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.fail("the fresh-clone test needs the project as a git checkout")
    folder = tmp_path_factory.mktemp("fresh") / "project"
    subprocess.run(["git", "clone", "-q", str(settings.BASE_DIR), str(folder)], check=True, timeout=120)
    return folder


def make(clone: Path, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=clone,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_errors(stderr: str) -> list[str]:
    """What make's commands wrote to stderr, without make's own "*** Error" lines."""
    return [line for line in stderr.splitlines() if not re.match(r"make(\[\d+\])?: \*\*\*", line)]


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (a local test server)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_make_run_on_a_new_postgresql_database_serves_the_admin_and_loads_the_demo_data(clone, new_database):
    import psycopg

    # DATABASE_URL in .env, as .env.example shows it: the Makefile must find it there too.
    (clone / ".env").write_text(f"DEBUG=true\nDATABASE_URL={new_database}\n")
    port = free_port()
    log_path = clone.parent / "make-run.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PORT={port}", *(f"{k}={v}" for k, v in DEMO.items())],
            cwd=clone,
            env=clean_env(ADMIN_PASSWORD="fresh-clone-admin-pw"),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        status, page = 0, ""
        while time.monotonic() < deadline:
            assert process.poll() is None, f"make run exited with {process.returncode}:\n{log_path.read_text()[-3000:]}"
            try:
                status, page = get(f"http://127.0.0.1:{port}/admin/login/")
                break
            except OSError:
                time.sleep(0.5)
        assert status == HTTPStatus.OK, log_path.read_text()[-3000:]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    assert "Django SQLite project administration" in page
    assert 'name="username"' in page
    assert 'name="password"' in page
    with psycopg.connect(new_database) as conn:
        assert conn.execute("SELECT COUNT(*) FROM posts_post").fetchone() == (int(DEMO["DEMO_POSTS"]),)
        users = conn.execute("SELECT username, is_superuser FROM users_user ORDER BY username").fetchall()
    assert users == [("admin", True), ("user00001", False), ("user00002", False)]
    output = log_path.read_text()
    assert "installing psycopg (requirements-postgres.txt)" in output
    assert "Admin: http://127.0.0.1:" in output


def clone_venv(clone: Path) -> Path:
    """The clone's .venv (built by make run above, or here when this test runs alone)."""
    result = make(clone, ".venv/.runtime-installed", ".venv/.postgres-installed", timeout=600)
    assert result.returncode == 0, result.stderr
    return clone / ".venv" / "bin"


MYSQL_URL = f"mysql://root:{PASSWORD}@127.0.0.1:3306/absent"


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        (["python", "manage.py", "migrate", "--noinput"], "Configuration error: "),
        (["gunicorn", "-c", "gunicorn.conf.py", "project.wsgi"], "Cannot start: "),
    ],
    ids=["manage.py", "gunicorn"],
)
def test_a_mariadb_url_without_mysqlclient_is_one_line_naming_the_package(clone, command, prefix):
    bin_dir = clone_venv(clone)
    result = subprocess.run(
        [str(bin_dir / command[0]), *command[1:]],
        cwd=clone,
        env=clean_env(DATABASE_URL=MYSQL_URL, DEBUG="true", PORT=str(free_port()), ENV_FILE=str(clone / "none.env")),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(
        f"{prefix}DATABASE_URL names a MariaDB/MySQL database, but its driver, mysqlclient, is not installed"
    )
    assert "pip install -r requirements-mysql.txt" in line
    assert "apt-get install -y libmariadb-dev pkg-config gcc python3-dev" in line
    assert PASSWORD not in line


def test_make_names_the_mariadb_headers_when_mysqlclient_cannot_build(clone, tmp_path):
    clone_venv(clone)
    # A machine without the MariaDB client headers: pkg-config finds no
    # mariadb.pc, and a fresh pip cache holds no mysqlclient wheel built before.
    (tmp_path / "no-pkgconfig").mkdir()
    result = make(
        clone,
        "migrate",
        DATABASE_URL=MYSQL_URL,
        ENV_FILE=str(clone / "none.env"),
        PKG_CONFIG_LIBDIR=str(tmp_path / "no-pkgconfig"),
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    assert make_errors(result.stderr) == [
        "mysqlclient (the MariaDB/MySQL driver) did not install: it compiles against the MariaDB client headers; "
        "install them first (Debian/Ubuntu: apt-get install -y libmariadb-dev pkg-config gcc python3-dev); "
        "pip's output is in .venv/mysqlclient-install.log"
    ]
    assert "pkg-config" in (clone / ".venv" / "mysqlclient-install.log").read_text()
    assert not (clone / ".venv" / ".mysql-installed").exists()


def test_make_serve_names_a_postgresql_server_that_is_down_in_one_line(clone, server_url, tmp_path):
    clone_venv(clone)
    parts = urlsplit(server_url)
    port = free_port()
    result = make(
        clone,
        "serve",
        DATABASE_URL=f"postgres://{parts.username}:{PASSWORD}@127.0.0.1:{port}/app",
        ENV_FILE=str(clone / "none.env"),
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        timeout=120,
    )
    assert result.returncode != 0
    assert make_errors(result.stderr) == [
        f"Cannot start: cannot connect to the PostgreSQL server at 127.0.0.1:{port}: Connection refused"
    ]
    assert "Traceback" not in result.stdout
    assert "gunicorn" not in result.stdout  # stopped before anything else ran
