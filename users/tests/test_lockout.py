"""Brute-force lockout on the admin log-in and the site's own log-in form
(the token endpoint's tests live with the API)."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.contrib.auth import SESSION_KEY, authenticate
from django.urls import reverse
from django.utils import timezone

from users.models import LoginFailure, User

PASSWORD = "correct horse battery staple"


@pytest.fixture
def staff(db):
    return User.objects.create_user(username="alice", email="alice@example.com", password=PASSWORD, is_staff=True)


@pytest.fixture
def other_staff(db):
    return User.objects.create_user(username="bob", email="bob@example.com", password=PASSWORD, is_staff=True)


def admin_login(client, username, password, address="10.0.0.1", **headers):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        headers=headers,
    )


def test_five_failures_lock_the_admin_login_even_for_the_right_password(client, staff, settings):
    assert settings.LOCKOUT_MAX_FAILURES == 5
    for _ in range(5):
        response = admin_login(client, "alice", "wrong")
        assert response.status_code == HTTPStatus.OK
        assert "Please enter the correct username and password" in response.text
    locked = admin_login(client, "alice", PASSWORD)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "Too many failed log-in attempts. Try again in 15 minutes." in locked.text
    assert 0 < int(locked["Retry-After"]) <= settings.LOCKOUT_SECONDS
    assert "_auth_user_id" not in client.session
    # The lockout page is the admin's own look.
    assert 'id="site-name"' in locked.text


def test_the_lock_is_per_username_and_other_users_can_still_log_in(client, staff, other_staff):
    for _ in range(5):
        admin_login(client, "ALICE", "wrong", address="10.0.0.1")
    # Same username from another address: still locked (the username's budget is spent).
    assert admin_login(client, "alice", PASSWORD, address="10.9.9.9").status_code == HTTPStatus.TOO_MANY_REQUESTS
    # Another user from another address is not affected.
    response = admin_login(client, "bob", PASSWORD, address="10.0.0.2")
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == "/admin/"


def test_the_address_budget_stops_spraying_many_usernames(client, staff, other_staff):
    for n in range(5):
        admin_login(client, f"nobody{n}", "wrong", address="10.6.6.6")
    # A real account, from the spraying address: refused; from elsewhere: fine.
    assert admin_login(client, "bob", PASSWORD, address="10.6.6.6").status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert admin_login(client, "bob", PASSWORD, address="10.0.0.3").status_code == HTTPStatus.FOUND


def test_rotating_x_forwarded_for_does_not_reset_the_count(client, staff, other_staff, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    # Behind one proxy at 10.0.0.254: the proxy appends the real client (203.0.113.7);
    # the attacker controls only what is to the left of it.
    for n in range(5):
        admin_login(client, f"user{n}", "wrong", address="10.0.0.254", x_forwarded_for=f"1.2.3.{n}, 203.0.113.7")
    rotated = admin_login(client, "bob", PASSWORD, address="10.0.0.254", x_forwarded_for="9.9.9.9, 203.0.113.7")
    assert rotated.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert set(LoginFailure.objects.filter(key__startswith="addr:").values_list("key", flat=True)) == {
        "addr:203.0.113.7"
    }


def test_without_trusted_proxies_the_header_is_ignored(client, staff, settings):
    settings.TRUSTED_PROXY_COUNT = 0
    for n in range(5):
        admin_login(client, f"user{n}", "wrong", address="10.0.0.7", x_forwarded_for=f"1.2.3.{n}")
    assert LoginFailure.objects.get(key="addr:10.0.0.7").count == 5
    assert not LoginFailure.objects.filter(key__startswith="addr:1.2.3.").exists()


def test_the_lock_ends_after_the_configured_time_and_success_clears_the_count(client, staff):
    for _ in range(5):
        admin_login(client, "alice", "wrong")
    assert admin_login(client, "alice", PASSWORD).status_code == HTTPStatus.TOO_MANY_REQUESTS
    LoginFailure.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert admin_login(client, "alice", PASSWORD).status_code == HTTPStatus.FOUND
    assert not LoginFailure.objects.filter(key="user:alice").exists()


def test_fewer_failures_than_the_limit_then_success_is_fine(client, staff):
    for _ in range(4):
        admin_login(client, "alice", "wrong")
    assert admin_login(client, "alice", PASSWORD).status_code == HTTPStatus.FOUND
    assert LoginFailure.objects.get(key="addr:10.0.0.1").count == 4  # the success gave its attempt back


def test_authenticate_without_a_request_still_counts_the_username(staff):
    for _ in range(5):
        assert authenticate(username="alice", password="wrong") is None
    assert authenticate(username="alice", password=PASSWORD) is None
    assert LoginFailure.objects.get(key="user:alice").count == 5


def test_counts_whose_window_has_passed_are_removed_when_new_ones_arrive(client, staff):
    admin_login(client, "alice", "wrong", address="10.0.0.1")
    LoginFailure.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    admin_login(client, "someone", "wrong", address="10.0.0.2")
    assert set(LoginFailure.objects.values_list("key", "count")) == {("user:someone", 1), ("addr:10.0.0.2", 1)}


def site_login(client, username, password, address="10.0.0.1"):
    return client.post(reverse("users:login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_five_failures_lock_the_site_login_with_its_own_429_page(client, staff, other_staff, settings):
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        response = site_login(client, "alice", "wrong")
        assert response.status_code == HTTPStatus.OK
        assert "Please enter a correct username and password." in response.text
    locked = site_login(client, "alice", PASSWORD)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert "registration/lockout.html" in [t.name for t in locked.templates]
    assert 'name="password"' not in locked.text  # the lockout page, not the form again
    assert "<p>Too many failed log-in attempts. Try again in 15 minutes.</p>" in locked.text
    assert 0 < int(locked["Retry-After"]) <= settings.LOCKOUT_SECONDS
    # Refused without logging in, and the refusal itself counted nothing more.
    assert SESSION_KEY not in client.session
    staff.refresh_from_db()
    assert staff.last_login is None
    assert set(LoginFailure.objects.values_list("key", "count")) == {("user:alice", 5), ("addr:10.0.0.1", 5)}
    # Another account from another address logs in as usual.
    assert site_login(client, "bob", PASSWORD, address="10.0.0.2")["Location"] == reverse("posts:home")
    assert client.session[SESSION_KEY] == str(other_staff.pk)
