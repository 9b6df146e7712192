"""A typed client generated from the live schema with openapi-python-client
(as a client team would) calls every operation, its success and its errors:
each answer parses into the documented model, and no status is unexpected.

The client is generated once per test session into a temporary folder (no
network: the generator only reads the schema); the requests go in-process to
the WSGI application through httpx's WSGI transport.
"""

import importlib
import subprocess
import sys
from http import HTTPStatus
from pathlib import Path

import httpx
import pytest
from django.core import signals
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token

from posts.models import Post
from posts.services import post_create
from project.testing.api import PASSWORD, make_user
from project.wsgi import application

PACKAGE = "generated_api_client"


@pytest.fixture(scope="session")
def api(tmp_path_factory):
    """The generated package, imported."""
    import orjson

    folder = tmp_path_factory.mktemp("client")
    schema = folder / "schema.json"
    schema.write_bytes(orjson.dumps(SchemaGenerator().get_schema(request=None, public=True)))
    config = folder / "config.yml"
    # No post-generation hooks: they would run formatters over the code, which the test does not need.
    config.write_text(f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n")
    generator = Path(sys.executable).with_name("openapi-python-client")
    options = ["--config", str(config), "--meta", "none"]
    subprocess.run(
        [str(generator), "generate", "--path", str(schema), "--output-path", str(folder / PACKAGE), *options],
        check=True,
        capture_output=True,
    )
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))


@pytest.fixture
def connect(db, settings, api):
    """``connect(user)``: a generated client for that user (None: anonymous)."""
    settings.ALLOWED_HOSTS = ["testserver"]
    # Requests go straight to the WSGI app, whose request signals would close
    # the test's database connection in the middle of its transaction.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    client_module = importlib.import_module(f"{PACKAGE}.client")

    def connect(user, *, token: str | None = None):
        headers = {}
        if user is not None or token is not None:
            headers["Authorization"] = f"Token {token or Token.objects.get_or_create(user=user)[0].key}"
        client = client_module.Client(base_url="http://testserver", raise_on_unexpected_status=True)
        transport = httpx.WSGITransport(app=application)
        client.set_httpx_client(httpx.Client(base_url="http://testserver", transport=transport, headers=headers))
        return client

    yield connect
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def call(api, operation: str, client, **kwargs):
    tag = operation.split("_", 1)[0]
    module = importlib.import_module(f"{PACKAGE}.api.{tag}.{operation}")
    return module.sync_detailed(client=client, **kwargs)


