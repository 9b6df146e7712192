"""Changing one's password: the page (Django's view) and POST /api/auth/password/.
Both rotate the user's API token; other sessions end."""

from http import HTTPStatus

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.testing.api import field_errors
from project.tests.test_api_schema import SCHEMA
from users.models import LoginFailure, User

pytestmark = pytest.mark.django_db

OLD, NEW = "old-Password-123", "brand-New-pass-456"
PAGE = reverse("password_change")
API = "/api/auth/password/"


@pytest.fixture
def alice(db):
    return User.objects.create_user(username="alice", email="alice@example.com", password=OLD)


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def change(client, old=OLD, new=NEW, again=None):
    return client.post(PAGE, {"old_password": old, "new_password1": new, "new_password2": again or new})


def state(user):
    """What a failed change must leave as it was: the hash and the token."""
    user.refresh_from_db()
    return user.password, list(Token.objects.filter(user=user).values_list("key", flat=True))


# --- the page ---------------------------------------------------------------


def test_changing_the_password_rotates_the_token_and_ends_other_sessions(logged_in, alice):
    token = Token.objects.create(user=alice)
    elsewhere = Client()
    elsewhere.force_login(alice)
    response = change(logged_in)
    assert response["Location"] == reverse("password_change_done")
    assert "Your password is changed" in logged_in.get(response["Location"]).text
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    new_token = Token.objects.get(user=alice)
    assert new_token.key != token.key
    # This session stays logged in; the other one is over.
    assert logged_in.get(reverse("users:account")).status_code == HTTPStatus.OK
    assert elsewhere.get(reverse("users:account")).status_code == HTTPStatus.FOUND
    assert SESSION_KEY not in elsewhere.session
    old_api = APIClient(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert old_api.get("/api/users/me/").status_code == HTTPStatus.UNAUTHORIZED


def test_a_user_without_a_token_gets_none_made(logged_in, alice):
    change(logged_in)
    assert not Token.objects.filter(user=alice).exists()


@pytest.mark.parametrize(
    ("old", "new", "again", "field", "message"),
    [
        ("wrong-Password", NEW, None, "old_password", "Your old password was entered incorrectly."),
        (OLD, "password", None, "new_password2", "This password is too common."),
        (OLD, NEW, "another-Pass-789", "new_password2", "The two password fields didn"),
    ],
)
def test_refused_changes_say_why_and_change_nothing(logged_in, alice, old, new, again, field, message):
    Token.objects.create(user=alice)
    before = state(alice)
    response = change(logged_in, old, new, again)
    assert response.status_code == HTTPStatus.OK
    assert message in " ".join(response.context["form"].errors[field])
    assert state(alice) == before


def test_wrong_old_passwords_count_towards_the_log_in_lockout(logged_in, alice, settings):
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        assert change(logged_in, old="guess-Wrong-1").status_code == HTTPStatus.OK
    assert LoginFailure.objects.get(key="user:alice").count == settings.LOCKOUT_MAX_FAILURES
    locked = change(logged_in)  # even the right one, while locked
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_the_page_needs_a_log_in(client):
    response = client.get(PAGE)
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("users:login"))


def test_the_form_needs_the_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    data = {"old_password": OLD, "new_password1": NEW, "new_password2": NEW}
    assert browser.post(PAGE, data).status_code == HTTPStatus.FORBIDDEN
    alice.refresh_from_db()
    assert alice.check_password(OLD)
    csrf = str(browser.get(PAGE).context["csrf_token"])
    assert browser.post(PAGE, {**data, "csrfmiddlewaretoken": csrf}).status_code == HTTPStatus.FOUND
    alice.refresh_from_db()
    assert alice.check_password(NEW)


def test_query_count_of_the_page(logged_in, django_assert_num_queries):
    # Expect 2 queries: * the session * the logged-in user
    with django_assert_num_queries(2):
        assert logged_in.get(PAGE).status_code == HTTPStatus.OK


# --- the API ----------------------------------------------------------------


def token_client(user):
    token = Token.objects.create(user=user)
    return APIClient(HTTP_AUTHORIZATION=f"Token {token.key}"), token


def test_the_api_answers_the_new_token_and_refuses_the_old_one(alice):
    api, token = token_client(alice)
    response = api.post(API, {"old_password": OLD, "new_password": NEW}, format="json")
    assert response.status_code == HTTPStatus.OK
    new_key = response.json()["token"]
    assert response.json() == {"token": new_key}
    assert new_key != token.key
    assert Token.objects.get(user=alice).key == new_key
    alice.refresh_from_db()
    assert alice.check_password(NEW)
    assert api.get("/api/users/me/").status_code == HTTPStatus.UNAUTHORIZED
    fresh = APIClient(HTTP_AUTHORIZATION=f"Token {new_key}")
    assert fresh.get("/api/users/me/").json()["username"] == "alice"


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"old_password": "wrong", "new_password": NEW},
         {"old_password": ["Your old password was entered incorrectly."]}),
        ({"old_password": OLD, "new_password": "12345678"}, {"new_password": ["This password is too common.",
                                                                              "This password is entirely numeric."]}),
        ({"old_password": OLD}, {"new_password": ["This field is required."]}),
        ({"old_password": OLD, "new_password": "x" * 129}, {"new_password": [
            "Ensure this field has no more than 128 characters."]}),
    ],
)  # fmt: skip
def test_the_api_refuses_bad_input_with_field_errors_and_changes_nothing(alice, payload, errors):
    api, _ = token_client(alice)
    before = state(alice)
    response = api.post(API, payload, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field_errors(response) == errors
    assert state(alice) == before


def test_the_api_needs_authentication(alice):
    response = APIClient().post(API, {"old_password": OLD, "new_password": NEW}, format="json")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_the_api_lockout_answers_429_json(alice, settings):
    api, _ = token_client(alice)
    for _ in range(settings.LOCKOUT_MAX_FAILURES):
        api.post(API, {"old_password": "wrong", "new_password": NEW}, format="json")
    locked = api.post(API, {"old_password": OLD, "new_password": NEW}, format="json")
    assert locked.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert locked.json()["detail"].startswith("Too many failed log-in attempts.")
    alice.refresh_from_db()
    assert alice.check_password(OLD)


def test_a_browser_session_needs_the_csrf_token_and_stays_logged_in(alice):
    browser = APIClient(enforce_csrf_checks=True)
    browser.force_login(alice)
    payload = {"old_password": OLD, "new_password": NEW}
    refused = browser.post(API, payload, format="json")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "CSRF" in refused.json()["detail"]
    alice.refresh_from_db()
    assert alice.check_password(OLD)
    token = str(browser.get(reverse("password_change")).context["csrf_token"])
    accepted = browser.post(API, payload, format="json", HTTP_X_CSRFTOKEN=token)
    assert accepted.status_code == HTTPStatus.OK
    assert browser.get("/api/users/me/").status_code == HTTPStatus.OK  # update_session_auth_hash kept it


def test_the_endpoint_is_in_the_schema():
    operation = SCHEMA["paths"]["/api/auth/password/"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PasswordChangeRequest"}
    assert set(SCHEMA["components"]["schemas"]["PasswordChangeRequest"]["required"]) == {
        "old_password",
        "new_password",
    }
    answer = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert SCHEMA["components"]["schemas"][answer["$ref"].split("/")[-1]]["properties"] == {
        "token": {"type": "string", "readOnly": True}
    }
    assert {"400", "401", "429"} <= set(operation["responses"])
