"""EMAIL_URL and the mail deploy check: parsing, real STARTTLS and implicit TLS
against aiosmtpd, the console default of `make run`, and `check --deploy`."""

import smtplib
import ssl
import subprocess

import pytest
from aiosmtpd.smtp import AuthResult
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import send_mail

from project.checks import mail_warnings
from project.mail import CONSOLE_BACKEND, SMTP_BACKEND, email_from_url
from project.testing.mail import SmtpServer, use_mail_url
from project.tests.test_production_settings import PRODUCTION_ENV, run_manage


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mailer:p%40ss%3Aword@mail.example.com:587", {
            "EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 587, "EMAIL_HOST_USER": "mailer",
            "EMAIL_HOST_PASSWORD": "p@ss:word", "EMAIL_USE_TLS": True, "EMAIL_USE_SSL": False, "EMAIL_TIMEOUT": 10,
        }),
        ("smtp://mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True, "EMAIL_HOST_USER": ""}),
        ("smtps://u:p@mail.example.com", {"EMAIL_PORT": 465, "EMAIL_USE_SSL": True, "EMAIL_USE_TLS": False}),
        ("smtp://localhost:25?starttls=false&timeout=3", {
            "EMAIL_PORT": 25, "EMAIL_USE_TLS": False, "EMAIL_USE_SSL": False, "EMAIL_TIMEOUT": 3,
        }),
    ],
)  # fmt: skip
def test_smtp_urls(url, expected):
    settings = email_from_url(url)
    assert settings["EMAIL_BACKEND"] == SMTP_BACKEND
    assert {key: settings[key] for key in expected} == expected


def test_console_url():
    assert email_from_url("console://") == {"EMAIL_BACKEND": CONSOLE_BACKEND}


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("smtp://mailer:hunter2-secret@mail.example.com:submission", "the port is not a number"),
        ("smtp://mailer:hunter2-secret@/", "no host"),
        ("mailto://someone@example.com", "unknown scheme"),
        ("smtp://mailer:hunter2-secret@host?tls=yes", "unknown option 'tls'"),
        ("smtps://host?starttls=false", "unknown option 'starttls'"),
        ("smtp://host?starttls=perhaps", "starttls='perhaps' is not a boolean"),
        ("smtp://host?timeout=0", "timeout='0' is not a whole number of seconds"),
    ],
)
def test_bad_urls_stop_start_up_without_showing_the_password(url, problem):
    with pytest.raises(ImproperlyConfigured) as error:
        email_from_url(url)
    assert problem in str(error.value)
    assert "hunter2-secret" not in str(error.value)
    assert "smtps://user:password@host:465" in str(error.value)  # says what is expected


def test_a_bad_email_url_stops_start_up(tmp_path):
    result = run_manage(tmp_path, "manage.py", "check", DEBUG="true", EMAIL_URL="smtp://u:hunter2-secret@host?x=1")
    assert result.returncode == 1
    assert "EMAIL_URL='smtp://u:***@host?x=1': unknown option 'x'" in result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_with_debug_on_and_no_email_url_mail_is_printed_in_the_terminal(tmp_path):
    env = {"DEBUG": "true", "ENV_FILE": str(tmp_path / "none.env")}
    result = run_manage(tmp_path, "manage.py", "sendtestemail", "someone@example.com", **env)
    assert result.returncode == 0, result.stderr
    assert "To: someone@example.com" in result.stdout
    assert "Subject: Test email from" in result.stdout


# --- real TLS against aiosmtpd ----------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    """A self-signed certificate for 127.0.0.1 (the openssl command line, as on any Debian)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def server_context(certificate):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*map(str, certificate))
    return context


class Logins:
    def __init__(self):
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        encrypted = server.transport.get_extra_info("ssl_object") is not None
        self.seen.append((auth_data.login.decode(), auth_data.password.decode(), encrypted))
        return AuthResult(success=True)


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_starttls_and_implicit_tls_deliver_with_the_password_sent_encrypted(scheme, certificate, settings, monkeypatch):
    # Django's SMTP backend verifies the server against the default trust store:
    # OpenSSL's SSL_CERT_FILE makes that store our test certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate[0]))
    logins = Logins()
    context = server_context(certificate)
    if scheme == "smtp":
        tls = {"tls_context": context, "require_starttls": True}
    else:
        # aiosmtpd's AUTH-needs-TLS rule looks for STARTTLS only; the connection itself is TLS here.
        tls = {"ssl_context": context, "auth_require_tls": False}
    server = SmtpServer(authenticator=logins, **tls).start()
    try:
        use_mail_url(settings, f"{scheme}://mailer:p%40ss@127.0.0.1:{server.port}")
        assert send_mail("Hello", "Over TLS.", "site@example.com", ["someone@example.com"]) == 1
        (message,) = server.wait_for(1)
    finally:
        server.stop()
    assert message["Subject"] == "Hello"
    # The credentials arrived, percent-decoded, over an encrypted connection.
    assert logins.seen == [("mailer", "p@ss", True)]


def test_starttls_is_required_not_optional(settings):
    """A server that offers no STARTTLS gets no message (and no password) from smtp://."""
    server = SmtpServer().start()
    try:
        use_mail_url(settings, f"smtp://127.0.0.1:{server.port}")
        with pytest.raises(smtplib.SMTPNotSupportedError, match="STARTTLS"):
            send_mail("Hello", "Plain?", "site@example.com", ["someone@example.com"])
    finally:
        server.stop()
    assert server.messages == []


# --- the deploy check -------------------------------------------------------

CONSOLE = "django.core.mail.backends.console.EmailBackend"


@pytest.mark.parametrize(
    ("debug", "url", "backend", "sender", "expected"),
    [
        (True, "", SMTP_BACKEND, "webmaster@localhost", []),
        (False, "", SMTP_BACKEND, "no-reply@example.com", ["project.W002"]),
        (False, "console://", CONSOLE, "no-reply@example.com", ["project.W002"]),
        (False, "smtps://u:p@mail.example.com", SMTP_BACKEND, "webmaster@localhost", ["project.W003"]),
        (False, "smtps://u:p@mail.example.com", SMTP_BACKEND, "no-reply@example.com", []),
    ],
)
def test_mail_warnings(debug, url, backend, sender, expected):
    found = mail_warnings(debug=debug, email_url=url, backend=backend, from_email=sender)
    assert [warning.id for warning in found] == expected


def test_check_deploy_warns_when_no_mail_is_configured(tmp_path):
    env = {**PRODUCTION_ENV, "WEB_CONCURRENCY": "1", "ENV_FILE": str(tmp_path / "none.env")}
    del env["EMAIL_URL"]
    result = run_manage(tmp_path, "manage.py", "check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert "project.W002" in result.stderr
    assert "EMAIL_URL is not set" in result.stderr
