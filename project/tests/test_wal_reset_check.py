import pytest

from project.checks import sqlite_wal_reset_check, wal_reset_warnings
from project.db import database_from_url


@pytest.fixture
def wal_file(tmp_path):
    # A file database with the project's PRAGMAs, journal_mode=WAL among them.
    return {"default": database_from_url(f"sqlite:///{tmp_path}/db.sqlite3", base_dir=tmp_path, conn_max_age=0)}


def test_old_sqlite_in_wal_mode_under_several_workers_warns_and_says_what_to_do(wal_file):
    (warning,) = wal_reset_warnings(wal_file, version=(3, 40, 1), concurrency=5, accepted=False)
    assert warning.id == "project.W001"
    assert "SQLite 3.40.1" in warning.msg
    assert "5 connections" in warning.msg
    assert "WEB_CONCURRENCY=1 WEB_THREADS=1" in warning.hint
    assert "SQLITE_WAL_RESET_RISK_ACCEPTED=true" in warning.hint


@pytest.mark.parametrize(
    ("version", "concurrency", "accepted"),
    [
        ((3, 51, 3), 5, False),  # fixed SQLite
        ((3, 52, 0), 5, False),
        ((3, 51, 2), 1, False),  # one process, one thread: one connection
        ((3, 40, 1), 5, True),  # the risk is accepted explicitly
    ],
)
def test_no_warning_when_the_bug_cannot_bite_or_is_accepted(wal_file, version, concurrency, accepted):
    assert wal_reset_warnings(wal_file, version=version, concurrency=concurrency, accepted=accepted) == []


def test_threads_count_as_connections_too(wal_file, monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "1")
    monkeypatch.setenv("WEB_THREADS", "4")
    monkeypatch.setattr("project.checks._sqlite_version", lambda: (3, 40, 1))
    monkeypatch.setattr("project.checks.connections", _Connections(wal_file))
    (warning,) = sqlite_wal_reset_check()
    assert "4 connections" in warning.msg


def test_other_databases_and_journal_modes_are_not_concerned(wal_file):
    rollback = {"default": {**wal_file["default"], "OPTIONS": {"init_command": "PRAGMA journal_mode=DELETE"}}}
    memory = {"default": {**wal_file["default"], "NAME": ":memory:"}}
    postgres = {"default": {"ENGINE": "django.db.backends.postgresql", "NAME": "app"}}
    for databases in (rollback, memory, postgres):
        assert wal_reset_warnings(databases, version=(3, 40, 1), concurrency=5, accepted=False) == []


class _Connections:
    """Stands in for django.db.connections with the given DATABASES."""

    def __init__(self, databases):
        self.settings = databases

    def __iter__(self):
        return iter(self.settings)
