"""``manage.py migrate`` backs the database up before it changes anything.

A ``pre_migrate`` receiver rather than an overridden ``migrate`` command: it
composes with any other app or package that overrides ``migrate``, it runs
for every way migrate is invoked (``call_command`` included), and Django hands
it the exact migration plan. ``pre_migrate`` is sent once per installed app
with models, so the receiver acts only for the first such app: once per run.
A failed backup raises and stops the migration before it starts.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.conf import settings
from django.core.management.base import CommandError
from django.db import connections

from dbtools.backup import BackupError, create_backup
from dbtools.engines import engine_for


def _first_app_with_models() -> AppConfig:
    return next(config for config in apps.get_app_configs() if config.models_module is not None)


def backup_before_migrate(sender: AppConfig, *, using: str, plan: Any = None, verbosity: int = 1, **kwargs: Any):
    if not settings.BACKUP_BEFORE_MIGRATE or not plan or sender is not _first_app_with_models():
        return
    stdout = kwargs.get("stdout")
    engine = engine_for(using)
    # An in-memory database (the test run's) has nothing to lose.
    if engine.in_memory() or not engine.exists() or not engine.holds_data():
        return
    try:
        backup = create_backup(alias=using, reason="pre-migrate")
    except BackupError as exc:
        raise CommandError(
            f"Migration stopped before it started: the backup it takes first failed: {exc} "
            "(set BACKUP_BEFORE_MIGRATE=false to migrate without one)."
        ) from exc
    if stdout is not None and verbosity > 0:
        stdout.write(f"  Backed up {connections[using].alias!r} before migrating: {backup.path}")
