#!/usr/bin/env python3
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line
    from django.db import OperationalError

    try:
        settings.INSTALLED_APPS  # noqa: B018 (loads the settings module)
    except ImproperlyConfigured as exc:
        # Django's command runner would swallow this and fail later with an
        # unrelated AppRegistryNotReady traceback; say the real cause instead.
        sys.exit(f"Configuration error: {exc}")
    try:
        execute_from_command_line(sys.argv)
    except OperationalError:
        # A database that cannot be reached (server down, wrong port, file that
        # cannot be opened) is one line with its address, not a traceback; any
        # other database error, on a database that answers, stays a traceback.
        from project.dbconnect import probe

        problem = probe()
        if problem is None:
            raise
        sys.exit(f"Database error: {problem}")


if __name__ == "__main__":
    main()
