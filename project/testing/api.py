"""Fixtures for the REST API tests: users A and B, staff, their clients.

Every test starts with an empty, process-local cache and throttle rates high
enough not to interfere; the throttling tests lower them on purpose.
"""

from __future__ import annotations

import os

import pytest
import redis
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.api import AnonThrottle, UserThrottle
from project.testing import unavailable
from users.models import User

PASSWORD = "correct-horse-battery-42"  # noqa: S105 (test accounts only)


@pytest.fixture(autouse=True)
def _api_isolation(settings, monkeypatch):
    # A fast hasher: PBKDF2's deliberate slowness is for attackers, not for tests.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tests"}}
    cache.clear()
    rates = {"anon": "100000/minute", "user": "100000/minute"}
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", rates)
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", rates)
    yield
    cache.clear()


def make_user(username: str, *, staff: bool = False, superuser: bool = False) -> User:
    return User.objects.create_user(
        username=username,
        email=f"{username}@example.com",
        password=PASSWORD,
        is_staff=staff or superuser,
        is_superuser=superuser,
    )


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def alice(db) -> User:
    return make_user("alice")


@pytest.fixture
def bob(db) -> User:
    return make_user("bob")


@pytest.fixture
def staff(db) -> User:
    return make_user("staffer", staff=True)


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


@pytest.fixture
def alice_client(alice) -> APIClient:
    return client_for(alice)


@pytest.fixture
def bob_client(bob) -> APIClient:
    return client_for(bob)


@pytest.fixture
def staff_client(staff) -> APIClient:
    return client_for(staff)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis database the tests may write to: ``TEST_REDIS_URL``, by default
    database 15 on 127.0.0.1:6379. Without one the test is skipped (failed under CI)."""
    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping()
    except redis.RedisError as exc:
        unavailable(f"no Redis answers at {url} ({exc}): start redis-server, or set TEST_REDIS_URL")
    return url


def error_of(response) -> dict:
    """The API's one error body (project/errors.py), checked for its shape."""
    body = response.json()
    shaped = set(body) in ({"detail", "code"}, {"detail", "code", "fields"})
    if not (shaped and isinstance(body["detail"], str) and isinstance(body["code"], str)):
        pytest.fail(f"not the API's error body: {body!r}")
    return body


def detail_of(response) -> str:
    return error_of(response)["detail"]


def field_errors(response) -> dict[str, list[str]]:
    """The messages per field of a 400 for invalid input."""
    body = error_of(response)
    if body["code"] != "invalid":
        pytest.fail(f"not an invalid-input error: {body!r}")
    return body["fields"]
