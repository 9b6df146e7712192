"""What the account pages and the API share beyond the services: the
password check that counts towards the log-in lockout, the limit on reset
requests, the email-change link, and sending the account messages.

Mail is sent over a connection opened *before* anything is decided, so a mail
server that is down gives the same clear answer whatever the request was
(and, for a password reset, whether or not the address has an account).
A failure is logged with the user's id and the error, never with a link or
token.
"""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.http import HttpRequest
from django.template import loader
from django.utils.crypto import constant_time_compare, salted_hmac

from project.clientaddr import client_address
from users.lockout import reserve_attempt
from users.models import User

logger = logging.getLogger("users.accounts")

# Everything smtplib and the socket layer raise (SMTPException is an OSError).
MAIL_ERRORS = (OSError, smtplib.SMTPException)


class MailUnavailable(Exception):
    """The mail server could not be reached or refused the message (already logged)."""


def verify_own_password(request: HttpRequest | None, user: User, password: str) -> bool:
    """Whether ``password`` is ``user``'s, checked through ``authenticate()``:
    a wrong one counts towards the log-in lockout (users.lockout) like a
    failed log-in, so a stolen session cannot guess its way to a new password."""
    if not password:
        return False
    found = authenticate(request, username=user.get_username(), password=password)
    return found is not None and found.pk == user.pk


def reset_request_keys(request: HttpRequest | None, email: str) -> list[str]:
    """Budgets for password-reset requests: one per address asked for, one per
    client, in the lockout's table, apart from the log-in failure budgets."""
    keys = [f"reset:{email.strip().lower()[:190]}"]
    address = client_address(request)
    if address:
        keys.append(f"reset-addr:{address[:60]}")
    return keys


def reserve_reset_request(request: HttpRequest | None, email: str) -> int | None:
    """Count one reset request; the seconds to wait if a budget is spent.

    Every request counts (each one may send a message), with the lockout's
    limits: ``LOCKOUT_MAX_FAILURES`` per ``LOCKOUT_SECONDS``.
    """
    return reserve_attempt(reset_request_keys(request, email))


@contextmanager
def mail_connection(*, purpose: str, user_id: int | None = None) -> Iterator[BaseEmailBackend]:
    """An open connection to the mail server, closed afterwards.

    Any failure to connect or send is logged (the purpose, the user's id and
    the error; never the message, which holds a link) and raised as
    ``MailUnavailable``.
    """
    connection = get_connection()
    try:
        with connection:
            yield connection
    except MAIL_ERRORS as exc:
        logger.error(
            "Could not send the %s message (user %s): %s: %s", purpose, user_id or "-", type(exc).__name__, exc
        )
        raise MailUnavailable(purpose) from exc


def render_message(*, subject_template: str, body_template: str, context: dict[str, Any], to: str) -> EmailMessage:
    """A plain-text message from a subject and a body template."""
    subject = "".join(loader.render_to_string(subject_template, context).splitlines())
    body = loader.render_to_string(body_template, context)
    return EmailMessage(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def site_context(request: HttpRequest) -> dict[str, str]:
    """Where links in messages point: the host and scheme of the request (ALLOWED_HOSTS vouches for the host)."""
    return {"domain": request.get_host(), "protocol": "https" if request.is_secure() else "http"}


def link_lifetime() -> str:
    """How long a reset or email-change link works, in words ("3 hours")."""
    seconds = settings.PASSWORD_RESET_TIMEOUT
    if seconds % 3600 == 0:
        count, unit = seconds // 3600, "hour"
    else:
        count, unit = max(1, round(seconds / 60)), "minute"
    return f"{count} {unit}{'s' if count != 1 else ''}"


# --- The email-change link ----------------------------------------------------
_EMAIL_CHANGE_SALT = "users.accounts.email_change"


def _state(user: User) -> str:
    # Changes when the address or the password changes: a link is good once,
    # and not after the password was changed (or reset) since it was sent.
    return salted_hmac(_EMAIL_CHANGE_SALT, f"{user.pk}:{user.email}:{user.password}").hexdigest()[:32]


def email_change_token(user: User, new_email: str) -> str:
    """A signed, expiring token for changing ``user``'s address to ``new_email``."""
    return signing.dumps([user.pk, new_email, _state(user)], salt=_EMAIL_CHANGE_SALT, compress=True)


def read_email_change_token(token: str) -> tuple[User, str] | None:
    """The user and new address of a valid token; None when it is tampered
    with, expired (``PASSWORD_RESET_TIMEOUT``), used, or the password changed since."""
    try:
        pk, new_email, state = signing.loads(token, salt=_EMAIL_CHANGE_SALT, max_age=settings.PASSWORD_RESET_TIMEOUT)
        user = User.objects.get(pk=int(pk), is_active=True)
    except (signing.BadSignature, ValueError, TypeError, User.DoesNotExist):
        return None
    if not isinstance(new_email, str) or not constant_time_compare(state, _state(user)):
        return None
    return user, new_email
