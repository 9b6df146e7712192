"""Changing one's email address: a link to the new address, a notice to the old one."""

import logging
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest
from django.core import signing
from django.test import Client
from django.urls import reverse

from project.testing.mail import body, link_in
from users.accounts import email_change_token
from users.models import LoginFailure, User

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Long-12345"
PAGE = reverse("users:email_change")


@pytest.fixture
def alice(db):
    return User.objects.create_user(username="alice", email="alice@example.com", password=PASSWORD)


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def ask(client, email, password=PASSWORD):
    return client.post(PAGE, {"email": email, "current_password": password})


CONFIRM = reverse("users:email_change_confirm")


def open_link(client, token_or_path):
    """Follow a link: its token moves into the session; the confirm page is next."""
    path = token_or_path if token_or_path.startswith("/") else reverse("users:email_change_link", args=[token_or_path])
    response = client.get(path)
    assert response.status_code == HTTPStatus.FOUND, response.status_code
    assert response["Location"] == CONFIRM
    return CONFIRM


def emails():
    return list(User.objects.order_by("pk").values_list("username", "email"))


def test_the_address_changes_only_when_the_link_is_followed_and_the_old_one_is_told(logged_in, alice, smtp_server):
    response = ask(logged_in, "new@example.com")
    assert response["Location"] == reverse("users:account")
    assert (
        "We sent a link to new@example.com. Your address stays alice@example.com"
        in logged_in.get(response["Location"]).text
    )
    (message,) = smtp_server.wait_for(1)
    assert smtp_server.envelopes[0][1] == ["new@example.com"]
    assert message["Subject"] == "Confirm your new email address at testserver"
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"

    path = open_link(logged_in, urlsplit(link_in(message)).path)
    # Opening the link (as a mail scanner would) changes nothing: it asks.
    page = logged_in.get(path)
    assert page.status_code == HTTPStatus.OK
    assert "changes from <strong>alice@example.com</strong> to <strong>new@example.com</strong>" in page.text
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"

    done = logged_in.post(path)
    assert done["Location"] == reverse("users:account")
    alice.refresh_from_db()
    assert alice.email == "new@example.com"
    (_, notice) = smtp_server.wait_for(2)
    assert smtp_server.envelopes[1][1] == ["alice@example.com"]
    assert "changed from alice@example.com to new@example.com" in body(notice)

    # Used once.
    again = logged_in.post(path)
    assert again.status_code == HTTPStatus.BAD_REQUEST
    assert "This link is not valid" in again.text


def test_the_link_works_without_a_log_in(client, alice, smtp_server):
    token = email_change_token(alice, "new@example.com")
    response = client.post(open_link(client, token))
    assert response["Location"] == reverse("users:login")
    alice.refresh_from_db()
    assert alice.email == "new@example.com"


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("BOB@Example.com", PASSWORD, "email", "A user with that email address already exists."),
        ("ALICE@example.com", PASSWORD, "email", "That is already your address."),
        ("not-an-address", PASSWORD, "email", "Enter a valid email address."),
        ("new@example.com", "wrong-Password", "current_password", "Your password was entered incorrectly."),
    ],
)
def test_refused_requests_say_why_and_send_nothing(logged_in, alice, smtp_server, email, password, field, message):
    User.objects.create_user(username="bob", email="bob@example.com", password=PASSWORD)
    before = emails()
    response = ask(logged_in, email, password)
    assert response.status_code == HTTPStatus.OK
    assert message in " ".join(response.context["form"].errors[field])
    assert smtp_server.messages == []
    assert emails() == before


def test_wrong_passwords_count_towards_the_log_in_lockout(logged_in, alice, smtp_server, settings):
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        ask(logged_in, "new@example.com", "wrong-Password")
    assert ask(logged_in, "new@example.com").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert LoginFailure.objects.get(key="user:alice").count == settings.LOCKOUT_MAX_FAILURES
    assert smtp_server.messages == []


def test_an_address_taken_after_the_link_was_sent_is_refused_at_the_second_step(logged_in, alice, smtp_server):
    ask(logged_in, "new@example.com")
    path = open_link(logged_in, urlsplit(link_in(smtp_server.wait_for(1)[0])).path)
    User.objects.create_user(username="carol", email="NEW@example.com", password=PASSWORD)
    before = emails()
    for method in (logged_in.get, logged_in.post):
        response = method(path)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "Another account uses <strong>new@example.com</strong> now" in response.text
    assert emails() == before
    assert len(smtp_server.messages) == 1  # no notice either


