"""HTTP caching of the API: ETags and Last-Modified, 304 before any page
query, Cache-Control, the cache of rendered list pages and every write path
that must invalidate it, If-Match (412), and the rate-limit headers."""

from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.utils.http import http_date

from posts.models import Post
from posts.services import post_create
from project.testing.api import PASSWORD, client_for, detail_of, make_user
from users.models import User


def titles(client, path="/api/posts/"):
    response = client.get(path)
    assert response.status_code == HTTPStatus.OK
    return [p["title"] for p in response.json()["results"]], response["ETag"]


def test_an_unchanged_list_is_a_304_after_one_query_and_no_rendering(anon_client, alice, django_assert_num_queries):
    post_create(author=alice, title="One", body="b")
    first = anon_client.get("/api/posts/")
    etag, modified = first["ETag"], first["Last-Modified"]
    assert first["Cache-Control"] == "public, no-cache"
    assert "Authorization" in first["Vary"]
    # Expect 1 query: * the data version (no count, no page)
    with django_assert_num_queries(1):
        again = anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == HTTPStatus.NOT_MODIFIED
    assert again.content == b""
    assert (again["ETag"], again["Last-Modified"]) == (etag, modified)
    assert anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH=f'W/{etag}, "other"').status_code == 304
    assert anon_client.get("/api/posts/", HTTP_IF_MODIFIED_SINCE=modified).status_code == 304
    # If-None-Match wins over If-Modified-Since (RFC 9110).
    assert (
        anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH='"old"', HTTP_IF_MODIFIED_SINCE=modified).status_code == 200
    )
    # Another page, another ETag.
    assert anon_client.get("/api/posts/?page_size=5")["ETag"] != etag


def test_authenticated_answers_are_private_and_users_pages_differ_by_viewer(anon_client, alice_client, alice):
    public = anon_client.get("/api/users/")
    private = alice_client.get("/api/users/")
    assert private["Cache-Control"] == "private, no-cache"
    assert "email" in private.json()["results"][0]
    assert "email" not in public.json()["results"][0]
    assert public["ETag"] != private["ETag"]
    assert anon_client.get("/api/users/", HTTP_IF_NONE_MATCH=private["ETag"]).status_code == HTTPStatus.OK
    # The token is no-store: no cache keeps a credential.
    token = anon_client.post("/api/auth/token/", {"username": "alice", "password": PASSWORD}, format="json")
    assert token["Cache-Control"] == "no-store"


