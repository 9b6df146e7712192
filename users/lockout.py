"""Brute-force lockout for everything that calls ``authenticate()``: the admin
login, DRF's token endpoint, the site's log-in form.

``LockoutBackend`` wraps ``ModelBackend``. Before a password is checked it
takes one attempt from two budgets, the username's and the client address's
(``LOCKOUT_MAX_FAILURES`` each, within ``LOCKOUT_SECONDS``), in one database
transaction, so parallel attempts cannot all pass the check before any failure
is counted. A correct password gives the attempt back and clears the
username's count; a wrong one leaves it counted. While either budget is spent,
every attempt is refused without looking at the password, so a correct
password during the lockout is refused too.

A refusal raises ``PermissionDenied`` (``authenticate()`` then stops trying
other backends) and marks the request; ``LockoutMiddleware`` turns the caller's
"wrong password" answer into a 429: JSON for the API, the lockout page for the
admin and the site.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from project.clientaddr import client_address
from project.errors import error_response
from users.models import LoginFailure

LOCKED_ATTRIBUTE = "auth_lockout_retry_after"


def lockout_keys(request: HttpRequest | None, username: str) -> list[str]:
    # Usernames are case-insensitive here ("Alice" logs in as "alice"), so the
    # budget is too; keys are bounded so a huge username cannot fail the insert.
    keys = [f"user:{username.strip().lower()[:150]}"]
    address = client_address(request)
    if address:
        keys.append(f"addr:{address[:60]}")
    return keys


def _reserve(keys: list[str]) -> int | None:
    """Take one attempt from each key's budget; the seconds left if a budget is spent."""
    limit: int = settings.LOCKOUT_MAX_FAILURES
    window = timedelta(seconds=settings.LOCKOUT_SECONDS)
    now = timezone.now()
    with transaction.atomic():
        rows = {row.key: row for row in LoginFailure.objects.select_for_update().filter(key__in=keys)}
        spent = [row.expires_at for row in rows.values() if row.expires_at > now and row.count >= limit]
        if spent:
            return max(1, math.ceil((max(spent) - now).total_seconds()))
        if len(rows) < len(keys):
            # A new key is about to be stored: drop the counts whose window has
            # passed, so the table holds only current ones (indexed, cheap).
            LoginFailure.objects.filter(expires_at__lte=now).exclude(key__in=keys).delete()
        for key in keys:
            row = rows.get(key)
            if row is None:
                LoginFailure.objects.create(key=key, count=1, expires_at=now + window)
            else:
                row.count = row.count + 1 if row.expires_at > now else 1
                row.expires_at = now + window
                row.save(update_fields=["count", "expires_at"])
    return None


def reserve_attempt(keys: list[str]) -> int | None:
    try:
        return _reserve(keys)
    except IntegrityError:
        # PostgreSQL/MariaDB: a parallel first failure created the same row
        # between our read and insert (SQLite's BEGIN IMMEDIATE rules this
        # out). The row exists now, so a second pass locks and counts it.
        return _reserve(keys)


def give_back(keys: list[str]) -> None:
    """A successful log-in: clear the username's count, return the address's attempt."""
    user_key, *other = keys
    LoginFailure.objects.filter(key=user_key).delete()
    LoginFailure.objects.filter(key__in=other, count__gt=0).update(count=F("count") - 1)


class LockoutBackend(ModelBackend):
    def authenticate(self, request: HttpRequest | None, username: str | None = None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        keys = lockout_keys(request, username)
        retry_after = reserve_attempt(keys)
        if retry_after is not None:
            if request is not None:
                setattr(getattr(request, "_request", request), LOCKED_ATTRIBUTE, retry_after)
            raise PermissionDenied("Too many failed log-in attempts.")
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            give_back(keys)
        return user


class LockoutMiddleware:
    """Answers 429 (with Retry-After) for a request whose log-in was refused by the lockout."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        retry_after = getattr(request, LOCKED_ATTRIBUTE, None)
        if retry_after is None:
            return response
        minutes = math.ceil(retry_after / 60)
        message = f"Too many failed log-in attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        match = getattr(request, "resolver_match", None)
        if request.path.startswith(settings.API_PATH_PREFIX):
            locked = error_response(429, message, "locked_out")
            # The request was counted by the throttle too; its headers stay.
            for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
                if name in response:
                    locked[name] = response[name]
        elif match is not None and admin.site.name in match.namespaces:
            context = {**admin.site.each_context(request), "title": "Log-in locked", "message": message}
            locked = render(request, "admin/lockout.html", context, status=429)
        else:
            locked = render(request, "registration/lockout.html", {"message": message}, status=429)
        locked["Retry-After"] = str(retry_after)
        return locked
