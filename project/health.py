"""``/healthz`` for load balancers and monitors: is the database reachable,
are all migrations applied, is the backup folder writable. JSON, no
authentication, no session, and cheap: one ``SELECT 1`` per call once the
migrations are known to be applied."""

from __future__ import annotations

import os
import time
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from dbtools import replication
from dbtools.engines import EngineError, engine_for, sqlite_file

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


# Asking the replica runs Litestream (and, for S3, a listing request): once per
# this many seconds per process, however often monitors call.
REPLICA_CHECK_SECONDS = 10.0
_replica_seen: dict[str, tuple[float, str | None, dict]] = {}


def _replica(alias: str) -> tuple[str | None, dict]:
    """The replica's state (a problem or None) and its figures, for /healthz."""
    replica = replication.configured()
    if replica is None:
        return None, {"configured": False}
    cached = _replica_seen.get(alias)
    if cached and time.monotonic() - cached[0] < REPLICA_CHECK_SECONDS:
        return cached[1], cached[2]
    problem: str | None = None
    detail: dict = {"configured": True, "url": replica.url, "max_lag_seconds": replica.max_lag_seconds}
    try:
        state = replication.status(replica, sqlite_file(alias, "check"))
    except (replication.ReplicationError, EngineError) as exc:
        problem = str(exc)
    else:
        detail.update(
            lag_seconds=round(state.lag_seconds, 1),
            earliest=state.window.earliest.isoformat(),
            latest=state.window.latest.isoformat(),
        )
        if state.lag_seconds > replica.max_lag_seconds:
            problem = f"{state.lag_seconds:.0f} s behind (more than REPLICA_MAX_LAG_SECONDS)"
    _replica_seen[alias] = (time.monotonic(), problem, detail)
    return problem, detail


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    alias = DEFAULT_DB_ALIAS
    problems: dict[str, str | None] = {"database": _database(alias)}
    problems["migrations"] = _migrations(alias) if problems["database"] is None else "not checked"
    problems["backups"] = _backups()
    checks = {name: problem or "ok" for name, problem in problems.items()}
    healthy = all(problem is None for problem in problems.values())
    # The replica's state is reported, not made a reason for 503: a store
    # that is down for a minute must not take every server out of the load
    # balancer. Monitors alert on "replica" (dbcheck exits 1 or 2 for it).
    replica_problem, replica = _replica(alias)
    checks["replica"] = replica_problem or ("ok" if replica["configured"] else "not configured")
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks, "replica": replica}, status=200 if healthy else 503
    )
