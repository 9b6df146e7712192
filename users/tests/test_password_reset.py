"""Password reset by email, through a real SMTP server (project/testing/mail.py)."""

import logging
from datetime import timedelta
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from project.testing.mail import body, link_in
from users.models import LoginFailure, User

pytestmark = pytest.mark.django_db

OLD, NEW = "old-Password-123", "brand-New-pass-456"
RESET = reverse("password_reset")


@pytest.fixture
def alice(db):
    return User.objects.create_user(username="alice", email="Alice@example.com", password=OLD)


def ask(client, email, **extra):
    return client.post(RESET, {"email": email}, **extra)


def reset_path(server, count=1):
    """The path of the link in the newest message."""
    return urlsplit(link_in(server.wait_for(count)[-1])).path


def test_the_link_from_the_message_sets_a_new_password_and_ends_every_session(client, alice, smtp_server):
    token = Token.objects.create(user=alice)
    elsewhere = Client()
    elsewhere.force_login(alice)
    assert elsewhere.get(reverse("users:account")).status_code == HTTPStatus.OK

    response = ask(client, "alice@example.COM")  # any letter case finds the account
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("password_reset_done")
    (message,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes == [("no-reply@example.com", ["Alice@example.com"])]
    assert message["Subject"] == "Reset your password at testserver"
    assert message["From"] == "Posts <no-reply@example.com>"
    assert "alice" in body(message)
    assert "3 hours" in body(message)
    link = link_in(message)
    assert link.startswith("http://testserver/accounts/reset/")

    # The link moves its token into the session, then shows the form.
    first = client.get(urlsplit(link).path)
    assert first.status_code == HTTPStatus.FOUND
    assert first["Location"].endswith("/set-password/")
    form = client.get(first["Location"])
    assert form.status_code == HTTPStatus.OK
    assert "Choose a new password" in form.text
    done = client.post(first["Location"], {"new_password1": NEW, "new_password2": NEW})
    assert done["Location"] == reverse("password_reset_complete")
    assert "Log in with the new password" in client.get(done["Location"]).text

    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert not alice.check_password(OLD)
    # The API token was rotated with it, and the other session is over.
    assert not Token.objects.filter(key=token.key).exists()
    assert Token.objects.filter(user=alice).count() == 1
    assert elsewhere.get(reverse("users:account")).status_code == HTTPStatus.FOUND
    assert SESSION_KEY not in elsewhere.session

    # Used once: the same link is refused, and the password stays the new one.
    again = client.get(urlsplit(link).path)
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert "This link is not valid" in again.text
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_the_same_answer_whether_or_not_the_address_has_an_account(client, alice, smtp_server):
    User.objects.create_user(username="sleeper", email="sleeper@example.com", password=OLD, is_active=False)
    User.objects.create_user(username="nopass", email="nopass@example.com", password=None)
    answers = [ask(client, email) for email in ("nobody@example.com", "sleeper@example.com", "nopass@example.com")]
    known = ask(client, "alice@example.com")
    smtp_server.wait_for(1)
    for answer in answers:
        assert (answer.status_code, answer["Location"]) == (known.status_code, known["Location"])
    # Only the active account with a password got a message.
    assert [to for _, to in smtp_server.envelopes] == [["Alice@example.com"]]


def test_an_invalid_address_is_a_form_error_shown_back_escaped(client, smtp_server):
    response = ask(client, '"><script>alert(1)</script>')
    assert response.status_code == HTTPStatus.OK
    assert "Enter a valid email address." in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text
    assert smtp_server.messages == []
    assert not LoginFailure.objects.exists()


@pytest.mark.parametrize("damage", ["token", "uid"])
def test_a_tampered_link_is_refused_and_changes_nothing(client, alice, smtp_server, damage):
    ask(client, "alice@example.com")
    path = reset_path(smtp_server)
    _, _, _, uid, token, _ = path.split("/")
    tampered = f"/accounts/reset/{uid}/{token[:-2]}zz/" if damage == "token" else f"/accounts/reset/Mg/{token}/"
    response = client.get(tampered)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "This link is not valid" in response.text
    # The set-password form cannot be reached without a good token in the session either.
    posted = client.post(f"/accounts/reset/{uid}/set-password/", {"new_password1": NEW, "new_password2": NEW})
    assert posted.status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_an_expired_link_is_refused(client, alice, smtp_server, settings, monkeypatch):
    ask(client, "alice@example.com")
    path = reset_path(smtp_server)
    real_now = PasswordResetTokenGenerator._now
    later = timedelta(seconds=settings.PASSWORD_RESET_TIMEOUT + 1)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: real_now(self) + later)
    response = client.get(path)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_a_link_sent_before_the_password_changed_is_refused(client, alice, smtp_server):
    ask(client, "alice@example.com")
    path = reset_path(smtp_server)
    alice.set_password("changed-Meanwhile-789")
    alice.save()
    assert client.get(path).status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.check_password("changed-Meanwhile-789")


def test_a_weak_new_password_is_refused_and_the_link_still_works(client, alice, smtp_server):
    ask(client, "alice@example.com")
    form_url = client.get(reset_path(smtp_server))["Location"]
    weak = client.post(form_url, {"new_password1": "password", "new_password2": "password"})
    assert weak.status_code == HTTPStatus.OK
    assert "This password is too common." in weak.text
    alice.refresh_from_db()
    assert alice.check_password(OLD)
    assert client.post(form_url, {"new_password1": NEW, "new_password2": NEW}).status_code == HTTPStatus.FOUND


