"""``python -m project.preflight``: run by ``make serve`` before anything else,
so a missing SECRET_KEY or ALLOWED_HOSTS, a missing database driver or a
database that does not answer is one clear line, not a traceback from inside
a gunicorn worker."""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.DEBUG  # noqa: B018  (importing the settings is the check)
    except ImproperlyConfigured as exc:
        sys.stderr.write(f"Cannot start: {exc}\n")
        return 1
    if settings.DEBUG:
        sys.stderr.write("Cannot start: DEBUG is on. The production server runs with DEBUG off (unset it).\n")
        return 1
    if not settings.ALLOWED_HOSTS:
        sys.stderr.write(
            "Cannot start: ALLOWED_HOSTS is empty, so every request would be refused. "
            "Set the host names the site answers to, e.g. ALLOWED_HOSTS=example.com,www.example.com "
            "(ALLOWED_HOSTS=127.0.0.1 to try it on this machine).\n"
        )
        return 1
    from project.dbconnect import probe

    problem = probe()
    if problem:
        sys.stderr.write(f"Cannot start: {problem}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
