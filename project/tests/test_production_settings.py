"""The production settings on real responses, `check --deploy`, and `make serve`'s preflight."""

import os
import subprocess
import sys
from http import HTTPStatus

import pytest
from csp.decorators import csp_update
from csp.middleware import CSPMiddleware
from django.conf import settings
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from dbtools import sqlite
from dbtools.tests.library_support import FIXED_SQLITE_EXPECTED, without_pysqlite3
from project.testing.api import detail_of

PRODUCTION_ENV = {
    "DEBUG": "false",
    "SECRET_KEY": "production-like-key-" + "x" * 50,
    "ALLOWED_HOSTS": "example.com",
    "EMAIL_URL": "smtps://mailer:secret@mail.example.com",
    "DEFAULT_FROM_EMAIL": "no-reply@example.com",
}


def run_manage(tmp_path, *args, **env):
    # A production environment: none of the test run's switches (the browser
    # fixture's DJANGO_ALLOW_ASYNC_UNSAFE would itself fail --deploy).
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SECURE_SSL_REDIRECT", "STATIC_MANIFEST", "DEBUG"} and not k.startswith("DJANGO_")
    }
    clean.update({"DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3", "VAR_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, *args], cwd=settings.BASE_DIR, env=clean, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_with_production_settings_and_a_single_connection_server(tmp_path):
    result = run_manage(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        **PRODUCTION_ENV, WEB_CONCURRENCY="1", WEB_THREADS="1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_reports_turning_the_ssl_redirect_off(tmp_path):
    result = run_manage(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        **PRODUCTION_ENV, WEB_CONCURRENCY="1", SECURE_SSL_REDIRECT="false",
    )  # fmt: skip
    assert result.returncode != 0
    assert "security.W008" in result.stderr


def test_check_deploy_is_clean_under_several_workers_with_the_default_install(tmp_path):
    # The pinned pysqlite3 bundles a SQLite with the WAL-reset fix (where it has a wheel).
    if not FIXED_SQLITE_EXPECTED:
        pytest.skip("pysqlite3 has no wheel for this platform; Python's own SQLite is used")
    result = run_manage(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV, WEB_CONCURRENCY="5"
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_the_wal_reset_warning_without_pysqlite3_and_its_acknowledgement(tmp_path):
    # A deployment where pysqlite3 cannot be installed runs Python's own SQLite.
    if sqlite.has_wal_reset_fix(sqlite.python_sqlite_version_info):
        pytest.skip("this Python's own SQLite has the WAL-reset fix; the check is covered by the unit tests")
    fallback = without_pysqlite3(tmp_path)
    several = run_manage(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        **PRODUCTION_ENV, **fallback, WEB_CONCURRENCY="3",
    )  # fmt: skip
    assert several.returncode != 0
    assert "project.W001" in several.stderr
    assert f"SQLite {sqlite.python_sqlite_version} has the WAL-reset" in several.stderr
    assert "3 connections" in several.stderr
    accepted = run_manage(
        tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING",
        **PRODUCTION_ENV, **fallback, WEB_CONCURRENCY="3", SQLITE_WAL_RESET_RISK_ACCEPTED="true",
    )  # fmt: skip
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "false", "ALLOWED_HOSTS": "example.com"}, "Cannot start: SECRET_KEY is not set."),
        ({**PRODUCTION_ENV, "ALLOWED_HOSTS": ""}, "Cannot start: ALLOWED_HOSTS is empty"),
    ],
)
def test_serve_preflight_explains_what_is_missing_in_one_line(tmp_path, env, message):
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    result = subprocess.run(
        [sys.executable, "-m", "project.preflight"],
        cwd=settings.BASE_DIR,
        env={**base, "ENV_FILE": str(tmp_path / "none.env"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


@pytest.mark.django_db
def test_security_headers_on_real_responses(client):
    response = client.get("/admin/login/", secure=True)
    assert response.status_code == HTTPStatus.OK
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    csp = response["Content-Security-Policy"]
    directives = parse_csp(csp)
    assert directives["default-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"][0] == "'self'"
    assert directives["style-src"][1].startswith("'sha256-")
    assert "unsafe-inline" not in csp
    assert "Content-Security-Policy-Report-Only" not in response
    cookie = response.cookies["csrftoken"]
    assert cookie["secure"] is True
    assert cookie["httponly"] is True
    assert settings.SESSION_COOKIE_SECURE is True
    assert settings.SESSION_COOKIE_HTTPONLY is True


@pytest.mark.django_db
def test_plain_http_is_redirected_to_https_unless_a_tls_proxy_vouches_for_it(client):
    with override_settings(SECURE_SSL_REDIRECT=True):
        response = client.get("/admin/login/")
        assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
        assert response["Location"] == "https://testserver/admin/login/"
        with override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https")):
            behind_proxy = client.get("/admin/login/", headers={"X-Forwarded-Proto": "https"})
            assert behind_proxy.status_code == HTTPStatus.OK


def test_tls_proxy_switch_sets_the_proxy_header(tmp_path):
    code = "import django; django.setup(); from django.conf import settings; print(settings.SECURE_PROXY_SSL_HEADER)"
    on = run_manage(tmp_path, "-c", code, **PRODUCTION_ENV, TLS_PROXY="true", DJANGO_SETTINGS_MODULE="project.settings")
    off = run_manage(tmp_path, "-c", code, **PRODUCTION_ENV, DJANGO_SETTINGS_MODULE="project.settings")
    assert on.stdout.strip() == "('HTTP_X_FORWARDED_PROTO', 'https')", on.stderr
    assert off.stdout.strip() == "None", off.stderr


def parse_csp(header: str) -> dict[str, list[str]]:
    """directive -> sources (django-csp writes the directives in no fixed order)."""
    return {name: sources for name, *sources in (part.split() for part in header.split(";") if part.strip())}


def test_csp_can_be_extended_per_view_without_changing_the_site_policy():
    @csp_update({"img-src": ["https://images.example"]})
    def view(request):
        return HttpResponse("ok")

    header = CSPMiddleware(view)(RequestFactory().get("/"))["Content-Security-Policy"]
    assert parse_csp(header)["img-src"] == ["'self'", "data:", "https://images.example"]
    plain = CSPMiddleware(lambda request: HttpResponse("ok"))(RequestFactory().get("/"))
    assert "https://images.example" not in plain["Content-Security-Policy"]
    assert settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]["img-src"] == ["'self'", "data:"]


def test_csp_report_only_sends_the_same_policy_without_enforcing_it(tmp_path):
    code = (
        "import django; django.setup(); from django.test import Client; "
        "r = Client().get('/accounts/login/', secure=True); "
        "print(r.status_code, r.has_header('Content-Security-Policy')); "
        "print(r.get('Content-Security-Policy-Report-Only', ''))"
    )
    env = {**PRODUCTION_ENV, "DJANGO_SETTINGS_MODULE": "project.settings", "ALLOWED_HOSTS": "testserver"}
    env.update(STATIC_MANIFEST="false", LOG_LEVEL="WARNING")  # nothing collected here; no request line on stdout
    enforced = run_manage(tmp_path, "-c", code, **env)
    reported = run_manage(tmp_path, "-c", code, **env, CSP_REPORT_ONLY="true")
    assert enforced.stdout.splitlines() == ["200 True", ""], enforced.stderr
    status, policy = reported.stdout.splitlines()
    assert status == "200 False", reported.stderr
    assert parse_csp(policy)["script-src"] == ["'self'"]
    assert parse_csp(policy)["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_api_bodies_over_the_limit_get_a_json_413_before_anything_reads_them(client, settings):
    settings.API_MAX_BODY_BYTES = 1024
    response = client.post("/api/posts/", data=b"x" * 2048, content_type="application/json")
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response["Content-Type"] == "application/json"
    assert detail_of(response) == "Request body too large: 2048 bytes; the limit is 1024 bytes."
