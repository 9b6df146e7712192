"""The PRAGMAs and transaction mode the project relies on, checked on a real
SQLite file (the test database itself is in memory, where WAL does not apply)."""

import threading
import time
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connections
from django.db.utils import load_backend

from project.db import database_from_url

pytestmark = pytest.mark.skipif(
    connections["default"].vendor != "sqlite", reason="SQLite-specific settings; other engines have their own tests"
)


@pytest.fixture
def file_db(tmp_path, django_db_blocker):
    """Open wrappers on one SQLite file configured exactly like the project's."""
    opened = []

    def open_wrapper(alias="tuned"):
        url = f"sqlite:///{tmp_path / 'tuned.sqlite3'}"
        config = database_from_url(url, base_dir=settings.BASE_DIR, conn_max_age=0)
        wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(
            {**config, "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False}, alias
        )
        wrapper.ensure_connection()
        opened.append(wrapper)
        return wrapper

    # These wrappers are not the test database: pytest-django's guard does not apply.
    with django_db_blocker.unblock():
        yield open_wrapper
        for wrapper in opened:
            if wrapper._thread_ident == threading.get_ident():
                wrapper.close()


def pragma(wrapper, name):
    with wrapper.cursor() as cursor:
        cursor.execute(f"PRAGMA {name}")
        return cursor.fetchone()[0]


def test_every_pragma_is_in_force_on_a_file_database(file_db):
    db = file_db()
    assert pragma(db, "journal_mode") == "wal"
    assert pragma(db, "synchronous") == 1  # NORMAL
    assert pragma(db, "foreign_keys") == 1
    assert pragma(db, "temp_store") == 2  # MEMORY
    assert pragma(db, "cache_size") == -16000
    assert pragma(db, "journal_size_limit") == 64 * 1024 * 1024
    assert pragma(db, "busy_timeout") == 20_000
    assert pragma(db, "mmap_size") == 0
    assert db.transaction_mode == "IMMEDIATE"


def test_synchronous_full_and_busy_timeout_come_from_the_environment(file_db, monkeypatch):
    monkeypatch.setenv("SQLITE_SYNCHRONOUS", "full")
    monkeypatch.setenv("SQLITE_BUSY_TIMEOUT", "7")
    db = file_db()
    assert pragma(db, "synchronous") == 2  # FULL
    assert pragma(db, "busy_timeout") == 7000


@pytest.mark.parametrize(("name", "value"), [("SQLITE_SYNCHRONOUS", "OFF"), ("SQLITE_BUSY_TIMEOUT", "soon")])
def test_bad_sqlite_settings_fail_loudly(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=name):
        database_from_url("sqlite:///x.sqlite3", base_dir=settings.BASE_DIR, conn_max_age=0)


def test_relative_sqlite_path_is_relative_to_the_project(tmp_path):
    config = database_from_url("sqlite:///var/other.sqlite3", base_dir=tmp_path, conn_max_age=0)
    assert config["NAME"] == str(tmp_path / "var" / "other.sqlite3")
    assert config["CONN_HEALTH_CHECKS"] is True


def test_foreign_keys_are_enforced_on_a_file_database(file_db):
    db = file_db()
    with db.cursor() as cursor:
        cursor.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        cursor.execute("CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id))")
        with pytest.raises(IntegrityError, match="FOREIGN KEY"):
            cursor.execute("INSERT INTO child (parent_id) VALUES (42)")
        cursor.execute("SELECT COUNT(*) FROM child")
        assert cursor.fetchone()[0] == 0


@contextmanager
def atomic_on(wrapper):
    """What transaction.atomic() does on entry and exit, for a wrapper that is
    not registered in django.db.connections: on SQLite this issues BEGIN in the
    configured transaction mode."""
    wrapper.set_autocommit(False, force_begin_transaction_with_broken_autocommit=True)
    try:
        yield
        wrapper.commit()
    except BaseException:
        wrapper.rollback()
        raise
    finally:
        wrapper.set_autocommit(True)


def test_a_writer_waits_for_the_lock_instead_of_failing(file_db):
    """The seeds' "database is locked": a transaction that reads, then writes
    while another connection holds the write lock. With DEFERRED transactions
    SQLite fails the write at once (the busy timeout cannot help a snapshot that
    went stale); with IMMEDIATE the second transaction waits at BEGIN."""
    first = file_db("first")
    with first.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, who TEXT)")
    outcome: dict[str, object] = {}
    started = threading.Event()

    def read_then_write_from_second():
        second = file_db("second")  # a wrapper belongs to the thread that made it
        started.set()
        try:
            with atomic_on(second), second.cursor() as cursor:
                cursor.execute("SELECT COUNT(*) FROM t")
                seen = cursor.fetchone()[0]
                cursor.execute("INSERT INTO t (who) VALUES (%s)", [f"second saw {seen}"])
            outcome["ok"] = True
        except Exception as exc:  # reported by the assertion below
            outcome["error"] = repr(exc)
        finally:
            second.close()

    with atomic_on(first):
        with first.cursor() as cursor:
            cursor.execute("INSERT INTO t (who) VALUES ('first')")
        thread = threading.Thread(target=read_then_write_from_second)
        thread.start()
        started.wait()
        time.sleep(0.5)  # long enough for the second writer to meet the lock
        assert thread.is_alive(), f"the second writer should be waiting on the lock: {outcome}"
    thread.join(timeout=30)
    assert outcome == {"ok": True}
    with first.cursor() as cursor:
        cursor.execute("SELECT who FROM t ORDER BY id")
        assert [row[0] for row in cursor.fetchall()] == ["first", "second saw 1"]