def test_every_operation_and_its_errors_through_a_generated_client(api, connect):
    models = importlib.import_module(f"{PACKAGE}.models")
    error = models.Error
    alice, bob, staff = make_user("alice"), make_user("bob"), make_user("staffer", staff=True)
    anon, as_alice, as_bob, as_staff = connect(None), connect(alice), connect(bob), connect(staff)
    post = post_create(author=alice, title="Hello", body="World")

    def check(response, status, model=None):
        assert response.status_code == status, response.content
        if model is not None:
            assert isinstance(response.parsed, model), response.parsed
        return response.parsed

    # Posts
    page = check(call(api, "posts_list", anon), HTTPStatus.OK, models.PaginatedPostList)
    assert [p.title for p in page.results] == ["Hello"]
    check(call(api, "posts_list", anon, page=9), HTTPStatus.NOT_FOUND, error)
    bad = check(call(api, "posts_list", anon, search="x" * 501), HTTPStatus.BAD_REQUEST, error)
    assert "search" in bad.fields.additional_properties
    check(call(api, "posts_list", connect(None, token="wrong")), HTTPStatus.UNAUTHORIZED, error)
    created = check(
        call(api, "posts_create", as_alice, body=models.PostRequest(title="New", body="Text")),
        HTTPStatus.CREATED,
        models.Post,
    )
    check(call(api, "posts_create", anon, body=models.PostRequest(title="t", body="b")), HTTPStatus.UNAUTHORIZED, error)
    blank = check(
        call(api, "posts_create", as_alice, body=models.PostRequest(title="   ", body="b")),
        HTTPStatus.BAD_REQUEST,
        error,
    )
    assert list(blank.fields.additional_properties) == ["title"]
    got = call(api, "posts_retrieve", anon, id=post.pk)
    assert check(got, HTTPStatus.OK, models.Post).title == "Hello"
    etag = got.headers["ETag"]
    check(call(api, "posts_retrieve", anon, id=999_999), HTTPStatus.NOT_FOUND, error)
    check(
        call(api, "posts_update", as_bob, id=post.pk, body=models.PostRequest(title="Mine", body="b")),
        HTTPStatus.FORBIDDEN,
        error,
    )
    changed = call(
        api, "posts_update", as_alice, id=post.pk, body=models.PostRequest(title="Edited", body="b"), if_match=etag
    )
    assert check(changed, HTTPStatus.OK, models.Post).title == "Edited"
    # A second editor still holding the first ETag: refused, nothing lost.
    stale = call(
        api, "posts_partial_update", as_alice, id=post.pk, body=models.PatchedPostRequest(title="Old"), if_match=etag
    )
    check(stale, HTTPStatus.PRECONDITION_FAILED, error)
    assert Post.objects.get(pk=post.pk).title == "Edited"
    fresh = call(
        api,
        "posts_partial_update",
        as_alice,
        id=post.pk,
        body=models.PatchedPostRequest(title="Patched"),
        if_match=changed.headers["ETag"],
    )
    check(fresh, HTTPStatus.OK, models.Post)
    check(call(api, "posts_destroy", as_bob, id=created.id), HTTPStatus.FORBIDDEN, error)
    check(call(api, "posts_destroy", as_alice, id=created.id), HTTPStatus.NO_CONTENT)
    check(call(api, "posts_destroy", as_alice, id=created.id), HTTPStatus.NOT_FOUND, error)

    # Users
    users = check(call(api, "users_list", as_alice), HTTPStatus.OK, models.PaginatedUserList)
    assert [u.username for u in users.results] == ["alice", "bob", "staffer"]
    check(call(api, "users_list", anon, search="x" * 151), HTTPStatus.BAD_REQUEST, error)
    signup = models.UserRequest(username="carol", email="carol@example.com", password=PASSWORD)
    carol = check(call(api, "users_create", anon, body=signup), HTTPStatus.CREATED, models.User)
    check(call(api, "users_create", anon, body=signup), HTTPStatus.BAD_REQUEST, error)
    assert check(call(api, "users_retrieve", anon, id=alice.pk), HTTPStatus.OK, models.User).username == "alice"
    check(call(api, "users_retrieve", anon, id=999_999), HTTPStatus.NOT_FOUND, error)
    renamed = models.UserRequest(username="alicia", email="alice@example.com", password=PASSWORD)
    check(call(api, "users_update", as_alice, id=alice.pk, body=renamed), HTTPStatus.OK, models.User)
    check(call(api, "users_update", as_bob, id=alice.pk, body=renamed), HTTPStatus.FORBIDDEN, error)
    check(
        call(api, "users_partial_update", as_alice, id=alice.pk, body=models.PatchedUserRequest(email="nope")),
        HTTPStatus.BAD_REQUEST,
        error,
    )
    check(call(api, "users_partial_update", anon, id=alice.pk, body=models.PatchedUserRequest()), 401, error)
    assert check(call(api, "users_me_retrieve", as_bob), HTTPStatus.OK, models.User).username == "bob"
    check(call(api, "users_me_retrieve", anon), HTTPStatus.UNAUTHORIZED, error)
    posts = check(call(api, "users_posts_list", anon, id=alice.pk), HTTPStatus.OK, models.PaginatedPostList)
    assert [p.title for p in posts.results] == ["Patched"]
    check(call(api, "users_posts_list", anon, id=999_999), HTTPStatus.NOT_FOUND, error)
    check(call(api, "users_destroy", as_bob, id=carol.id), HTTPStatus.FORBIDDEN, error)
    check(call(api, "users_destroy", as_staff, id=carol.id), HTTPStatus.NO_CONTENT)

    # Stats, tokens and the password
    check(call(api, "stats_retrieve", anon), HTTPStatus.OK, models.Stats)
    token_request = models.AuthTokenRequest(username="bob", password=PASSWORD)
    assert check(call(api, "auth_token_create", anon, body=token_request), HTTPStatus.OK, models.AuthToken).token
    wrong = models.AuthTokenRequest(username="bob", password="wrong")
    check(call(api, "auth_token_create", anon, body=wrong), HTTPStatus.BAD_REQUEST, error)
    change = models.PasswordChangeRequest(old_password=PASSWORD, new_password="another-horse-battery-43")
    check(call(api, "auth_password_create", as_bob, body=change), HTTPStatus.OK, models.Token)
    check(call(api, "auth_password_create", anon, body=change), HTTPStatus.UNAUTHORIZED, error)
    again = models.PasswordChangeRequest(old_password="wrong-one", new_password="yet-another-horse-44")
    check(call(api, "auth_password_create", connect(bob), body=again), HTTPStatus.BAD_REQUEST, error)


def test_too_large_unsupported_and_throttled_answers_parse_as_the_error_model(api, connect, settings, monkeypatch):
    from project.api import AnonThrottle

    models = importlib.import_module(f"{PACKAGE}.models")
    alice = make_user("alice")
    client = connect(alice)
    settings.API_MAX_BODY_BYTES = 1024
    big = models.PostRequest(title="t", body="x" * 2000)
    check_error = lambda response, status: (  # noqa: E731
        response.status_code == status and isinstance(response.parsed, models.Error)
    )
    assert check_error(call(api, "posts_create", client, body=big), HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    module = importlib.import_module(f"{PACKAGE}.api.posts.posts_create")
    kwargs = module._get_kwargs(body=models.PostRequest(title="t", body="b"))
    kwargs.pop("json")
    kwargs["content"], kwargs["headers"] = b"t=1", {"Content-Type": "text/plain"}
    raw = client.get_httpx_client().request(**kwargs)
    unsupported = module._build_response(client=client, response=raw)
    assert check_error(unsupported, HTTPStatus.UNSUPPORTED_MEDIA_TYPE)
    monkeypatch.setattr(AnonThrottle, "THROTTLE_RATES", {"anon": "1/minute", "user": "1/minute"})
    anon = connect(None)
    assert call(api, "stats_retrieve", anon).status_code == HTTPStatus.OK
    throttled = call(api, "stats_retrieve", anon)
    assert check_error(throttled, HTTPStatus.TOO_MANY_REQUESTS)
    assert int(throttled.headers["Retry-After"]) > 0
    assert throttled.headers["RateLimit-Remaining"] == "0"