def test_post_and_user_details_answer_304_until_they_change(anon_client, alice_client, alice, bob):
    post = post_create(author=alice, title="One", body="b")
    first = anon_client.get(f"/api/posts/{post.pk}/")
    assert anon_client.get(f"/api/posts/{post.pk}/", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    # Another post's change leaves this one's ETag alone.
    post_create(author=bob, title="Two", body="b")
    assert anon_client.get(f"/api/posts/{post.pk}/")["ETag"] == first["ETag"]
    # The author's new name is part of the post.
    User.objects.filter(pk=alice.pk).update(username="alicia")
    renamed = anon_client.get(f"/api/posts/{post.pk}/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert renamed.status_code == HTTPStatus.OK
    assert renamed.json()["author"]["username"] == "alicia"
    user = anon_client.get(f"/api/users/{bob.pk}/")
    assert anon_client.get(f"/api/users/{bob.pk}/", HTTP_IF_NONE_MATCH=user["ETag"]).status_code == 304
    post_create(author=bob, title="Three", body="b")  # bob's post_count changes
    assert anon_client.get(f"/api/users/{bob.pk}/", HTTP_IF_NONE_MATCH=user["ETag"]).status_code == 200


def admin_edit(staff, post):
    client = Client()
    client.force_login(staff)
    response = client.post(
        f"/admin/posts/post/{post.pk}/change/", {"author": post.author_id, "title": "admin", "body": post.body}
    )
    assert response.status_code == HTTPStatus.FOUND


def page_edit(author, post):
    client = Client()
    client.force_login(author)
    response = client.post(f"/posts/{post.pk}/edit/", {"title": "page", "body": post.body})
    assert response.status_code == HTTPStatus.FOUND


def api_edit(author, post):
    response = client_for(author).patch(f"/api/posts/{post.pk}/", {"title": "api"}, format="json")
    assert response.status_code == HTTPStatus.OK


def bulk_update(author, post):
    Post.objects.filter(pk=post.pk).update(title="bulk")


def bulk_create(author, post):
    Post.objects.bulk_create([Post(author=author, title="bulk-new", body="b")])


def bulk_delete(author, post):
    Post.objects.filter(pk=post.pk).delete()


def raw_sql(author, post):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE posts_post SET title = %s WHERE id = %s", ["raw", post.pk])


def raw_rename_author(author, post):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE users_user SET username = %s WHERE id = %s", ["renamed", author.pk])


@pytest.mark.parametrize(
    "write",
    [admin_edit, page_edit, api_edit, bulk_update, bulk_create, bulk_delete, raw_sql, raw_rename_author],
)
def test_every_write_path_invalidates_the_cached_pages(write, anon_client, alice, django_assert_num_queries):
    post = post_create(author=alice, title="Before", body="b")
    before, etag = titles(anon_client)
    # Cached now: Expect 1 query: * the data version
    with django_assert_num_queries(1):
        assert titles(anon_client)[0] == before
    write(make_user("root", superuser=True) if write is admin_edit else alice, post)
    response = anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == HTTPStatus.OK
    after = response.json()["results"]
    expected_rows = {
        admin_edit: ["admin"],
        page_edit: ["page"],
        api_edit: ["api"],
        bulk_update: ["bulk"],
        bulk_create: ["bulk-new", "Before"],
        bulk_delete: [],
        raw_sql: ["raw"],
        raw_rename_author: ["Before"],
    }[write]
    assert [p["title"] for p in after] == expected_rows
    if write is raw_rename_author:
        assert after[0]["author"]["username"] == "renamed"


def test_a_user_list_page_follows_a_new_post_count(anon_client, alice):
    before = anon_client.get("/api/users/").json()["results"][0]["post_count"]
    post_create(author=alice, title="t", body="b")
    assert anon_client.get("/api/users/").json()["results"][0]["post_count"] == before + 1


def test_without_the_version_row_nothing_is_cached_or_validated(anon_client, alice, django_assert_num_queries):
    from posts.models import DataVersion

    DataVersion.objects.all().delete()  # As after a flush.
    post_create(author=alice, title="t", body="b")  # A write puts the row back.
    assert "ETag" in anon_client.get("/api/posts/")
    DataVersion.objects.all().delete()
    response = anon_client.get("/api/posts/")
    assert "ETag" not in response
    # Expect 3 queries: * the data version (missing) * the count * the page; nothing came from a cache
    with django_assert_num_queries(3):
        anon_client.get("/api/posts/")


def test_the_page_cache_can_be_switched_off(anon_client, alice, settings, django_assert_num_queries):
    settings.API_PAGE_CACHE_SECONDS = 0
    post_create(author=alice, title="t", body="b")
    anon_client.get("/api/posts/")
    with django_assert_num_queries(3):
        assert anon_client.get("/api/posts/").status_code == HTTPStatus.OK
    # Conditional requests still work.
    etag = anon_client.get("/api/posts/")["ETag"]
    assert anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH=etag).status_code == HTTPStatus.NOT_MODIFIED


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_if_match_refuses_a_change_to_a_post_that_changed_meanwhile(method, alice_client, alice, bob):
    post = post_create(author=alice, title="Original", body="b")
    etag = alice_client.get(f"/api/posts/{post.pk}/")["ETag"]
    # Another editor (staff, or the author elsewhere) changes it first.
    client_for(alice).patch(f"/api/posts/{post.pk}/", {"title": "Theirs"}, format="json")
    change = getattr(alice_client, method)
    payload = {"title": "Mine", "body": "b"} if method != "delete" else None
    refused = change(f"/api/posts/{post.pk}/", payload, format="json", HTTP_IF_MATCH=etag)
    assert refused.status_code == HTTPStatus.PRECONDITION_FAILED
    assert detail_of(refused).startswith("The resource changed")
    assert Post.objects.get(pk=post.pk).title == "Theirs"
    current = alice_client.get(f"/api/posts/{post.pk}/")["ETag"]
    done = change(f"/api/posts/{post.pk}/", payload, format="json", HTTP_IF_MATCH=current)
    assert done.status_code in (HTTPStatus.OK, HTTPStatus.NO_CONTENT)
    if method != "delete":
        assert done["ETag"] == alice_client.get(f"/api/posts/{post.pk}/")["ETag"] != current
    # A weak tag never matches If-Match; * matches any.
    if method != "delete":
        tag = done["ETag"]
        assert change(f"/api/posts/{post.pk}/", payload, format="json", HTTP_IF_MATCH=f"W/{tag}").status_code == 412
        assert change(f"/api/posts/{post.pk}/", payload, format="json", HTTP_IF_MATCH="*").status_code == 200


def test_rate_limit_headers_on_every_throttled_answer(db, anon_client, monkeypatch):
    from project.api import AnonThrottle

    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    first = anon_client.get("/api/posts/")
    assert (first["RateLimit-Limit"], first["RateLimit-Remaining"]) == ("2", "1")
    assert 0 < int(first["RateLimit-Reset"]) <= 60
    second = anon_client.get("/api/posts/999/")  # An error answer is counted and announced too.
    assert second.status_code == HTTPStatus.NOT_FOUND
    assert second["RateLimit-Remaining"] == "0"
    third = anon_client.get("/api/posts/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert third.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert third["RateLimit-Remaining"] == "0"
    assert int(third["Retry-After"]) > 0


def test_last_modified_is_the_time_of_the_last_write(anon_client, alice):
    from posts.models import DataVersion

    post_create(author=alice, title="t", body="b")
    changed_at = DataVersion.objects.get().changed_at
    assert anon_client.get("/api/posts/")["Last-Modified"] == http_date(changed_at)
    assert make_user("zed").pk  # A new user is a change too.
    assert DataVersion.objects.get().changed_at >= changed_at
