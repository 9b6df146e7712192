"""The public pages about people: the users list, author pages, sign-up, log-in and log-out."""

from http import HTTPStatus

import pytest
from django.contrib.auth import SESSION_KEY
from django.urls import reverse

from posts.models import Post
from posts.tests.test_pages import XSS, XSS_ESCAPED, field_block
from users.models import User
from users.views import USERS_PER_PAGE

pytestmark = pytest.mark.django_db


def make_user(username, **extra):
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", password="pw-Long-12345", **extra
    )


# --- users list -------------------------------------------------------------


def test_users_list_shows_everyone_alphabetically_with_post_counts(client):
    carol, alice = make_user("carol"), make_user("alice")
    make_user("bob")  # no posts, still listed
    Post.objects.bulk_create([Post(author=alice, title=f"a{i}", body="b") for i in range(3)])
    Post.objects.create(author=carol, title="c", body="b")
    response = client.get(reverse("users:list"))
    assert response.status_code == HTTPStatus.OK
    rows = [(person.username, person.post_count) for person in response.context["people"]]
    assert rows == [("alice", 3), ("bob", 0), ("carol", 1)]
    assert '<td class="num">3</td>' in response.text
    assert 'href="/users/bob/"' in response.text


def test_users_list_is_paginated_and_its_query_count_is_pinned(client, django_assert_num_queries):
    User.objects.bulk_create(
        User(username=f"user{i:03}", email=f"user{i:03}@example.com") for i in range(USERS_PER_PAGE + 2)
    )
    authors = list(User.objects.all()[:5])
    Post.objects.bulk_create([Post(author=author, title="t", body="b") for author in authors])
    # Expect 2 queries: * COUNT(*) of users for the paginator
    # * one page of users, each post count a subquery in the same statement (not one query per user)
    with django_assert_num_queries(2) as queries:
        response = client.get(reverse("users:list"))
    # The paginator counts users alone: the post counts stay out of COUNT(*).
    assert "posts_post" not in queries.captured_queries[0]["sql"]
    assert len(response.context["people"]) == USERS_PER_PAGE
    assert 'href="?page=2"' in response.text
    last = client.get(reverse("users:list"), {"page": 2})
    assert [u.username for u in last.context["people"]] == [f"user{i:03}" for i in (USERS_PER_PAGE, USERS_PER_PAGE + 1)]
    assert client.get(reverse("users:list"), {"page": 3}).status_code == HTTPStatus.NOT_FOUND


# --- author page ------------------------------------------------------------


def test_author_page_lists_only_their_posts_newest_first(client, django_assert_num_queries):
    alice, bob = make_user("alice"), make_user("bob")
    first = Post.objects.create(author=alice, title="first", body="b")
    Post.objects.create(author=bob, title="bob's", body="b")
    second = Post.objects.create(author=alice, title="second", body="b")
    # Expect 2 queries: * the author by username (case-insensitive), with
    # their post_count (the page's count) * one page of their posts JOIN the author
    with django_assert_num_queries(2):
        response = client.get(reverse("users:detail", args=["alice"]))
    assert [p.pk for p in response.context["posts"]] == [second.pk, first.pk]
    assert "2 posts" in response.text
    assert "bob&#x27;s" not in response.text


def test_author_page_in_another_letter_case_redirects_to_the_stored_spelling(client):
    make_user("Alice")
    response = client.get(reverse("users:detail", args=["aLICE"]))
    assert response.status_code == HTTPStatus.MOVED_PERMANENTLY
    assert response["Location"] == "/users/Alice/"


