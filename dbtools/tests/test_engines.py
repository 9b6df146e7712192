"""The engine questions every tool shares, answered once."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections
from django.db.utils import load_backend

from dbtools.engines import (
    CONNECT_TIMEOUT_SECONDS,
    EngineError,
    MySQLEngine,
    PostgreSQLEngine,
    SQLiteEngine,
    engine_class,
    engine_for,
)
from project.db import database_from_url


def sqlite_engine(name: str, alias: str = "probe") -> SQLiteEngine:
    config = {**database_from_url("sqlite:///unused.sqlite3", base_dir=Path("/"), conn_max_age=0), "NAME": name}
    wrapper = load_backend(config["ENGINE"]).DatabaseWrapper(
        {**config, "TIME_ZONE": None, "AUTOCOMMIT": True, "ATOMIC_REQUESTS": False, "CONN_HEALTH_CHECKS": False},
        alias,
    )
    engine = engine_for(wrapper)
    assert isinstance(engine, SQLiteEngine)
    return engine


@pytest.mark.parametrize(
    ("name", "in_memory", "path"),
    [
        ("", True, None),
        (":memory:", True, None),
        ("file:memorydb_default?mode=memory&cache=shared", True, None),
        ("/srv/app/db.sqlite3", False, Path("/srv/app/db.sqlite3")),
        ("file:/srv/app/db.sqlite3?mode=ro", False, Path("/srv/app/db.sqlite3")),
    ],
)
def test_what_counts_as_an_in_memory_sqlite_database_and_where_the_file_is(name, in_memory, path):
    engine = sqlite_engine(name)
    assert engine.in_memory() is in_memory
    assert engine.path() == path
    if in_memory:
        with pytest.raises(EngineError, match="in-memory SQLite database; there is no file to back up"):
            engine.require_path("back up")


def test_two_private_in_memory_databases_are_not_the_same_database_but_one_file_is():
    assert sqlite_engine(":memory:", "one").identity() != sqlite_engine(":memory:", "two").identity()
    first, second = sqlite_engine("/srv/app/db.sqlite3"), sqlite_engine("/srv/app/../app/db.sqlite3")
    assert first.identity() == second.identity()
    shared = "file:memorydb_default?mode=memory&cache=shared"
    assert sqlite_engine(shared, "one").identity() == sqlite_engine(shared, "two").identity()


def test_the_engine_of_the_test_database_counts_its_rows_and_sees_no_pending_migrations(db):
    engine = engine_for("default")
    assert engine.vendor == connections["default"].vendor
    assert engine.pending_migrations() == []
    counts = engine.row_counts()
    assert counts["django_migrations"] > 0
    assert counts["posts_post"] == 0


def test_a_connection_of_its_own_never_comes_from_the_pool_and_gets_a_connect_timeout():
    # Django keeps one pool per alias: a wrapper that kept the "pool" option
    # would take (and wait for) one of the pool's connections.
    engine = sqlite_engine(":memory:")
    engine.settings["OPTIONS"] = {"pool": {"max_size": 1}, "timeout": 5}
    assert engine.new_wrapper().settings_dict["OPTIONS"] == {"timeout": 5}
    options: dict = {}
    SQLiteEngine.set_connect_timeout(options)
    assert options == {}  # a file opens at once
    PostgreSQLEngine.set_connect_timeout(options)
    assert options == {"connect_timeout": CONNECT_TIMEOUT_SECONDS}


@pytest.mark.parametrize(
    ("backend", "vendor"),
    [
        ("django.db.backends.sqlite3", SQLiteEngine),
        ("dbtools.backends.sqlite3", SQLiteEngine),
        ("django.db.backends.postgresql", PostgreSQLEngine),
        ("django.contrib.gis.db.backends.postgis", PostgreSQLEngine),
        ("django.db.backends.mysql", MySQLEngine),
        ("django.db.backends.oracle", None),
    ],
)
def test_the_vendor_of_an_engine_path_is_known_before_django_is_set_up(backend, vendor):
    assert engine_class(backend) is vendor


def test_dbcopy_skips_preparing_values_only_for_djangos_plain_fields_on_postgresql():
    from django.db import models

    from posts.models import Post

    class Encrypted(models.CharField):
        """A subclass may prepare values its own way: it keeps get_db_prep_save."""

    for name in ("id", "author", "title", "body", "created_at"):
        assert PostgreSQLEngine.writes_as_read(Post._meta.get_field(name)), name
    assert not PostgreSQLEngine.writes_as_read(models.JSONField())
    assert not PostgreSQLEngine.writes_as_read(models.DecimalField(max_digits=5, decimal_places=2))
    assert not PostgreSQLEngine.writes_as_read(Encrypted(max_length=5))
    assert not MySQLEngine.writes_as_read(Post._meta.get_field("body"))
    assert not SQLiteEngine.writes_as_read(Post._meta.get_field("body"))
