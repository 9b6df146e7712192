"""Connecting to the database when it goes wrong: a missing driver, a server
that is down, a connection pool with nothing free; and the pool's settings
and its deploy check. Real processes (manage.py, the serve preflight, real
gunicorn) against the engine the suite runs on; the pool on PostgreSQL."""

import json
import os
import subprocess
import sys
import threading
import time
from http import HTTPStatus

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import OperationalError, connection
from django.test import RequestFactory

from dbtools.engines import CONNECT_TIMEOUT_SECONDS, PostgreSQLEngine
from posts.models import Post
from project.checks import pool_size_warnings
from project.db import database_from_url
from project.dbconnect import use_pool
from project.middleware import DatabaseUnavailableMiddleware
from project.serving import server_timeout
from tools.reliability.server import Server, free_port, request
from users.models import User

# Never a real password anywhere; the messages must not show it.
PASSWORD = "pw-that-must-not-leak"
POSTGRES_ONLY = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="PostgreSQL's connection pool: runs in make test-postgres"
)


def run(args, tmp_path, timeout=60, **env):
    """A project command in a fresh process with a production-like environment and these variables."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_", "WEB_"))
        and k not in {"DEBUG", "SECURE_SSL_REDIRECT", "STATIC_MANIFEST", "CONN_MAX_AGE"}
    }
    base.update(
        ENV_FILE=str(tmp_path / "none.env"),
        VAR_DIR=str(tmp_path),
        SECRET_KEY="tests-only-" + "k" * 50,
        ALLOWED_HOSTS="127.0.0.1",
        DEBUG="false",
    )
    base.update(env)
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=base, capture_output=True, text=True, timeout=timeout
    )


def unreachable(tmp_path) -> tuple[str, str]:
    """A DATABASE_URL on the suite's engine that nothing answers, and the address a message must name."""
    if connection.vendor == "sqlite":
        path = tmp_path / "no-such-folder" / "db.sqlite3"
        return f"sqlite:///{path}", f"cannot open the SQLite database {path}: unable to open database file"
    config = connection.settings_dict
    host, port = config["HOST"] or "127.0.0.1", free_port()
    scheme, label = ("postgres", "PostgreSQL") if connection.vendor == "postgresql" else ("mysql", "MariaDB/MySQL")
    url = f"{scheme}://{config['USER'] or 'app'}:{PASSWORD}@{host}:{port}/{config['NAME']}"
    return url, f"cannot connect to the {label} server at {host}:{port}: "


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    assert PASSWORD not in text
    return lines[0]


# --- A driver that is missing ------------------------------------------------


@pytest.fixture
def without_psycopg(tmp_path):
    """psycopg (and psycopg2) cannot be imported, as when requirements-postgres.txt was never installed."""
    shadow = tmp_path / "shadow"
    for module in ("psycopg", "psycopg2"):
        (shadow / module).mkdir(parents=True)
        (shadow / module / "__init__.py").write_text(f"raise ImportError(\"No module named '{module}'\")\n")
    return {"PYTHONPATH": str(shadow), "DATABASE_URL": f"postgres://app:{PASSWORD}@127.0.0.1:5432/app"}