def test_the_unique_index_decides_a_race_at_the_second_step(logged_in, alice, smtp_server, monkeypatch):
    # The address is free when checked, then taken before the write.
    from users import account_views

    token = email_change_token(alice, "new@example.com")
    checks = iter([False, False])
    monkeypatch.setattr(account_views, "email_taken", lambda *a, **k: next(checks))
    monkeypatch.setattr("users.services._taken_by_other", lambda *a: False)
    User.objects.create_user(username="carol", email="new@EXAMPLE.com", password=PASSWORD)
    before = emails()
    response = logged_in.post(open_link(logged_in, token))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Another account uses" in response.text
    assert emails() == before


def tampered(token):
    return token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")


@pytest.mark.parametrize(
    "make_path",
    [
        pytest.param(lambda user: tampered(email_change_token(user, "new@example.com")), id="tampered"),
        pytest.param(lambda user: "not-a-token", id="garbage"),
        pytest.param(
            lambda user: signing.dumps([user.pk, "new@example.com", "0" * 32], salt="users.accounts.email_change"),
            id="forged-state",
        ),
    ],
)
def test_bad_links_are_refused_and_change_nothing(logged_in, alice, make_path):
    path = reverse("users:email_change_link", args=[make_path(alice)])
    for method in (logged_in.get, logged_in.post):
        response = method(path)
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert "This link is not valid" in response.text
    # Nor does the confirm page take a change without a good link first.
    assert logged_in.post(CONFIRM).status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_an_expired_link_is_refused(logged_in, alice, settings, monkeypatch):
    token = email_change_token(alice, "new@example.com")
    path = open_link(logged_in, token)  # good when opened, expired when confirmed
    real_time = signing.time.time
    monkeypatch.setattr(signing.time, "time", lambda: real_time() + settings.PASSWORD_RESET_TIMEOUT + 5)
    assert logged_in.post(path).status_code == HTTPStatus.BAD_REQUEST
    assert logged_in.get(reverse("users:email_change_link", args=[token])).status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_a_link_sent_before_the_password_changed_is_refused(logged_in, alice):
    token = email_change_token(alice, "new@example.com")
    alice.set_password("changed-Meanwhile-789")
    alice.save()
    assert logged_in.get(reverse("users:email_change_link", args=[token])).status_code == HTTPStatus.BAD_REQUEST
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_a_mail_server_that_is_down_changes_nothing_at_either_step(logged_in, alice, mail_server_down, caplog):
    with caplog.at_level(logging.ERROR, logger="users.accounts"):
        first = ask(logged_in, "new@example.com")
        token = email_change_token(alice, "new@example.com")
        second = logged_in.post(open_link(logged_in, token))
    for response in (first, second):
        assert response.status_code == HTTPStatus.SERVICE_UNAVAILABLE
        assert "Nothing was changed" in response.text
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert f"Could not send the email change message (user {alice.pk}): ConnectionRefusedError" in logged
    assert token not in logged


def test_the_forms_need_the_csrf_token(alice, smtp_server):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    data = {"email": "new@example.com", "current_password": PASSWORD}
    assert browser.post(PAGE, data).status_code == HTTPStatus.FORBIDDEN
    assert smtp_server.messages == []
    csrf = str(browser.get(PAGE).context["csrf_token"])
    assert browser.post(PAGE, {**data, "csrfmiddlewaretoken": csrf}).status_code == HTTPStatus.FOUND

    path = open_link(browser, urlsplit(link_in(smtp_server.wait_for(1)[0])).path)
    assert browser.post(path).status_code == HTTPStatus.FORBIDDEN
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"
    csrf = str(browser.get(path).context["csrf_token"])
    assert browser.post(path, {"csrfmiddlewaretoken": csrf}).status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.email == "new@example.com"


def test_the_confirm_link_is_not_in_the_request_log(client, alice, caplog):
    token = email_change_token(alice, "new@example.com")
    with caplog.at_level(logging.INFO, logger="project.request"):
        client.get(reverse("users:email_change_link", args=[token]))
    (line,) = [r.getMessage() for r in caplog.records if r.name == "project.request"]
    assert line.startswith("GET /accounts/email/confirm/<str:token>/ 302 ")
    assert token not in "\n".join(r.getMessage() for r in caplog.records)


def test_query_counts(logged_in, alice, django_assert_num_queries):
    # Expect 2 queries: * the session * the logged-in user
    with django_assert_num_queries(2):
        assert logged_in.get(PAGE).status_code == HTTPStatus.OK
    token = email_change_token(alice, "new@example.com")
    # Expect 6 queries: * the user of the link * the session * SAVEPOINT
    # * the session saved with the token * RELEASE SAVEPOINT * the logged-in user (the request log's user id)
    with django_assert_num_queries(6):
        open_link(logged_in, token)
    # Expect 4 queries: * the session (holding the token) * the user of the token
    # * is the new address taken (LOWER(email) = LOWER(...)) * the logged-in user (navigation)
    with django_assert_num_queries(4):
        assert logged_in.get(CONFIRM).status_code == HTTPStatus.OK
