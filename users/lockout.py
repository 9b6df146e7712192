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
admin and the site. ``manage.py unlock <username|address>`` (``unlock``
below) clears the counts of a user or an address before their window ends.

Why our own code and not django-axes (docs/lockout.md has the comparison):
the attempt is reserved *before* the password is checked, under row locks,
so a burst of parallel guesses cannot all pass the check (django-axes counts
a failure after the password check, in a signal handler); the client address
is the one ``project.clientaddr`` gives the API throttles too, from one
setting (TRUSTED_PROXY_COUNT); and the refusal is the API's one JSON error
body. It is one small table and this module.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from project.clientaddr import client_address
from project.errors import error_response
from users.models import LoginFailure

# Where a refusal is marked for LockoutMiddleware: a key of the request's
# environ, the one dict a DRF Request shares with the HttpRequest it wraps
# (``request.META`` reads through to it).
LOCKED_KEY = "project.lockout.retry_after"


def user_key(username: str) -> str:
    # Usernames are case-insensitive here ("Alice" logs in as "alice"), so the
    # budget is too; keys are bounded so a huge username cannot fail the insert.
    return f"user:{username.strip().lower()[:150]}"


def address_key(address: str) -> str:
    return f"addr:{address[:60]}"


def lockout_keys(request: HttpRequest | None, username: str) -> list[str]:
    keys = [user_key(username)]
    address = client_address(request)
    if address:
        keys.append(address_key(address))
    return keys


def unlock(target: str, *, using: str = DEFAULT_DB_ALIAS) -> tuple[str, int | None]:
    """Clear the failure counts of a username or a client address (an IPv4 or
    IPv6 address, in any spelling): what the target is, and the failures
    cleared (None when nothing was counted for it). ``ValueError`` for an
    empty target."""
    target = target.strip()
    if not target:
        raise ValueError("Give a username or a client address to unlock.")
    try:
        address = ipaddress.ip_address(target)
    except ValueError:
        keys, what = [user_key(target)], f"user {target!r}"
    else:
        # A client address as REMOTE_ADDR or X-Forwarded-For spells it, in its
        # canonical form too ("::1" for "0:0:0:0:0:0:0:1"); a username that
        # looks like an address is cleared as well.
        keys, what = [address_key(target), address_key(str(address)), user_key(target)], f"address {address}"
    with transaction.atomic(using=using):
        rows = list(LoginFailure.objects.using(using).select_for_update().filter(key__in=keys))
        LoginFailure.objects.using(using).filter(pk__in=[row.pk for row in rows]).delete()
    return what, sum(row.count for row in rows) if rows else None


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
                request.META[LOCKED_KEY] = retry_after
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
        retry_after = request.META.get(LOCKED_KEY)
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
