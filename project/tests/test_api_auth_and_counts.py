"""Token authentication refuses a token or a user the moment it goes, and list counts follow every write."""

from http import HTTPStatus

import pytest
from rest_framework import authentication as drf_authentication
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from project.testing.api import client_for, detail_of, make_user
from users.authentication import TokenAuthentication

pytestmark = pytest.mark.django_db


def test_deleted_token_and_deactivated_user_are_refused_on_the_next_request(alice):
    client = client_for(alice)
    assert client.get("/api/users/me/").status_code == HTTPStatus.OK
    alice.is_active = False
    alice.save()
    response = client.get("/api/users/me/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert detail_of(response) == "User inactive or deleted."
    alice.is_active = True
    alice.save()
    assert client.get("/api/users/me/").status_code == HTTPStatus.OK
    Token.objects.filter(user=alice).delete()
    response = client.get("/api/users/me/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert detail_of(response) == "Invalid token."


def test_unknown_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/posts/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert detail_of(response) == "Invalid token."


def test_the_lookup_gives_what_drfs_own_gives_in_one_query(alice, django_assert_num_queries):
    alice.last_login = alice.date_joined
    alice.save()
    key = Token.objects.create(user=alice).key
    # Another user and token, made after alice's: each key must find its own user.
    bob_key = Token.objects.create(user=make_user("bob")).key
    assert TokenAuthentication().authenticate_credentials(bob_key)[0].username == "bob"
    with django_assert_num_queries(1):
        user, token = TokenAuthentication().authenticate_credentials(key)
        assert token.user is user
    drf_user, drf_token = drf_authentication.TokenAuthentication().authenticate_credentials(key)
    fields = [field.attname for field in type(user)._meta.concrete_fields]
    # Every column, converted as the ORM converts it (booleans, aware datetimes, counters).
    assert [getattr(user, name) for name in fields] == [getattr(drf_user, name) for name in fields]
    assert (token.pk, token.user_id, token.created) == (drf_token.pk, drf_token.user_id, drf_token.created)
    # A loaded instance, as the ORM's: saving it updates its row rather than inserting one.
    assert not user._state.adding
    assert not token._state.adding


def test_staff_token_sees_email_through_the_sql_lookup(alice):
    staff = make_user("root", staff=True)
    body = client_for(staff).get(f"/api/users/{alice.pk}/").json()
    assert body["email"] == alice.email


def test_list_count_follows_every_write(alice):
    client = client_for(alice)
    assert client.get("/api/posts/").json()["count"] == 0
    created = client.post("/api/posts/", {"title": "a", "body": "b"}, format="json").json()
    assert client.get("/api/posts/").json()["count"] == 1
    assert client.delete(f"/api/posts/{created['id']}/").status_code == HTTPStatus.NO_CONTENT
    assert client.get("/api/posts/").json()["count"] == 0
    users_before = client.get("/api/users/").json()["count"]
    make_user("carol")
    assert client.get("/api/users/").json()["count"] == users_before + 1
