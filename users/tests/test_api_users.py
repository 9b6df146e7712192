from http import HTTPStatus

import orjson
import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from posts.services import post_create
from project.api import ORJSONRenderer
from project.testing.api import PASSWORD, client_for, detail_of, field_errors, make_user
from users.api import LIST_VALUES, UserSerializer
from users.models import User

pytestmark = pytest.mark.django_db


def user_json(user: User, *, email: bool, post_count: int = 0) -> dict:
    user.refresh_from_db()
    body = {"id": user.pk, "username": user.username}
    if email:
        body["email"] = user.email
    body["date_joined"] = user.date_joined.isoformat().replace("+00:00", "Z")
    body["post_count"] = post_count
    return body


def test_list_shows_post_counts_and_email_only_to_the_owner_and_staff(anon_client, alice_client, staff_client):
    alice, staff = User.objects.get(username="alice"), User.objects.get(username="staffer")
    post_create(author=alice, title="t", body="b")
    post_create(author=alice, title="t2", body="b")
    anon = anon_client.get("/api/users/")
    assert anon.status_code == HTTPStatus.OK
    assert anon.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [user_json(alice, email=False, post_count=2), user_json(staff, email=False)],
    }
    assert alice_client.get("/api/users/").json()["results"] == [
        user_json(alice, email=True, post_count=2),
        user_json(staff, email=False),
    ]
    assert staff_client.get("/api/users/").json()["results"] == [
        user_json(alice, email=True, post_count=2),
        user_json(staff, email=True),
    ]


@pytest.mark.parametrize("viewer", ["anon", "alice", "staff"])
def test_list_rows_and_single_users_are_one_shape(viewer, alice, bob, staff):
    # Lists serialize values() rows, single users model instances: one serializer, one output.
    post_create(author=bob, title="t", body="b")
    request = Request(APIRequestFactory().get("/api/users/"))
    request.user = {"anon": AnonymousUser(), "alice": alice, "staff": staff}[viewer]
    users = User.objects.order_by("id")
    from_instances = UserSerializer(users, many=True, context={"request": request}).data
    from_rows = UserSerializer(list(users.values(*LIST_VALUES)), many=True, context={"request": request}).data
    renderer = ORJSONRenderer()
    expected = [
        user_json(user, email=viewer == "staff" or user == request.user, post_count=int(user == bob)) for user in users
    ]
    assert orjson.loads(renderer.render(from_rows)) == expected
    assert orjson.loads(renderer.render(from_instances)) == expected


def test_search_by_username(anon_client, alice, bob):
    response = anon_client.get("/api/users/?search=LIC")
    assert [u["username"] for u in response.json()["results"]] == ["alice"]
    response = anon_client.get("/api/users/?search=a%00")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(field_errors(response)) == ["search"]


def test_user_list_query_count_is_pinned(django_assert_num_queries, anon_client, alice_client):
    for i in range(30):
        user = make_user(f"user{i:02d}")
        post_create(author=user, title="t", body="b")
    # Expect 3 queries: * the data version * COUNT(*) of users * the page (post_count is a column)
    with django_assert_num_queries(3):
        assert len(anon_client.get("/api/users/").json()["results"]) == 20
    # Expect 4 queries: * the token and its user * the data version * COUNT(*) * the page
    with django_assert_num_queries(4):
        assert len(alice_client.get("/api/users/?page=2").json()["results"]) == 11
    # Expect 2 queries: * the data version * the page (cursor, ordered by id)
    with django_assert_num_queries(2):
        assert len(anon_client.get("/api/users/?cursor=").json()["results"]) == 20
    # The same pages again, from the page cache: Expect 1 query: * the data version
    with django_assert_num_queries(1):
        assert len(anon_client.get("/api/users/").json()["results"]) == 20
    # Expect 2 queries: * the token and its user * the data version
    with django_assert_num_queries(2):
        assert len(alice_client.get("/api/users/?page=2").json()["results"]) == 11


def test_sign_up_hashes_the_password_and_ignores_privilege_fields(anon_client):
    response = anon_client.post(
        "/api/users/",
        {
            "username": "newbie",
            "email": "Newbie@EXAMPLE.com",
            "password": PASSWORD,
            "is_staff": True,
            "is_superuser": True,
            "groups": [1],
        },
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    user = User.objects.get(username="newbie")
    assert not user.is_staff
    assert not user.is_superuser
    assert user.check_password(PASSWORD)
    assert PASSWORD not in user.password
    # The new account is not logged in: the answer shows no email.
    assert response.json() == user_json(user, email=False)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"username": "ALICE", "email": "x@example.com", "password": PASSWORD}, "username"),
        ({"username": "x", "email": "ALICE@example.com", "password": PASSWORD}, "email"),
        ({"username": "x", "email": "x@example.com", "password": "123"}, "password"),
        ({"username": "x", "email": "not-an-email", "password": PASSWORD}, "email"),
        ({"username": "bad name!", "email": "x@example.com", "password": PASSWORD}, "username"),
        ({"username": "x" * 151, "email": "x@example.com", "password": PASSWORD}, "username"),
        ({"username": "a\x00", "email": "x@example.com", "password": PASSWORD}, "username"),
        ({"username": 5, "email": ["x"], "password": PASSWORD}, "email"),
    ],
)
def test_bad_sign_ups_are_a_400_and_create_nothing(anon_client, alice, payload, field):
    response = anon_client.post("/api/users/", payload, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in field_errors(response)
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]


