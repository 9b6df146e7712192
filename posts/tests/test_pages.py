"""The public post pages: listing, reading, writing, editing, deleting."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from posts.models import Post
from posts.views import POSTS_PER_PAGE
from users.models import User

pytestmark = pytest.mark.django_db

XSS = "<script>alert(1)</script>"
XSS_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture
def alice():
    return User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")


@pytest.fixture
def bob():
    return User.objects.create_user(username="bob", email="bob@example.com", password="pw-Bob-12345")


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice)
    return client


def make_posts(count, *, authors):
    """``count`` posts, one minute apart, the last one the newest."""
    start = timezone.now() - timedelta(days=1)
    return Post.objects.bulk_create(
        Post(
            author=authors[i % len(authors)],
            title=f"Post {i}",
            body=f"Body {i}",
            created_at=start + timedelta(minutes=i),
        )
        for i in range(count)
    )


# --- home -------------------------------------------------------------------


def test_home_shows_the_newest_posts_first_with_page_links(client, alice, bob):
    make_posts(POSTS_PER_PAGE + 5, authors=[alice, bob])
    response = client.get(reverse("posts:home"))
    assert response.status_code == HTTPStatus.OK
    titles = [post.title for post in response.context["posts"]]
    assert titles == [f"Post {i}" for i in range(POSTS_PER_PAGE + 4, 4, -1)]
    assert 'href="?page=2"' in response.text

    second = client.get(reverse("posts:home"), {"page": 2})
    assert [post.title for post in second.context["posts"]] == [f"Post {i}" for i in range(4, -1, -1)]
    assert 'href="?page=1"' in second.text


def test_posts_with_the_same_time_are_ordered_by_id_so_pages_never_overlap(client, alice):
    moment = timezone.now()
    Post.objects.bulk_create(
        Post(author=alice, title=f"Same {i}", body="b", created_at=moment) for i in range(POSTS_PER_PAGE + 3)
    )
    first = [p.pk for p in client.get(reverse("posts:home")).context["posts"]]
    second = [p.pk for p in client.get(reverse("posts:home"), {"page": 2}).context["posts"]]
    assert first + second == sorted(Post.objects.values_list("pk", flat=True), reverse=True)


@pytest.mark.parametrize("page", ["99", "abc", "0"])
def test_a_page_past_the_end_or_not_a_number_is_a_404_page(client, alice, page):
    make_posts(3, authors=[alice])
    response = client.get(reverse("posts:home"), {"page": page})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text


def test_home_query_count_does_not_grow_with_the_posts_shown(client, alice, bob, django_assert_num_queries):
    make_posts(POSTS_PER_PAGE + 1, authors=[alice, bob])
    # Expect 2 queries: * COUNT(*) of posts for the paginator
    # * one page of posts JOIN their authors (no query per post for the author)
    with django_assert_num_queries(2):
        response = client.get(reverse("posts:home"))
    assert len(response.context["posts"]) == POSTS_PER_PAGE


def test_home_query_count_when_logged_in(alice_client, alice, django_assert_num_queries):
    make_posts(5, authors=[alice])
    # Expect 4 queries: * the session * the logged-in user (both for the navigation)
    # * COUNT(*) of posts * one page of posts JOIN their authors
    with django_assert_num_queries(4):
        response = alice_client.get(reverse("posts:home"))
    assert "Write a post" in response.text


def test_empty_home_says_so(client):
    response = client.get(reverse("posts:home"))
    assert response.status_code == HTTPStatus.OK
    assert "No posts yet." in response.text


# --- detail, escaping, 404 --------------------------------------------------


def test_detail_shows_the_post_in_one_query(client, alice, django_assert_num_queries):
    post = Post.objects.create(author=alice, title="Hello", body="First line\n\nSecond paragraph")
    # Expect 1 query: * the post JOIN its author
    with django_assert_num_queries(1):
        response = client.get(post.get_absolute_url())
    assert response.status_code == HTTPStatus.OK
    assert '<h1 class="post-title">Hello</h1>' in response.text
    assert "<p>Second paragraph</p>" in response.text
    assert 'href="/users/alice/"' in response.text


def test_unknown_post_id_is_a_404_page(client):
    response = client.get(reverse("posts:detail", args=[424242]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "Page not found" in response.text


def test_user_content_is_escaped_on_every_page(alice_client, alice):
    post = Post.objects.create(author=alice, title=XSS, body=f"<b>bold</b> {XSS}")
    pages = [
        reverse("posts:home"),
        post.get_absolute_url(),
        alice.get_absolute_url(),
        reverse("posts:update", args=[post.pk]),
        reverse("posts:delete", args=[post.pk]),
    ]
    for url in pages:
        response = alice_client.get(url)
        assert response.status_code == HTTPStatus.OK, url
        assert XSS not in response.text, url
        assert XSS_ESCAPED in response.text, url
    assert "&lt;b&gt;bold&lt;/b&gt;" in alice_client.get(post.get_absolute_url()).text


def test_edit_and_delete_buttons_show_only_for_those_who_may_use_them(client, alice, bob):
    post = Post.objects.create(author=alice, title="Mine", body="b")
    edit_url = reverse("posts:update", args=[post.pk])
    assert edit_url not in client.get(post.get_absolute_url()).text
    client.force_login(bob)
    assert edit_url not in client.get(post.get_absolute_url()).text
    client.force_login(alice)
    assert edit_url in client.get(post.get_absolute_url()).text


# --- writing ----------------------------------------------------------------


def test_writing_needs_a_login(client):
    response = client.get(reverse("posts:create"))
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('users:login')}?next={reverse('posts:create')}"
    response = client.post(reverse("posts:create"), {"title": "t", "body": "b"})
    assert response.status_code == HTTPStatus.FOUND
    assert Post.objects.count() == 0


def test_write_a_post(alice_client, alice):
    response = alice_client.post(reverse("posts:create"), {"title": "  My first post ", "body": "Hello"}, follow=True)
    post = Post.objects.get()
    assert (post.author, post.title, post.body) == (alice, "My first post", "Hello")
    assert response.redirect_chain == [(post.get_absolute_url(), HTTPStatus.FOUND)]
    assert "Your post is published." in response.text


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"title": "   ", "body": "b"}, "title", "This field is required."),
        ({"title": "x" * 201, "body": "b"}, "title", "Ensure this value has at most 200 characters (it has 201)."),
        ({"title": "t", "body": ""}, "body", "This field is required."),
    ],
)
def test_bad_input_is_a_form_error_next_to_the_field_and_saves_nothing(alice_client, data, field, message):
    response = alice_client.post(reverse("posts:create"), data)
    assert response.status_code == HTTPStatus.OK
    assert response.context["form"].errors == {field: [message]}
    assert field_block(response.text, field).count(message) == 1
    assert Post.objects.count() == 0


def field_block(html: str, name: str) -> str:
    """The markup of one field's block: from its label to the next field or the form's end."""
    start = html.index(f'<label for="id_{name}"')
    ends = [i for i in (html.find('<div class="field', start), html.find("</form>", start)) if i != -1]
    return html[start : min(ends)]


def test_forms_carry_a_csrf_token_and_a_post_without_one_is_refused(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    # The token of the post form itself (the log-out form on every page carries one too).
    forms = client.get(reverse("posts:create")).text.split("<form")[1:]
    (post_form,) = [form for form in forms if 'name="title"' in form]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', post_form).group(1)
    response = client.post(reverse("posts:create"), {"title": "t", "body": "b"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert Post.objects.count() == 0
    # The same request with the form's token goes through.
    response = client.post(reverse("posts:create"), {"title": "t", "body": "b", "csrfmiddlewaretoken": token})
    post = Post.objects.get()
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == post.get_absolute_url()
    assert (post.author, post.title) == (alice, "t")


# --- editing ----------------------------------------------------------------


def test_the_author_edits_a_post(alice_client, alice):
    post = Post.objects.create(author=alice, title="Old", body="old body")
    url = reverse("posts:update", args=[post.pk])
    form = alice_client.get(url).context["form"]
    assert form.initial == {"title": "Old", "body": "old body"}
    response = alice_client.post(url, {"title": "New", "body": "new body"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == post.get_absolute_url()
    post.refresh_from_db()
    assert (post.title, post.body) == ("New", "new body")


def test_a_refused_edit_keeps_the_stored_post(alice_client, alice):
    post = Post.objects.create(author=alice, title="Keep", body="body")
    response = alice_client.post(reverse("posts:update", args=[post.pk]), {"title": "", "body": "changed"})
    assert response.status_code == HTTPStatus.OK
    assert "title" in response.context["form"].errors
    post.refresh_from_db()
    assert (post.title, post.body) == ("Keep", "body")


def test_someone_else_gets_403_and_changes_nothing(client, alice, bob):
    post = Post.objects.create(author=alice, title="Alice's", body="body")
    client.force_login(bob)
    for url in (reverse("posts:update", args=[post.pk]), reverse("posts:delete", args=[post.pk])):
        assert client.get(url).status_code == HTTPStatus.FORBIDDEN
    response = client.post(reverse("posts:update", args=[post.pk]), {"title": "Bob's now", "body": "x"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Not allowed" in response.text
    response = client.post(reverse("posts:delete", args=[post.pk]))
    assert response.status_code == HTTPStatus.FORBIDDEN
    post.refresh_from_db()
    assert (post.title, post.body) == ("Alice's", "body")


def test_anonymous_visitors_are_sent_to_log_in_and_change_nothing(client, alice):
    post = Post.objects.create(author=alice, title="Alice's", body="body")
    for url in (reverse("posts:update", args=[post.pk]), reverse("posts:delete", args=[post.pk])):
        response = client.post(url, {"title": "x", "body": "y"})
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].startswith(reverse("users:login"))
    assert Post.objects.filter(pk=post.pk, title="Alice's").exists()


def test_staff_may_edit_and_delete_any_post(client, alice):
    staff = User.objects.create_user(username="mod", email="mod@example.com", password="pw-Mod-12345", is_staff=True)
    post = Post.objects.create(author=alice, title="Rude", body="body")
    client.force_login(staff)
    client.post(reverse("posts:update", args=[post.pk]), {"title": "Edited by staff", "body": "body"})
    post.refresh_from_db()
    assert post.title == "Edited by staff"
    assert post.author == alice
    client.post(reverse("posts:delete", args=[post.pk]))
    assert not Post.objects.filter(pk=post.pk).exists()


@pytest.mark.parametrize("name", ["posts:update", "posts:delete"])
def test_unknown_ids_are_404_for_edit_and_delete(alice_client, name):
    assert alice_client.get(reverse(name, args=[424242])).status_code == HTTPStatus.NOT_FOUND
    assert alice_client.post(reverse(name, args=[424242])).status_code == HTTPStatus.NOT_FOUND


# --- deleting ---------------------------------------------------------------


def test_delete_asks_first_and_deletes_only_on_post(alice_client, alice):
    post = Post.objects.create(author=alice, title=XSS, body="body")
    url = reverse("posts:delete", args=[post.pk])
    confirm = alice_client.get(url)
    assert confirm.status_code == HTTPStatus.OK
    assert "Yes, delete it" in confirm.text
    assert Post.objects.filter(pk=post.pk).exists()

    response = alice_client.post(url, follow=True)
    assert response.redirect_chain == [(reverse("posts:home"), HTTPStatus.FOUND)]
    assert not Post.objects.filter(pk=post.pk).exists()
    # The message quotes the title, escaped like everything else.
    assert f"“{XSS_ESCAPED}” is deleted." in response.text
    assert XSS not in response.text


def test_a_server_error_renders_the_site_error_page(client, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("posts.views.HomeView.get_queryset", broken)
    client.raise_request_exception = False
    response = client.get(reverse("posts:home"))
    assert response.status_code == HTTPStatus.INTERNAL_SERVER_ERROR
    assert "Something went wrong" in response.text
