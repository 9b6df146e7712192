"""Turn ``EMAIL_URL`` into Django's ``EMAIL_*`` settings.

- ``smtp://user:password@host:587``: SMTP with STARTTLS (the submission port;
  the connection is upgraded to TLS before the password is sent, and a server
  that does not offer STARTTLS is an error, never a silent plain-text send).
- ``smtps://user:password@host:465``: SMTP over implicit TLS.
- ``console://``: messages are printed to the server's standard output
  (development; ``make run`` uses it).

The user name and password are percent-decoded (write ``@`` as ``%40``).
Query options: ``timeout=<seconds>`` (default 10: a mail server that hangs
must not hold a web worker for ever), and, for ``smtp://`` only,
``starttls=false`` for a relay on the same machine that speaks plain SMTP.

Our own parser rather than dj-email-url: ``smtp://`` here means STARTTLS
unless ``starttls=false`` says otherwise (dj-email-url sends in plain text
unless ``?tls=True``), an unknown option is an error instead of being
ignored, and the message never shows the password.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_TIMEOUT = 10
_DEFAULT_PORTS = {"smtp": 587, "smtps": 465}
_EXAMPLES = "smtp://user:password@host:587, smtps://user:password@host:465, console://"


def _fail(url: str, problem: str) -> ImproperlyConfigured:
    # The password never goes into the message: it could end up in a log.
    parts = urlsplit(url)
    if parts.password:
        user, _, where = parts.netloc.rpartition("@")
        url = parts._replace(netloc=f"{user.partition(':')[0]}:***@{where}").geturl()
    return ImproperlyConfigured(f"EMAIL_URL={url!r}: {problem} (expected {_EXAMPLES}).")


def _option_bool(url: str, name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise _fail(url, f"{name}={value!r} is not a boolean")


def email_from_url(url: str) -> dict[str, Any]:
    """The ``EMAIL_*`` settings for ``url``; ``ImproperlyConfigured`` for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    options = {key: values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    if scheme == "console":
        return {"EMAIL_BACKEND": CONSOLE_BACKEND}
    if scheme not in _DEFAULT_PORTS:
        raise _fail(url, "unknown scheme")
    unknown = set(options) - {"timeout", "starttls"}
    if unknown or (scheme == "smtps" and "starttls" in options):
        raise _fail(url, f"unknown option {sorted(unknown or {'starttls'})[0]!r}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError:
        raise _fail(url, "the port is not a number") from None
    if not host:
        raise _fail(url, "no host")
    timeout = options.get("timeout", str(DEFAULT_TIMEOUT))
    if not timeout.isdigit() or int(timeout) < 1:
        raise _fail(url, f"timeout={timeout!r} is not a whole number of seconds")
    implicit_tls = scheme == "smtps"
    return {
        "EMAIL_BACKEND": SMTP_BACKEND,
        "EMAIL_HOST": host,
        "EMAIL_PORT": port or _DEFAULT_PORTS[scheme],
        "EMAIL_HOST_USER": unquote(parts.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parts.password or ""),
        "EMAIL_USE_SSL": implicit_tls,
        "EMAIL_USE_TLS": not implicit_tls and _option_bool(url, "starttls", options.get("starttls", "true")),
        "EMAIL_TIMEOUT": int(timeout),
    }