def test_requests_are_limited_per_address_and_per_client(client, alice, smtp_server, settings):
    assert settings.LOCKOUT_MAX_FAILURES == 5
    for n in range(5):
        assert ask(client, "alice@example.com", REMOTE_ADDR=f"10.0.0.{n}").status_code == HTTPStatus.FOUND
    smtp_server.wait_for(5)
    # The address's budget is spent, from any client, in any letter case; no sixth message.
    limited = ask(client, "ALICE@example.com", REMOTE_ADDR="10.0.0.99")
    assert limited.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Try again in 15 minutes." in limited.text
    assert 0 < int(limited["Retry-After"]) <= settings.LOCKOUT_SECONDS
    assert len(smtp_server.messages) == 5
    assert LoginFailure.objects.get(key="reset:alice@example.com").count == 5

    # One client asking for many addresses is stopped too, whether or not they exist.
    for n in range(5):
        ask(client, f"someone{n}@example.com", REMOTE_ADDR="10.6.6.6")
    assert ask(client, "bob@example.com", REMOTE_ADDR="10.6.6.6").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Log-in failures have budgets of their own: these requests did not lock alice's log-in.
    assert client.post(reverse("users:login"), {"username": "alice", "password": OLD}).status_code == HTTPStatus.FOUND


def test_the_client_budget_counts_the_address_behind_the_trusted_proxy(client, smtp_server, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        ask(client, f"x{n}@example.com", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7")
    rotated = ask(client, "y@example.com", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7")
    assert rotated.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert LoginFailure.objects.get(key="reset-addr:203.0.113.7").count == 5


@pytest.fixture
def issued_tokens(monkeypatch):
    """Every reset token made, to prove none reaches the log."""
    made = []
    real = PasswordResetTokenGenerator.make_token

    def spy(self, user):
        made.append(real(self, user))
        return made[-1]

    monkeypatch.setattr(PasswordResetTokenGenerator, "make_token", spy)
    return made


def test_a_mail_server_that_is_down_gives_one_clear_answer_for_every_address(
    client, alice, mail_server_down, caplog, issued_tokens
):
    before = list(User.objects.values_list("pk", "password", "email"))
    with caplog.at_level(logging.ERROR, logger="users.accounts"):
        known = ask(client, "alice@example.com")
        unknown = ask(client, "nobody@example.com")
    for answer in (known, unknown):
        assert answer.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "We could not send the email" in answer.text
        assert "Nothing was changed" in answer.text
    assert list(User.objects.values_list("pk", "password", "email")) == before
    errors = [r.getMessage() for r in caplog.records if r.name == "users.accounts"]
    assert len(errors) == 2
    assert all("Could not send the password reset message" in e and "ConnectionRefusedError" in e for e in errors)
    assert issued_tokens == []  # refused before a link was even made


def test_a_server_that_refuses_the_message_is_logged_without_the_link(
    client, alice, smtp_server, caplog, issued_tokens
):
    smtp_server.refuse_with = "451 4.3.0 Try again later"
    with caplog.at_level(logging.INFO):
        response = ask(client, "alice@example.com")
    assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
    assert len(issued_tokens) == 1
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "SMTPDataError" in logged
    assert issued_tokens[0] not in logged
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_the_request_log_never_holds_a_working_link(client, alice, smtp_server, caplog):
    ask(client, "alice@example.com")
    path = reset_path(smtp_server)
    token = path.split("/")[4]
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="project.request"):
        client.get(path)
    lines = [r.getMessage() for r in caplog.records if r.name == "project.request"]
    assert lines[0].startswith("GET /accounts/reset/<uidb64>/<token>/ 302 ")
    assert token not in "\n".join(lines)


def test_the_forms_need_the_csrf_token(alice, smtp_server):
    browser = Client(enforce_csrf_checks=True)
    assert browser.post(RESET, {"email": "alice@example.com"}).status_code == HTTPStatus.FORBIDDEN
    page = browser.get(RESET)
    csrf = str(page.context["csrf_token"])
    assert f'name="csrfmiddlewaretoken" value="{csrf}"' in page.text
    sent = browser.post(RESET, {"email": "alice@example.com", "csrfmiddlewaretoken": csrf})
    assert sent.status_code == HTTPStatus.FOUND

    form_url = browser.get(reset_path(smtp_server))["Location"]
    new = {"new_password1": NEW, "new_password2": NEW}
    assert browser.post(form_url, new).status_code == HTTPStatus.FORBIDDEN
    alice.refresh_from_db()
    assert alice.check_password(OLD)
    csrf = str(browser.get(form_url).context["csrf_token"])
    assert browser.post(form_url, {**new, "csrfmiddlewaretoken": csrf}).status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_query_counts_of_the_reset_pages(client, alice, smtp_server, django_assert_num_queries):
    # Expect 0 queries: the form page for a visitor reads nothing.
    with django_assert_num_queries(0):
        assert client.get(RESET).status_code == HTTPStatus.OK
    # Expect 7 queries: * SAVEPOINT (the budgets' transaction, nested in the test's)
    # * lock the two request budgets (SELECT ... FOR UPDATE) * drop counts whose window
    # has passed * insert the address's count * insert the client's count * RELEASE SAVEPOINT
    # * the active users with this address (no session: the visitor has none)
    with django_assert_num_queries(7):
        ask(client, "alice@example.com")
    link = reset_path(smtp_server)
    # Expect 5 queries: * the user of the link * is the new session key free?
    # * SAVEPOINT * insert the session holding the token * RELEASE SAVEPOINT
    with django_assert_num_queries(5):
        form_url = client.get(link)["Location"]
    # Expect 2 queries: * the session (holding the token) * the user of the link
    with django_assert_num_queries(2):
        assert client.get(form_url).status_code == HTTPStatus.OK
    # Expect 1 query: * the session, for the navigation's "logged in?" (no user in it: no user query)
    with django_assert_num_queries(1):
        client.get(reverse("password_reset_done"))
