"""Test-wide set-up.

The settings refuse to start without SECRET_KEY when DEBUG is off, as they
should in production, so the test run supplies a throw-away key before Django
reads its settings. DATABASE_URL is left alone: unset, the tests run on SQLite
in memory; set, the same suite runs on PostgreSQL or MariaDB.
"""

import os

os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-not-for-production")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
# The test client speaks plain HTTP and nothing is collected into STATIC_ROOT;
# the tests of the production settings switch these back on where they matter.
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("STATIC_MANIFEST", "false")

import django
import pytest

django.setup()

pytest_plugins = [
    "pytester",
    "project.testing.browser",
    "project.testing.api",
    "project.testing.mail",
    "project.testing.skips",
]


def pytest_report_header(config) -> str:
    # The same suite runs on several engines; say which one this run used.
    from django.db import connection

    return f"database engine: {connection.vendor} ({connection.settings_dict['ENGINE']})"


@pytest.fixture(autouse=True, scope="session")
def _backups_in_a_temporary_folder(tmp_path_factory):
    """`migrate` backs up a database that holds data first (dbtools); backups
    taken during the tests go to a temporary folder, not the project's var/."""
    from django.conf import settings

    settings.BACKUP_DIR = tmp_path_factory.mktemp("backups")
