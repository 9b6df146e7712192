"""The list requests' hand-written shortcuts answer exactly what the ORM would, and stay fresh."""

from http import HTTPStatus

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from posts.models import Post
from posts.services import post_create
from project.api import TokenAuthentication, whole_table_count
from project.testing.api import client_for, make_user
from users.models import User

pytestmark = pytest.mark.django_db


def test_token_lookup_loads_the_same_user_and_token_as_the_orm(alice):
    alice.last_login = alice.date_joined
    alice.save()
    token = Token.objects.create(user=alice)
    user, auth = TokenAuthentication().authenticate_credentials(token.key)
    expected = User.objects.get(pk=alice.pk)
    for field in User._meta.concrete_fields:
        got, want = getattr(user, field.attname), getattr(expected, field.attname)
        assert got == want, field.name
        assert type(got) is type(want), field.name
    assert user.date_joined.tzinfo is not None
    assert user.is_active is True
    assert user.is_staff is False
    assert (auth.key, auth.user_id, auth.created) == (token.key, alice.pk, Token.objects.get(pk=token.pk).created)
    assert auth.user is user
    assert user._state.db == "default"
    assert not user._state.adding


def test_deleted_token_and_deactivated_user_are_refused_on_the_next_request(alice):
    client = client_for(alice)
    assert client.get("/api/users/me/").status_code == HTTPStatus.OK
    alice.is_active = False
    alice.save()
    response = client.get("/api/users/me/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": "User inactive or deleted."}
    alice.is_active = True
    alice.save()
    assert client.get("/api/users/me/").status_code == HTTPStatus.OK
    Token.objects.filter(user=alice).delete()
    response = client.get("/api/users/me/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": "Invalid token."}


def test_unknown_token_is_refused():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    response = client.get("/api/posts/")
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": "Invalid token."}


def test_staff_token_sees_email_through_the_sql_lookup(alice):
    staff = make_user("root", staff=True)
    body = client_for(staff).get(f"/api/users/{alice.pk}/").json()
    assert body["email"] == alice.email


def test_whole_table_count_only_for_unfiltered_querysets(alice, bob):
    for i in range(3):
        post_create(author=alice if i else bob, title=f"t{i}", body="b")
    everything = Post.objects.with_author().newest_first()
    assert whole_table_count(everything) == 3
    assert whole_table_count(User.objects.with_post_counts().order_by("id")) == User.objects.count()
    assert whole_table_count(everything.filter(author=alice)) is None
    assert whole_table_count(everything.distinct()) is None
    assert whole_table_count(everything[:1]) is None


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
