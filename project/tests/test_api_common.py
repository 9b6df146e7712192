import json
import re
from http import HTTPStatus

import pytest
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured

from posts.models import Post
from posts.services import post_create
from project.api import AnonThrottle, UserThrottle
from project.cache import SharedFileCache, cache_from_url
from project.testing.api import client_for, detail_of

pytestmark = pytest.mark.django_db


# --- throttling ------------------------------------------------------------


def test_anonymous_clients_are_throttled_with_retry_after(anon_client, monkeypatch):
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "100/minute"})
    statuses = [anon_client.get("/api/posts/").status_code for _ in range(4)]
    assert statuses == [HTTPStatus.OK] * 3 + [HTTPStatus.TOO_MANY_REQUESTS]
    response = anon_client.get("/api/posts/")
    assert response.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["detail"].startswith("Request was throttled.")
    assert Post.objects.count() == 0  # Nothing else happened.


def test_users_are_counted_apart_from_each_other_and_from_anonymous(alice, bob, monkeypatch):
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    a, b, anon = client_for(alice), client_for(bob), client_for(None)
    assert [a.get("/api/users/").status_code for _ in range(3)] == [200, 200, 429]
    assert [b.get("/api/users/").status_code for _ in range(3)] == [200, 200, 429]
    assert [anon.get("/api/users/").status_code for _ in range(3)] == [200, 200, 429]


def test_counting_a_request_writes_nothing_to_the_database(alice, alice_client, django_assert_num_queries, monkeypatch):
    # The counters live in the cache; that server processes share it: test_throttling.py.
    post_create(author=alice, title="t", body="b")
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"anon": "1/minute", "user": "1/minute"})
    # Expect 4 queries and no write: * the token * the data version * COUNT(*) * the page
    with django_assert_num_queries(4) as captured:
        alice_client.get("/api/posts/")
    assert not any(q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE")) for q in captured.captured_queries)
    # Expect 1 query: * the token (the throttle refuses before the view runs)
    with django_assert_num_queries(1):
        assert alice_client.get("/api/posts/").status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_token_endpoint_is_throttled_too(anon_client, monkeypatch):
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "2/minute", "user": "2/minute"})
    statuses = [
        anon_client.post("/api/auth/token/", {"username": "x", "password": "y"}, format="json").status_code
        for _ in range(3)
    ]
    assert statuses == [HTTPStatus.BAD_REQUEST, HTTPStatus.BAD_REQUEST, HTTPStatus.TOO_MANY_REQUESTS]


# --- cache configuration ---------------------------------------------------


def test_cache_urls(tmp_path):
    assert cache_from_url("redis://127.0.0.1:6379/1") == {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": "redis://127.0.0.1:6379/1",
    }
    assert cache_from_url(f"file://{tmp_path}/c") == {
        "BACKEND": "project.cache.SharedFileCache",
        "LOCATION": f"{tmp_path}/c",
    }
    # The folder is made on first use, owner-only, not when the settings are read.
    assert not (tmp_path / "c").exists()
    store = SharedFileCache(f"{tmp_path}/c", {})
    store.set("k", 1)
    assert store.get("k") == 1
    assert (tmp_path / "c").stat().st_mode & 0o777 == 0o700
    with pytest.raises(ImproperlyConfigured, match="CACHE_URL"):
        cache_from_url("memcached://x")
    with pytest.raises(ImproperlyConfigured, match="absolute path"):
        cache_from_url("file://relative/path")


# --- documentation ---------------------------------------------------------


def test_schema_and_docs_ui_from_local_static_files(anon_client):
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == HTTPStatus.OK
    paths = schema.json()["paths"]
    for path in (
        "/api/posts/",
        "/api/posts/{id}/",
        "/api/users/",
        "/api/users/{id}/",
        "/api/users/me/",
        "/api/users/{id}/posts/",
        "/api/stats/",
        "/api/auth/token/",
    ):
        assert path in paths
    names = {p["name"] for p in paths["/api/posts/"]["get"]["parameters"]}
    assert names >= {"page", "page_size", "cursor", "author", "author_username", "search", "ordering"}
    docs = anon_client.get("/api/docs/")
    assert docs.status_code == HTTPStatus.OK
    html = docs.content.decode()
    assert "http://" not in html.replace("http://testserver", "")
    assert "https://" not in html
    assets = re.findall(r'(?:src|href)="/static/([^"]+)"', html)
    assert any(a.endswith("swagger-ui-bundle.js") for a in assets)
    for asset in assets:
        assert finders.find(asset), asset


def test_unknown_api_paths_are_json_404s(anon_client):
    response = anon_client.get("/api/nothing-here/")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert detail_of(response) == "Not found."


def test_api_root_lists_the_resources(anon_client):
    assert anon_client.get("/api/").json() == {
        "posts": "http://testserver/api/posts/",
        "users": "http://testserver/api/users/",
    }


def test_throttle_counters_in_redis_expire_and_count(alice, settings, monkeypatch, redis_url):
    import uuid

    settings.CACHES = {"default": {**cache_from_url(redis_url), "KEY_PREFIX": f"test-{uuid.uuid4().hex}"}}
    monkeypatch.setattr(UserThrottle, "THROTTLE_RATES", {"anon": "3/minute", "user": "3/minute"})
    client = client_for(alice)
    assert [client.get("/api/users/").status_code for _ in range(4)] == [200, 200, 200, 429]
    from django_redis import get_redis_connection

    redis = get_redis_connection("default")
    (key,) = redis.keys(f"{settings.CACHES['default']['KEY_PREFIX']}:*throttle*")
    assert int(redis.get(key)) == 4
    assert 0 < redis.ttl(key) <= 65
    redis.delete(key)


def test_unknown_paths_answer_json_under_the_api_prefix_setting_only(settings, rf):
    from project.api import not_found

    settings.API_PATH_PREFIX = "/v2/"
    response = not_found(rf.get("/v2/nothing-here/"), None)
    assert (response.status_code, response["Content-Type"]) == (HTTPStatus.NOT_FOUND, "application/json")
    assert json.loads(response.content) == {"detail": "Not found.", "code": "not_found"}
    response = not_found(rf.get("/api/nothing-here/"), None)
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"].startswith("text/html")
