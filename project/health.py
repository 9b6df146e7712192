"""``/healthz`` for load balancers and monitors: is the database reachable,
are all migrations applied, is the backup folder writable. JSON, no
authentication, no session, and cheap: one ``SELECT 1`` per call once the
migrations are known to be applied."""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dbtools.engines import engine_for

# Migrations do not un-apply themselves while a process runs; a deploy that
# adds some restarts the server. So once everything is applied, this process
# stops loading the migration graph (the only costly part) on every call.
_migrations_ok: set[str] = set()


def _database(alias: str) -> str | None:
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError as exc:
        return f"unreachable: {exc}"
    return None


def _migrations(alias: str) -> str | None:
    if alias in _migrations_ok:
        return None
    pending = engine_for(alias).pending_migrations()
    if pending:
        return f"{len(pending)} unapplied: {', '.join(pending[:5])}"
    _migrations_ok.add(alias)
    return None


def backup_dir() -> Path:
    return Path(getattr(settings, "BACKUP_DIR", Path(settings.VAR_DIR) / "backups"))


def _backups() -> str | None:
    folder = backup_dir()
    # The folder may not exist yet: the first backup creates it, so then its
    # nearest existing parent must be writable.
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        return f"not writable: {folder}"
    return None


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    alias = DEFAULT_DB_ALIAS
    problems: dict[str, str | None] = {"database": _database(alias)}
    problems["migrations"] = _migrations(alias) if problems["database"] is None else "not checked"
    problems["backups"] = _backups()
    checks = {name: problem or "ok" for name, problem in problems.items()}
    healthy = all(problem is None for problem in problems.values())
    return JsonResponse({"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503)