@pytest.mark.parametrize(
    ("command", "prefix"),
    [
        (["manage.py", "migrate", "--noinput"], "Configuration error: "),
        (["-m", "project.preflight"], "Cannot start: "),
        (["-m", "gunicorn", "-c", "gunicorn.conf.py", "project.wsgi"], "Cannot start: "),
    ],
    ids=["manage.py", "serve-preflight", "gunicorn"],
)
def test_a_missing_driver_is_one_line_naming_the_package(tmp_path, without_psycopg, command, prefix):
    result = run(command, tmp_path, timeout=30, PORT=str(free_port()), **without_psycopg)
    assert result.returncode != 0
    assert result.stdout == ""
    line = one_line(result.stderr)
    assert line.startswith(
        f"{prefix}DATABASE_URL names a PostgreSQL database, but its driver, psycopg, is not installed "
        "(No module named 'psycopg'): pip install -r requirements-postgres.txt"
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@h:5432/d", "postgres"),
        ("postgresql://u@h/d", "postgres"),
        ("pgsql://u@h/d", "postgres"),
        ("mysql://u@h:3306/d", "mysql"),
        ("mariadb://u@h:3306/d", "mysql"),
        ("sqlite:///var/db.sqlite3", ""),
        ("", ""),
    ],
)
def test_the_makefile_learns_which_driver_the_url_needs(tmp_path, url, expected):
    result = run(["-m", "project.dbconnect"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_the_makefile_reads_database_url_from_the_env_file_too(tmp_path):
    env_file = tmp_path / "project.env"
    env_file.write_text("# as in .env.example\nDATABASE_URL=mariadb://app:pw@db:3306/app\n")
    from_file = run(["-m", "project.dbconnect"], tmp_path, ENV_FILE=str(env_file))
    assert from_file.stdout.strip() == "mysql"
    # The environment wins over the file, as in the settings.
    both = run(["-m", "project.dbconnect"], tmp_path, ENV_FILE=str(env_file), DATABASE_URL="postgres://u@h/d")
    assert both.stdout.strip() == "postgres"


# --- A database server that is down -------------------------------------------


def test_manage_py_names_a_database_that_does_not_answer_in_one_line(tmp_path):
    url, message = unreachable(tmp_path)
    result = run(["manage.py", "migrate", "--noinput"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(f"Database error: {message}")


def test_serve_preflight_names_a_database_that_does_not_answer_in_one_line(tmp_path):
    url, message = unreachable(tmp_path)
    result = run(["-m", "project.preflight"], tmp_path, DATABASE_URL=url)
    assert result.returncode == 1
    assert one_line(result.stderr).startswith(f"Cannot start: {message}")


def test_requests_answer_503_and_log_one_line_while_the_database_does_not_answer(tmp_path):
    url, message = unreachable(tmp_path)
    server = Server(tmp_path, workers=1, DATABASE_URL=url, CACHE_URL="locmem://")
    server.start(healthy=False)
    try:
        api_status, api_body = request(server.port, "GET", "/api/posts/")
        page_status, page_body = request(server.port, "GET", "/")
    finally:
        server.stop()
    assert api_status == HTTPStatus.SERVICE_UNAVAILABLE
    assert api_body == {"detail": "The database is unavailable. Try again in a moment.", "code": "database_unavailable"}
    assert page_status == HTTPStatus.SERVICE_UNAVAILABLE
    assert "<h1>Temporarily unavailable</h1>" in page_body
    log = server.log_text()
    assert log.count("ERROR project.database") == 2
    assert f"database unavailable: {message}" in log
    assert "Traceback" not in log
    assert PASSWORD not in log


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgres://u@db:5432/app", CONNECT_TIMEOUT_SECONDS),
        ("mysql://u@db:3306/app", CONNECT_TIMEOUT_SECONDS),
        ("postgres://u@db:5432/app?connect_timeout=3", 3),
        ("sqlite:///var/db.sqlite3", None),
    ],
)
def test_servers_get_a_connect_timeout_below_the_worker_timeout(url, expected):
    # Without one, connecting to a host that drops packets waits minutes: the
    # worker would be killed at WEB_TIMEOUT instead of answering 503.
    config = database_from_url(url, base_dir=settings.BASE_DIR, conn_max_age=0)
    assert config["OPTIONS"].get("connect_timeout") == expected
    assert server_timeout() > CONNECT_TIMEOUT_SECONDS
    if connection.vendor != "sqlite":
        assert connection.settings_dict["OPTIONS"]["connect_timeout"] == CONNECT_TIMEOUT_SECONDS


def test_a_driver_message_that_quotes_the_password_is_masked():
    exc = OperationalError("connection failed")
    exc.__cause__ = Exception(f'connection to server at "db", port 5432 failed: no such password {PASSWORD}')
    config = {"HOST": "db", "PORT": 5432, "PASSWORD": PASSWORD, "OPTIONS": {}}
    assert (
        PostgreSQLEngine.connect_failure(config, exc)
        == "cannot connect to the PostgreSQL server at db:5432: no such password ***"
    )


@pytest.mark.django_db
def test_an_error_on_an_open_connection_is_not_called_unavailable():
    # A lock timeout or a deadlock on a database that answers stays a 500 with its traceback.
    connection.ensure_connection()
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    assert middleware.process_exception(RequestFactory().get("/api/posts/"), OperationalError("locked")) is None


# --- PostgreSQL's connection pool -----------------------------------------------


def postgres_config(**options):
    return {"ENGINE": "django.db.backends.postgresql", "NAME": "app", "OPTIONS": dict(options), "CONN_MAX_AGE": 600}


@pytest.mark.parametrize(
    ("config", "sizes", "message"),
    [
        (
            {"ENGINE": "django.db.backends.sqlite3", "NAME": "x", "OPTIONS": {}},
            {"min_size": 1, "max_size": 1, "timeout": 5},
            "DATABASE_POOL=true needs PostgreSQL",
        ),
        (postgres_config(), {"min_size": 5, "max_size": 2, "timeout": 5}, "DATABASE_POOL_MIN_SIZE=5 and"),
        (postgres_config(), {"min_size": 0, "max_size": 0, "timeout": 5}, "the maximum must be at least 1"),
        (postgres_config(), {"min_size": 1, "max_size": 2, "timeout": 30}, "DATABASE_POOL_TIMEOUT=30 must be below"),
    ],
    ids=["not-postgres", "min-above-max", "max-zero", "timeout-not-below-worker-timeout"],
)
def test_pool_settings_that_cannot_work_stop_start_up(config, sizes, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        use_pool(config, worker_timeout=30, **sizes)
    assert "pool" not in config["OPTIONS"]


@POSTGRES_ONLY
def test_the_pool_from_the_environment_and_conn_max_age_set_to_zero(tmp_path):
    show = "from django.conf import settings; import json; d = settings.DATABASES['default']; "
    show += "print(json.dumps([d['OPTIONS']['pool'], d['CONN_MAX_AGE']]))"
    url = os.environ["DATABASE_URL"]
    result = run(
        ["manage.py", "shell", "-v0", "-c", show],
        tmp_path,
        DATABASE_URL=url,
        CONN_MAX_AGE="600",
        DATABASE_POOL="true",
        DATABASE_POOL_MIN_SIZE="2",
        DATABASE_POOL_MAX_SIZE="6",
        DATABASE_POOL_TIMEOUT="7",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == [{"min_size": 2, "max_size": 6, "timeout": 7}, 0]
    # Defaults: one connection per thread of a worker, a timeout well below WEB_TIMEOUT.
    defaults = run(["manage.py", "shell", "-v0", "-c", show], tmp_path, DATABASE_URL=url, DATABASE_POOL="true",
                   WEB_THREADS="3", WEB_TIMEOUT="8")  # fmt: skip
    assert json.loads(defaults.stdout.strip().splitlines()[-1]) == [{"min_size": 1, "max_size": 3, "timeout": 4}, 0]
    refused = run(["manage.py", "check"], tmp_path, DATABASE_URL=url, DATABASE_POOL="true", DATABASE_POOL_TIMEOUT="30")
    assert refused.returncode == 1
    assert one_line(refused.stderr).startswith("Configuration error: DATABASE_POOL_TIMEOUT=30 must be below")


def test_the_deploy_check_warns_about_a_pool_smaller_than_the_threads_of_a_worker():
    pool = {"ENGINE": "django.db.backends.postgresql", "OPTIONS": {"pool": {"max_size": 2, "timeout": 10}}}
    (warning,) = pool_size_warnings({"default": pool}, workers=5, threads=4)
    assert warning.id == "project.W020"
    assert "at most 2 connection(s) per server process" in warning.msg
    assert "runs 4 threads" in warning.msg
    assert "DATABASE_POOL_MAX_SIZE=4" in warning.hint
    assert "= 20 connections" in warning.hint
    assert pool_size_warnings({"default": pool}, workers=5, threads=2) == []
    # Without a pool there is nothing to size; psycopg's default pool is 4.
    assert pool_size_warnings({"default": postgres_config()}, workers=5, threads=8) == []
    assert len(pool_size_warnings({"default": postgres_config(pool=True)}, workers=1, threads=5)) == 1


@POSTGRES_ONLY
def test_check_deploy_reports_the_small_pool(tmp_path):
    result = run(
        ["manage.py", "check", "--deploy"], tmp_path, DATABASE_URL=os.environ["DATABASE_URL"], DATABASE_POOL="true",
        DATABASE_POOL_MAX_SIZE="2", WEB_CONCURRENCY="3", WEB_THREADS="4",
    )  # fmt: skip
    assert "project.W020" in result.stderr
    assert "each of the 3 gunicorn worker(s) runs 4 threads" in result.stderr


def waiting_for_lock(lock_conn, database: str) -> bool:
    row = lock_conn.execute(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", [database]
    ).fetchone()
    return row[0] > 0


@POSTGRES_ONLY
@pytest.mark.django_db(transaction=True)
def test_an_exhausted_pool_answers_503_within_its_timeout_not_after_the_worker_timeout(tmp_path):
    """Two threads, a pool of one: the first request holds the pool's only
    connection (it waits on a table lock the test holds), so the second finds
    none free and must get its 503 when the pool timeout ends, long before
    WEB_TIMEOUT; the first still completes once the lock goes."""
    import psycopg

    # A post to list: an empty page would need no query of the posts table.
    author = User.objects.create_user(username="writer", email="writer@example.com", password=None)
    Post.objects.create(author=author, title="Hello", body="World")
    config = connection.settings_dict
    database = config["NAME"]
    url = f"postgres://{config['USER']}:{config['PASSWORD']}@{config['HOST'] or '127.0.0.1'}:{config['PORT'] or 5432}"
    server = Server(
        tmp_path, workers=1, threads=2, DATABASE_URL=f"{url}/{database}", CACHE_URL="locmem://",
        DATABASE_POOL="true", DATABASE_POOL_MIN_SIZE="1", DATABASE_POOL_MAX_SIZE="1", DATABASE_POOL_TIMEOUT="2",
        WEB_TIMEOUT="20",
    )  # fmt: skip
    server.start()
    held: dict = {}
    try:
        with psycopg.connect(f"{url}/{database}") as lock_conn, psycopg.connect(f"{url}/{database}") as watch:
            watch.autocommit = True
            # Both tables a posts list reads: its count comes from the users' post counts.
            lock_conn.execute("LOCK TABLE posts_post, users_user IN ACCESS EXCLUSIVE MODE")
            holder = threading.Thread(target=lambda: held.update(answer=request(server.port, "GET", "/api/posts/")))
            holder.start()
            deadline = time.monotonic() + 15
            while not waiting_for_lock(watch, database):
                assert time.monotonic() < deadline, "the first request never reached the lock"
                time.sleep(0.05)
            started = time.monotonic()
            api_status, api_body = request(server.port, "GET", "/api/posts/")
            waited = time.monotonic() - started
            page_status, page_body = request(server.port, "GET", "/")
            lock_conn.rollback()
        holder.join(timeout=20)
    finally:
        server.stop()
    assert api_status == HTTPStatus.SERVICE_UNAVAILABLE
    assert api_body == {"detail": "The database is unavailable. Try again in a moment.", "code": "database_unavailable"}
    assert 1.5 < waited < 10
    assert page_status == HTTPStatus.SERVICE_UNAVAILABLE
    assert "<h1>Temporarily unavailable</h1>" in page_body
    assert held["answer"][0] == HTTPStatus.OK
    log = server.log_text()
    assert "database unavailable: no connection came free in the database connection pool within 2 s" in log
    assert "(at most 1 per server process)" in log
    assert "Traceback" not in log
