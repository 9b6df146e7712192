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

django.setup()

pytest_plugins = ["project.testing.browser"]