def test_unknown_author_is_a_404_page(client):
    response = client.get(reverse("users:detail", args=["nobody"]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text


def test_author_without_posts(client):
    make_user("quiet")
    response = client.get(reverse("users:detail", args=["quiet"]))
    assert "quiet has not written anything yet." in response.text


# --- sign-up ----------------------------------------------------------------

SIGN_UP = {
    "username": "newbie",
    "email": "newbie@example.com",
    "password1": "a-long-Pass-42",
    "password2": "a-long-Pass-42",
}


def test_sign_up_creates_an_ordinary_user_and_sends_them_to_log_in(client):
    form_page = client.get(reverse("users:signup"))
    assert 'name="csrfmiddlewaretoken"' in form_page.text
    response = client.post(reverse("users:signup"), SIGN_UP, follow=True)
    assert response.redirect_chain == [(reverse("users:login"), HTTPStatus.FOUND)]
    assert "Welcome, newbie!" in response.text
    user = User.objects.get()
    assert (user.username, user.email, user.is_staff) == ("newbie", "newbie@example.com", False)
    assert user.check_password("a-long-Pass-42")
    # Signing up does not log in: the next step is the log-in form.
    assert SESSION_KEY not in client.session


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"username": "NEWBIE"}, "username", "A user with that username already exists."),
        ({"email": "Newbie@Example.com"}, "email", "A user with that email address already exists."),
        ({"password1": "password", "password2": "password"}, "password1", "This password is too common."),
        ({"password2": "something-else-42"}, "password2", "The two passwords do not match."),
        ({"username": "bad name!"}, "username", "Enter a valid username."),
        ({"email": "not-an-email"}, "email", "Enter a valid email address."),
        ({"email": ""}, "email", "This field is required."),
    ],
)
def test_sign_up_errors_show_next_to_their_field_and_create_nothing(client, changes, field, message):
    make_user("newbie")  # taken, in another letter case for the first two cases
    before = list(User.objects.values_list("pk", "username", "email", "password"))
    response = client.post(
        reverse("users:signup"), {**SIGN_UP, "username": "other", "email": "o@example.com", **changes}
    )
    assert response.status_code == HTTPStatus.OK
    errors = response.context["form"].errors
    assert list(errors) == [field]
    assert any(error.startswith(message) for error in errors[field])
    assert message in field_block(response.text, field)
    assert list(User.objects.values_list("pk", "username", "email", "password")) == before


def test_sign_up_shows_every_service_error_at_once(client):
    make_user("taken")
    data = {"username": "TAKEN", "email": "taken@example.com", "password1": "123", "password2": "123"}
    errors = client.post(reverse("users:signup"), data).context["form"].errors
    assert set(errors) == {"username", "email", "password1"}
    assert User.objects.count() == 1


def test_a_script_as_username_is_refused_and_shown_back_escaped(client):
    response = client.post(reverse("users:signup"), {**SIGN_UP, "username": XSS})
    assert XSS not in response.text
    assert XSS_ESCAPED in response.text  # shown back in the field, escaped
    assert User.objects.count() == 0


# --- log in and out ---------------------------------------------------------


def test_log_in_is_case_insensitive_and_log_out_is_a_post(client):
    user = make_user("alice")
    response = client.post(reverse("users:login"), {"username": "ALICE", "password": "pw-Long-12345"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == reverse("posts:home")
    assert client.session[SESSION_KEY] == str(user.pk)
    home = client.get(reverse("posts:home"))
    assert 'action="/accounts/logout/"' in home.text

    # A link (GET) cannot log anyone out; the navigation's form (POST) does.
    assert client.get(reverse("users:logout")).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert SESSION_KEY in client.session
    response = client.post(reverse("users:logout"))
    assert response["Location"] == reverse("posts:home")
    assert SESSION_KEY not in client.session


def test_log_in_goes_back_to_the_page_that_asked_for_it(client):
    make_user("alice")
    login_page = client.get(reverse("posts:create"), follow=True)
    assert 'name="next" value="/posts/new/"' in login_page.text
    response = client.post(
        reverse("users:login"), {"username": "alice", "password": "pw-Long-12345", "next": "/posts/new/"}
    )
    assert response["Location"] == "/posts/new/"


def test_log_in_refuses_an_off_site_next(client):
    make_user("alice")
    data = {"username": "alice", "password": "pw-Long-12345", "next": "https://evil.example/"}
    response = client.post(reverse("users:login"), data)
    assert response["Location"] == reverse("posts:home")


def test_wrong_password_is_a_form_error(client):
    make_user("alice")
    response = client.post(reverse("users:login"), {"username": "alice", "password": "nope"})
    assert response.status_code == HTTPStatus.OK
    assert "Please enter a correct username and password. Note that the password is case-sensitive." in response.text
    assert SESSION_KEY not in client.session
