"""The lockout on the API's token endpoint: JSON 429 with Retry-After."""

from http import HTTPStatus

import pytest

from project.testing.api import detail_of
from users.models import LoginFailure, User

PASSWORD = "correct horse battery staple"


@pytest.fixture
def alice(db):
    return User.objects.create_user(username="alice", email="alice@example.com", password=PASSWORD)


def token(client, username, password, address="10.0.0.1", **headers):
    return client.post(
        "/api/auth/token/",
        {"username": username, "password": password},
        content_type="application/json",
        REMOTE_ADDR=address,
        headers=headers,
    )


def test_token_endpoint_locks_after_five_failures_with_a_json_429(client, alice, settings):
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        assert token(client, "alice", "wrong").status_code == HTTPStatus.BAD_REQUEST
    locked = token(client, "alice", PASSWORD)
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert locked["Content-Type"] == "application/json"
    assert detail_of(locked) == "Too many failed log-in attempts. Try again in 15 minutes."
    assert 0 < int(locked["Retry-After"]) <= settings.LOCKOUT_SECONDS
    assert "token" not in locked.json()


def test_token_endpoint_lock_spares_other_users_and_ignores_rotated_forwarded_for(client, alice, settings):
    User.objects.create_user(username="bob", email="bob@example.com", password=PASSWORD)
    settings.TRUSTED_PROXY_COUNT = 1
    for n in range(5):
        token(client, "alice", "wrong", address="10.0.0.254", x_forwarded_for=f"6.6.6.{n}, 198.51.100.4")
    rotated = token(client, "alice", PASSWORD, address="10.0.0.254", x_forwarded_for="7.7.7.7, 198.51.100.9")
    assert rotated.status_code == HTTPStatus.TOO_MANY_REQUESTS  # the username's budget is spent
    ok = token(client, "bob", PASSWORD, address="10.0.0.254", x_forwarded_for="198.51.100.9")
    assert ok.status_code == HTTPStatus.OK
    assert ok.json()["token"]
    assert LoginFailure.objects.get(key="addr:198.51.100.4").count == 5


def test_a_correct_password_before_the_limit_gets_the_token(client, alice):
    for _ in range(4):
        token(client, "alice", "wrong")
    response = token(client, "alice", PASSWORD)
    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["token"]) == 40