def test_me_shows_the_email(alice_client, alice, anon_client, django_assert_num_queries):
    # Expect 1 query: * the token and its user (the answer is that user)
    with django_assert_num_queries(1):
        response = alice_client.get("/api/users/me/")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == user_json(alice, email=True)
    assert anon_client.get("/api/users/me/").status_code == HTTPStatus.UNAUTHORIZED


def test_update_yourself(alice_client, alice):
    response = alice_client.patch(
        f"/api/users/{alice.pk}/", {"email": "new@example.com", "is_staff": True, "password": "another-good-one-77"}
    )
    assert response.status_code == HTTPStatus.OK
    alice.refresh_from_db()
    assert alice.email == "new@example.com"
    assert not alice.is_staff
    assert alice.check_password("another-good-one-77")
    assert response.json() == user_json(alice, email=True)


def test_update_to_a_taken_name_is_a_400_and_changes_nothing(alice_client, alice, bob):
    response = alice_client.patch(f"/api/users/{alice.pk}/", {"username": "BOB", "email": "z@example.com"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field_errors(response) == {"username": ["A user with that username already exists."]}
    alice.refresh_from_db()
    assert (alice.username, alice.email) == ("alice", "alice@example.com")


USER_MATRIX = [
    # (who, method, target, expected status)
    ("anon", "get", "alice", HTTPStatus.OK),
    ("anon", "patch", "alice", HTTPStatus.UNAUTHORIZED),
    ("anon", "put", "alice", HTTPStatus.UNAUTHORIZED),
    ("anon", "delete", "alice", HTTPStatus.UNAUTHORIZED),
    ("alice", "get", "alice", HTTPStatus.OK),
    ("alice", "patch", "alice", HTTPStatus.OK),
    ("alice", "put", "alice", HTTPStatus.OK),
    ("alice", "delete", "alice", HTTPStatus.FORBIDDEN),
    ("bob", "get", "alice", HTTPStatus.OK),
    ("bob", "patch", "alice", HTTPStatus.FORBIDDEN),
    ("bob", "put", "alice", HTTPStatus.FORBIDDEN),
    ("bob", "delete", "alice", HTTPStatus.FORBIDDEN),
    ("staff", "get", "alice", HTTPStatus.OK),
    ("staff", "patch", "alice", HTTPStatus.FORBIDDEN),
    ("staff", "put", "alice", HTTPStatus.FORBIDDEN),
    ("staff", "delete", "alice", HTTPStatus.NO_CONTENT),
    ("staff", "delete", "root", HTTPStatus.FORBIDDEN),
]


@pytest.mark.parametrize(("who", "method", "target", "status"), USER_MATRIX)
def test_user_detail_access_matrix(who, method, target, status, alice, bob, staff):
    root = make_user("root", superuser=True)
    users = {"anon": None, "alice": alice, "bob": bob, "staff": staff, "root": root}
    victim = users[target]
    payload = {"username": "renamed", "email": "renamed@example.com", "password": "renamed-password-55"}
    response = getattr(client_for(users[who]), method)(f"/api/users/{victim.pk}/", payload, format="json")
    assert response.status_code == status
    remaining = User.objects.filter(pk=victim.pk).first()
    if status == HTTPStatus.NO_CONTENT:
        assert remaining is None
    elif method in {"patch", "put"} and status == HTTPStatus.OK:
        assert remaining.username == "renamed"
    else:
        assert remaining.username == target


@pytest.mark.parametrize("who", ["anon", "alice", "staff"])
def test_user_list_sign_up_posts_and_me_access(who, alice, staff):
    client = client_for({"anon": None, "alice": alice, "staff": staff}[who])
    assert client.get("/api/users/").status_code == HTTPStatus.OK
    assert client.get(f"/api/users/{alice.pk}/posts/").status_code == HTTPStatus.OK
    assert client.get("/api/users/me/").status_code == (HTTPStatus.UNAUTHORIZED if who == "anon" else HTTPStatus.OK)
    response = client.post(
        "/api/users/", {"username": f"new-{who}", "email": f"{who}@new.example", "password": PASSWORD}
    )
    assert response.status_code == HTTPStatus.CREATED
    assert User.objects.filter(username=f"new-{who}").exists()


def test_posts_of_an_unknown_user_is_a_404(anon_client):
    response = anon_client.get("/api/users/424242/posts/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert detail_of(response) == "No User matches the given query."


def test_token_endpoint(anon_client, alice):
    response = anon_client.post("/api/auth/token/", {"username": "ALICE", "password": PASSWORD}, format="json")
    assert response.status_code == HTTPStatus.OK
    token = response.json()["token"]
    assert client_for(None).get("/api/users/me/", HTTP_AUTHORIZATION=f"Token {token}").json()["username"] == "alice"
    response = anon_client.post("/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field_errors(response) == {"non_field_errors": ["Unable to log in with provided credentials."]}


def test_session_login_works_for_the_browsable_api(client, alice):
    assert client.login(username="alice", password=PASSWORD)
    response = client.get("/api/users/me/", HTTP_ACCEPT="text/html")
    assert response.status_code == HTTPStatus.OK
    assert b"alice@example.com" in response.content
    # Session writes need the CSRF token, like any form post.
    strict = Client(enforce_csrf_checks=True)
    strict.login(username="alice", password=PASSWORD)
    response = strict.post("/api/posts/", {"title": "t", "body": "b"}, content_type="application/json")
    assert response.status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("path", ["/api/", "/api/posts/", "/api/posts/?cursor=", "/api/users/", "/api/stats/"])
def test_browsable_api_pages_render(client, alice, path):
    post_create(author=alice, title="Shown in HTML", body="b")
    client.login(username="alice", password=PASSWORD)
    response = client.get(path, HTTP_ACCEPT="text/html")
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"].startswith("text/html")
