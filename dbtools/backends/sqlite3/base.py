"""Django's SQLite backend, subclassed the documented way, so that Django's
connections run on ``dbtools.sqlite.Database`` (pysqlite3's bundled SQLite
where installed) instead of the ``sqlite3`` module that
``django.db.backends.sqlite3`` imports by name.

Django's backend reaches for its own import of the library in a few places;
each has its counterpart here, and nothing else differs:

- ``base``: ``get_new_connection`` calls the module's ``Database.connect``,
  the cursor class derives from that module's ``Cursor``, and the adapters
  and converters (dates, decimals, booleans) are registered on that module;
- ``features`` and ``operations``: flags computed from that module's
  ``sqlite_version_info`` (Django's own test-suite skips aside);
- ``schema``: ``quote_value`` adapts values with that module;
- ``creation``: the test-database clone for ``spawn`` workers copies through it.

When ``dbtools.sqlite`` fell back to Python's ``sqlite3`` these are Django's
own behaviour, unchanged.
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import multiprocessing
from collections.abc import Mapping
from itertools import tee
from pathlib import Path
from typing import Any

from django.db.backends.sqlite3 import base, creation, features, operations, schema
from django.utils.asyncio import async_unsafe
from django.utils.dateparse import parse_date, parse_datetime, parse_time
from django.utils.functional import cached_property

from dbtools.engines import CREATE_FOLDER_OPTION
from dbtools.sqlite import Database

if Database is not base.Database:
    # The same adapters and converters Django registers on its own import.
    Database.register_converter("bool", b"1".__eq__)
    Database.register_converter("date", base.decoder(parse_date))
    Database.register_converter("time", base.decoder(parse_time))
    Database.register_converter("datetime", base.decoder(parse_datetime))
    Database.register_converter("timestamp", base.decoder(parse_datetime))
    Database.register_adapter(decimal.Decimal, str)
    Database.register_adapter(datetime.date, base.adapt_date)
    Database.register_adapter(datetime.datetime, base.adapt_datetime)


class SQLiteCursorWrapper(Database.Cursor):
    """Django's cursor wrapper ("format"/"pyformat" to "qmark"/"named"
    parameters) on this library's ``Cursor``: a connection only accepts
    cursor classes derived from its own module's."""

    convert_query = base.SQLiteCursorWrapper.convert_query

    def execute(self, query: str, params: Any = None) -> Any:
        if params is None:
            return super().execute(query)
        param_names = list(params) if isinstance(params, Mapping) else None
        return super().execute(self.convert_query(query, param_names=param_names), params)

    def executemany(self, query: str, param_list: Any) -> Any:
        # Peek at the first parameters without consuming a generator.
        peekable, param_list = tee(iter(param_list))
        first = next(peekable, None)
        param_names = list(first) if first and isinstance(first, Mapping) else None
        return super().executemany(self.convert_query(query, param_names=param_names), param_list)


class DatabaseFeatures(features.DatabaseFeatures):
    can_alter_table_drop_column = Database.sqlite_version_info >= (3, 35, 5)

    @cached_property
    def can_return_columns_from_insert(self) -> bool:
        return Database.sqlite_version_info >= (3, 35)


class DatabaseOperations(operations.DatabaseOperations):
    def force_group_by(self) -> list[str]:
        return ["GROUP BY TRUE"] if Database.sqlite_version_info < (3, 39) else []


class DatabaseSchemaEditor(schema.DatabaseSchemaEditor):
    def quote_value(self, value: Any) -> str:
        # Adapted by this library first (Django's quoting then sees a plain
        # str, int, float or bytes, which it quotes as it always does).
        with contextlib.suppress(Database.ProgrammingError):
            value = Database.adapt(value)
        return super().quote_value(value)


class DatabaseCreation(creation.DatabaseCreation):
    """Only the in-memory test database cloned for ``spawn`` workers (Django's
    parallel test runner on macOS and Windows) goes through the library by
    name; every other path is Django's own."""

    def _clone_test_db(self, suffix: str, verbosity: int, keepdb: bool = False) -> None:
        source = self.connection.settings_dict["NAME"]
        if not (self.is_in_memory_db(source) and multiprocessing.get_start_method() == "spawn"):
            super()._clone_test_db(suffix, verbosity, keepdb)
            return
        ondisk = Database.connect(self.get_test_db_clone_settings(suffix)["NAME"], uri=True)
        try:
            self.connection.connection.backup(ondisk)
        finally:
            ondisk.close()

    def setup_worker_connection(self, _worker_id: int) -> None:
        if multiprocessing.get_start_method() != "spawn":
            super().setup_worker_connection(_worker_id)
            return
        settings_dict = self.get_test_db_clone_settings(_worker_id)
        alias = self.connection.alias
        in_memory = f"file:memorydb_{alias}_{_worker_id}?mode=memory&cache=shared"
        source = Database.connect(f"file:{alias}_{_worker_id}.sqlite3?mode=ro", uri=True)
        target = Database.connect(in_memory, uri=True)
        try:
            source.backup(target)
        finally:
            source.close()
        self.connection.settings_dict.update(settings_dict)
        self.connection.settings_dict["NAME"] = in_memory
        # The in-memory copy lives while a connection to it is open.
        self.connection.connect()
        target.close()


class DatabaseWrapper(base.DatabaseWrapper):
    Database = Database
    SchemaEditorClass = DatabaseSchemaEditor
    creation_class = DatabaseCreation
    features_class = DatabaseFeatures
    ops_class = DatabaseOperations

    def get_connection_params(self) -> dict[str, Any]:
        params = super().get_connection_params()
        self.create_folder = bool(params.pop(CREATE_FOLDER_OPTION, False))
        return params

    @async_unsafe
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.create_folder:
            # The project's default database: its folder is made when first
            # used, not when the settings are read (engines.CREATE_FOLDER_OPTION).
            Path(conn_params["database"]).parent.mkdir(parents=True, exist_ok=True)
        # Django's get_new_connection, on this library.
        conn = Database.connect(**conn_params)
        base.register_functions(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        # The macOS bundled SQLite defaults legacy_alter_table ON, which
        # prevents atomic table renames.
        conn.execute("PRAGMA legacy_alter_table = OFF")
        for init_command in self.init_commands:
            if init_command := init_command.strip():
                conn.execute(init_command)
        return conn

    def create_cursor(self, name: str | None = None) -> Any:
        return self.connection.cursor(factory=SQLiteCursorWrapper)
