"""The account page, deleting one's account (posts go with it), and the data export."""

import json
from http import HTTPStatus

import pytest
from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Long-12345"
DELETE = reverse("users:account_delete")
EXPORT = reverse("users:account_export")
# No "/" in it: the navigation links to the user's page by username.
XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


def make_user(username, **extra):
    return User.objects.create_user(username=username, email=f"{username}@example.com", password=PASSWORD, **extra)


@pytest.fixture
def alice(db):
    alice = make_user("alice")
    Post.objects.bulk_create([Post(author=alice, title=f"post {i}", body="text") for i in range(3)])
    return alice


@pytest.fixture
def logged_in(client, alice):
    client.force_login(alice)
    return client


def test_the_account_page_lists_what_one_can_do_and_escapes_what_users_wrote(client, django_assert_num_queries):
    # Usernames are validated at sign-up; a row written another way is still shown as text.
    odd = User.objects.create_user(username=XSS, email="odd@example.com", password=PASSWORD)
    client.force_login(odd)
    # Expect 2 queries: * the session * the logged-in user (post_count is a column of it)
    with django_assert_num_queries(2):
        response = client.get(reverse("users:account"))
    assert XSS not in response.text
    assert XSS_ESCAPED in response.text
    for name in ("password_change", "users:email_change", "users:account_export", "users:account_delete"):
        assert f'href="{reverse(name)}"' in response.text
    assert client.get(reverse("posts:home")).text.count(f'href="{reverse("users:account")}"') == 1


@pytest.mark.parametrize(
    "name", ["users:account", "users:email_change", "users:account_delete", "users:account_export"]
)
def test_account_pages_need_a_log_in(client, name):
    response = client.get(reverse(name))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"].startswith(reverse("users:login"))


# --- deletion ---------------------------------------------------------------


def test_the_page_says_the_posts_go_with_the_account(logged_in, django_assert_num_queries):
    # Expect 2 queries: * the session * the logged-in user (with post_count)
    with django_assert_num_queries(2):
        page = logged_in.get(DELETE)
    assert "all 3 of your posts" in page.text
    assert f'href="{EXPORT}"' in page.text


def test_deleting_the_account_deletes_its_posts_and_token_and_logs_out(logged_in, alice):
    bob = make_user("bob")
    Post.objects.create(author=bob, title="bob's", body="stays")
    Token.objects.create(user=alice)
    response = logged_in.post(DELETE, {"current_password": PASSWORD}, follow=True)
    assert response.redirect_chain == [(reverse("posts:home"), HTTPStatus.FOUND)]
    assert "The account alice and its 3 posts were deleted." in response.text
    assert SESSION_KEY not in logged_in.session
    assert list(User.objects.values_list("username", flat=True)) == ["bob"]
    assert list(Post.objects.values_list("title", flat=True)) == ["bob's"]
    assert not Token.objects.exists()


def test_a_wrong_password_deletes_nothing(logged_in, alice):
    response = logged_in.post(DELETE, {"current_password": "wrong-Password"})
    assert response.status_code == HTTPStatus.OK
    assert "Your password was entered incorrectly." in response.text
    assert User.objects.filter(pk=alice.pk).exists()
    assert Post.objects.filter(author=alice).count() == 3
    assert logged_in.session[SESSION_KEY] == str(alice.pk)


def test_the_last_superuser_cannot_delete_themself(client):
    root = make_user("root", is_staff=True, is_superuser=True)
    make_user("retired", is_staff=True, is_superuser=True, is_active=False)  # does not count
    client.force_login(root)
    response = client.post(DELETE, {"current_password": PASSWORD})
    assert response.status_code == HTTPStatus.OK
    assert "You are the only superuser" in response.text
    assert User.objects.filter(pk=root.pk).exists()
    # With another active superuser, they can.
    make_user("deputy", is_staff=True, is_superuser=True)
    assert client.post(DELETE, {"current_password": PASSWORD}).status_code == HTTPStatus.FOUND
    assert not User.objects.filter(pk=root.pk).exists()


def test_deleting_needs_the_csrf_token(alice):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(alice)
    assert browser.post(DELETE, {"current_password": PASSWORD}).status_code == HTTPStatus.FORBIDDEN
    assert User.objects.filter(pk=alice.pk).exists()
    csrf = str(browser.get(DELETE).context["csrf_token"])
    response = browser.post(DELETE, {"current_password": PASSWORD, "csrfmiddlewaretoken": csrf})
    assert response.status_code == HTTPStatus.FOUND
    assert not User.objects.filter(pk=alice.pk).exists()


# --- export -----------------------------------------------------------------


def test_the_export_is_the_account_and_its_posts_in_the_apis_shapes(logged_in, alice, django_assert_num_queries):
    make_user("bob")
    Post.objects.create(author=User.objects.get(username="bob"), title="not alice's", body="x")
    # Expect 3 queries: * the session * the logged-in user * the user's posts JOIN the author
    with django_assert_num_queries(3):
        response = logged_in.get(EXPORT)
    assert response.status_code == HTTPStatus.OK
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"].startswith(f'attachment; filename="account-{alice.pk}-')
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    data = json.loads(response.content)
    assert set(data) == {"exported_at", "account", "posts"}
    assert data["account"]["username"] == "alice"
    assert data["account"]["email"] == "alice@example.com"
    assert data["account"]["post_count"] == 3
    assert "password" not in data["account"]
    me = logged_in.get("/api/users/me/").json()
    assert {key: data["account"][key] for key in me} == me
    assert [post["title"] for post in data["posts"]] == ["post 2", "post 1", "post 0"]
    first = Post.objects.get(title="post 2")
    assert data["posts"][0] == logged_in.get(f"/api/posts/{first.pk}/").json()
