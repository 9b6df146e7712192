from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from http import HTTPStatus

import orjson
import pytest
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from dbtools.engines import engine_for
from posts.api import PostSerializer, PostViewSet
from posts.models import Post, PostQuerySet
from posts.services import post_create
from project.api import ORJSONRenderer
from project.counting import CountedPaginator
from project.testing.api import client_for, detail_of, error_of, field_errors, make_user

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=dt_timezone.utc)


def iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def post_json(post: Post) -> dict:
    post.refresh_from_db()
    return {
        "id": post.pk,
        "title": post.title,
        "body": post.body,
        "author": {"id": post.author_id, "username": post.author.username},
        "created_at": iso(post.created_at),
        "updated_at": iso(post.updated_at),
        "url": f"http://testserver/api/posts/{post.pk}/",
    }


def make_post(author, title="Hello", body="World", minutes=0) -> Post:
    post = post_create(author=author, title=title, body=body)
    Post.objects.filter(pk=post.pk).update(created_at=T0 + timedelta(minutes=minutes))
    post.refresh_from_db()
    return post


# --- reading ---------------------------------------------------------------


def test_list_is_newest_first_with_the_whole_shape(anon_client, alice, bob):
    older = make_post(alice, "Older", "a", minutes=1)
    newer = make_post(bob, "Newer", "b", minutes=2)
    response = anon_client.get("/api/posts/")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [post_json(newer), post_json(older)],
    }


def test_detail_has_the_same_shape_as_list_rows(anon_client, alice):
    post = make_post(alice)
    response = anon_client.get(f"/api/posts/{post.pk}/")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == post_json(post)


@pytest.mark.parametrize("joined", [True, False], ids=["name-joined", "name-by-subquery"])
def test_list_rows_and_single_posts_are_one_shape(alice, bob, monkeypatch, joined):
    # Lists serialize values() rows, single posts model instances: one serializer, one output,
    # whether the author's name is joined or read by a subquery (Engine.joined_page_stops_early).
    monkeypatch.setattr(type(engine_for("default")), "joined_page_stops_early", joined)
    posts = [make_post(alice if i % 2 else bob, f"Post {i}", "x" * (i + 1), minutes=i) for i in range(3)]
    context = {"request": Request(APIRequestFactory().get("/api/posts/"))}
    queryset = Post.objects.for_api().newest_first()
    from_rows = PostSerializer(list(queryset.values(*PostQuerySet.API_VALUES)), many=True, context=context).data
    from_instances = PostSerializer(list(queryset), many=True, context=context).data
    renderer = ORJSONRenderer()
    expected = [post_json(post) for post in reversed(posts)]
    assert orjson.loads(renderer.render(from_rows)) == expected
    assert orjson.loads(renderer.render(from_instances)) == expected
    # One query either way, and only the join reads users_user in its FROM clause.
    sql = str(queryset.values(*PostQuerySet.API_VALUES).query)
    assert ("JOIN" in sql) is joined


def test_page_number_pagination(anon_client, alice):
    for i in range(25):
        make_post(alice, f"P{i}", "b", minutes=i)
    first = anon_client.get("/api/posts/?page=1&page_size=10").json()
    assert first["count"] == 25
    assert [p["title"] for p in first["results"]] == [f"P{i}" for i in range(24, 14, -1)]
    assert first["next"] == "http://testserver/api/posts/?page=2&page_size=10"
    assert first["previous"] is None
    last = anon_client.get("/api/posts/?page=3&page_size=10").json()
    assert [p["title"] for p in last["results"]] == [f"P{i}" for i in range(4, -1, -1)]
    assert last["next"] is None
    # The default size and the cap: project/tests/test_api_pagination.py.


@pytest.mark.parametrize("offset_reads_rows", [True, False])
def test_deep_pages_read_their_keys_first_and_are_the_same_pages(
    anon_client, alice, bob, monkeypatch, django_assert_num_queries, offset_reads_rows
):
    monkeypatch.setattr(CountedPaginator, "deep_from", 6)
    monkeypatch.setattr(type(engine_for("default")), "offset_reads_rows", offset_reads_rows)
    posts = [make_post(alice if i % 2 else bob, f"P{i}", minutes=i % 5) for i in range(14)]  # ties on created_at
    newest_first = sorted(posts, key=lambda post: (post.created_at, post.pk), reverse=True)
    seen = []
    for number in (1, 2, 3, 4, 5):
        deep = (number - 1) * 3 >= 6 and offset_reads_rows
        # Expect 3 queries: * the data version * the count * the page; a deep
        # page reads its keys in one more query, before the page.
        with django_assert_num_queries(4 if deep else 3) as queries:
            body = anon_client.get("/api/posts/", {"page": number, "page_size": 3}).json()
        assert body["count"] == 14
        seen += [row["id"] for row in body["results"]]
        if deep:
            # The keys alone (the join, where the engine joins the author, is kept: an
            # annotation's join stays in the query).
            assert "title" not in queries.captured_queries[-2]["sql"]
    assert seen == [post.pk for post in newest_first]


@pytest.mark.parametrize("page", ["0", "4", "abc", "99999999999999999999999"])
def test_a_bad_page_number_is_a_json_404(anon_client, alice, page):
    for i in range(3):
        make_post(alice, f"P{i}", minutes=i)
    response = anon_client.get(f"/api/posts/?page={page}&page_size=1")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response["Content-Type"] == "application/json"
    assert set(error_of(response)) == {"detail", "code"}


def test_cursor_pagination_walks_every_post_once_newest_first(anon_client, alice):
    posts = [make_post(alice, f"P{i}", minutes=i // 2) for i in range(7)]  # Pairs share a timestamp.
    expected = [p.pk for p in sorted(posts, key=lambda p: (p.created_at, p.pk), reverse=True)]
    seen = []
    url = "/api/posts/?cursor=&page_size=3"
    while url:
        body = anon_client.get(url).json()
        assert set(body) == {"next", "previous", "results"}
        seen += [p["id"] for p in body["results"]]
        url = body["next"]
    assert seen == expected


def test_a_bad_cursor_is_a_json_404(anon_client):
    response = anon_client.get("/api/posts/?cursor=not-a-cursor")
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert detail_of(response) == "Invalid cursor"


# MariaDB's FULLTEXT index sees rows only once they are committed.
@pytest.mark.django_db(transaction=True)
def test_filters(anon_client, alice, bob):
    a1 = make_post(alice, "Django tips", "about sqlite", minutes=1)
    a2 = make_post(alice, "Cooking", "nothing here", minutes=10)
    b1 = make_post(bob, "Other", "DJANGO in the body", minutes=20)

    def ids(query):
        response = anon_client.get(f"/api/posts/?{query}")
        assert response.status_code == HTTPStatus.OK, response.json()
        body = response.json()
        assert body["count"] == len(body["results"]), query  # One page: the count is what it shows.
        return [p["id"] for p in body["results"]]

    assert ids(f"author={alice.pk}") == [a2.pk, a1.pk]
    assert ids("author_username=BOB") == [b1.pk]
    assert ids("search=django") == [b1.pk, a1.pk]
    assert ids("created_after=2025-03-01T12:05:00Z") == [b1.pk, a2.pk]
    assert ids("created_before=2025-03-01T12:10:00Z") == [a1.pk]
    assert ids("created_after=2025-03-01T12:05:00Z&created_before=2025-03-01T12:15:00Z") == [a2.pk]
    assert ids("ordering=title") == [a2.pk, a1.pk, b1.pk]
    assert ids("ordering=-title") == [b1.pk, a1.pk, a2.pk]
    assert ids("ordering=created_at") == [a1.pk, a2.pk, b1.pk]
    assert ids(f"author={bob.pk}&search=django") == [b1.pk]
    assert ids("author=999999") == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("author=abc", "author"),
        ("author=99999999999999999999999", "author"),
        ("created_after=yesterday", "created_after"),
        ("ordering=body", "ordering"),
        ("search=" + "x" * 501, "search"),
        # Over the schema's maxLength as sent, even if trimming would shorten it
        # (\x1c is whitespace to Python's str.strip()).
        ("search=G" + "%1C" * 500, "search"),
        ("author_username=a" + "%20" * 150, "author_username"),
        ("search=" + "+".join(["word"] * 17), "search"),
        ("search=a%00b", "search"),
        ("cursor=&ordering=title", "ordering"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(anon_client, query, field):
    response = anon_client.get(f"/api/posts/?{query}")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(field_errors(response)) == [field]


def test_list_query_counts_are_pinned(django_assert_num_queries, anon_client, alice_client, alice, bob):
    for i in range(30):
        make_post(alice if i % 2 else bob, f"P{i}", minutes=i)
    # Expect 3 queries: * the data version (project/httpcache.py) * the sum of
    # the users' post counts * one page of posts joined with their authors
    with django_assert_num_queries(3):
        assert len(anon_client.get("/api/posts/").json()["results"]) == 20
    # Expect 4 queries: * the token and its user * the data version * the sum of post counts * the page
    with django_assert_num_queries(4):
        assert len(alice_client.get("/api/posts/?page=2").json()["results"]) == 10
    # Expect 2 queries: * the data version * the page (+1 row to know whether a next page exists); no COUNT
    with django_assert_num_queries(2):
        assert len(anon_client.get("/api/posts/?cursor=").json()["results"]) == 20
    # Expect 3 queries: * the data version * the user and their post_count (the page's count) * the page
    with django_assert_num_queries(3):
        assert len(anon_client.get(f"/api/users/{alice.pk}/posts/").json()["results"]) == 15
    # The same pages again come from the page cache. Expect 1 query: * the data version
    for path in ("/api/posts/", "/api/posts/?cursor=", f"/api/users/{alice.pk}/posts/"):
        with django_assert_num_queries(1):
            assert len(anon_client.get(path).json()["results"]) in (15, 20)
    # Expect 2 queries: * the token and its user * the data version
    with django_assert_num_queries(2):
        assert len(alice_client.get("/api/posts/?page=2").json()["results"]) == 10


@pytest.mark.django_db(transaction=True)
def test_search_query_count_is_pinned(django_assert_num_queries, anon_client, alice):
    for i in range(30):
        make_post(alice, f"P{i}", "zeppelin" if i % 3 else "other", minutes=i)
    # PostgreSQL: * COUNT(*) of the candidate ids (the newest matches, from
    # the index) * one page of matches with their authors. MariaDB: * the
    # newest rows of the list, each checked for the word (30 rows: all of
    # them, so the matching ids and their number, with no FULLTEXT lookup)
    # * the page of those ids.
    # SQLite: * the vocabulary terms the last word is a prefix of * the size
    # of the match set, read from the FTS5 index, which is the count and
    # picks the cheaper plan for the page * the page.
    # And on each engine first: * the data version (project/httpcache.py).
    expected = {"sqlite": 4}.get(connection.vendor, 3)
    with django_assert_num_queries(expected) as queries:
        body = anon_client.get("/api/posts/?search=zeppelin").json()
    if connection.vendor == "sqlite":
        # The plan for a search of every post: the index picks and counts the matches.
        assert "max(rowid) - min(rowid)" in queries.captured_queries[2]["sql"]
    # The count reads the candidates alone, never joined to their posts' authors.
    assert "users_user" not in queries.captured_queries[-2]["sql"]
    if connection.vendor == "mysql":
        assert not any("MATCH(" in query["sql"] for query in queries.captured_queries)
    assert body["count"] == 20
    assert [p["title"] for p in body["results"]] == [f"P{i}" for i in reversed(range(30)) if i % 3]


@pytest.mark.django_db(transaction=True)
def test_search_for_a_common_word_typed_as_a_prefix_counts_up_to_the_cap(
    django_assert_num_queries, anon_client, alice, settings
):
    settings.SEARCH_MAX_RESULTS = 6
    # "made" is in 9 posts, and starts "madeira" in 2 more: 11 matches, over the cap.
    for i in range(14):
        body = "made it" if i % 3 else ("madeira wine" if i % 2 else "nothing")
        make_post(alice, f"P{i}", body, minutes=i)
    matching = [f"P{i}" for i in reversed(range(14)) if i % 3 or i % 2]
    # Expect 4 queries on SQLite (3 elsewhere), as for any search of every post.
    expected = {"sqlite": 4}.get(connection.vendor, 3)
    with django_assert_num_queries(expected):
        body = anon_client.get("/api/posts/?search=made").json()
    # The count is the cap, not the number of matches; the page is the newest of them.
    assert body["count"] == 6
    assert [p["title"] for p in body["results"]] == matching[:6]


# --- writing -----------------------------------------------------------------


def test_create_takes_the_author_from_the_token_never_the_payload(alice_client, alice, bob):
    response = alice_client.post(
        "/api/posts/",
        {"title": "  Mine  ", "body": "text", "author_id": bob.pk, "author": {"id": bob.pk}},
        format="json",
    )
    assert response.status_code == HTTPStatus.CREATED
    post = Post.objects.get()
    assert post.author == alice
    assert post.title == "Mine"
    assert response.json() == post_json(post)


def test_update_and_partial_update_by_the_author(alice_client, alice):
    post = make_post(alice)
    response = alice_client.put(f"/api/posts/{post.pk}/", {"title": "New", "body": "Body"}, format="json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == post_json(post)
    assert (post.title, post.body) == ("New", "Body")
    response = alice_client.patch(f"/api/posts/{post.pk}/", {"body": "Only body"}, format="json")
    assert response.status_code == HTTPStatus.OK
    post.refresh_from_db()
    assert (post.title, post.body) == ("New", "Only body")


# Access matrix: who may do what to alice's post.
MATRIX = [
    # (client, method, expected status)
    ("anon", "get", HTTPStatus.OK),
    ("anon", "put", HTTPStatus.UNAUTHORIZED),
    ("anon", "patch", HTTPStatus.UNAUTHORIZED),
    ("anon", "delete", HTTPStatus.UNAUTHORIZED),
    ("alice", "get", HTTPStatus.OK),
    ("alice", "put", HTTPStatus.OK),
    ("alice", "patch", HTTPStatus.OK),
    ("alice", "delete", HTTPStatus.NO_CONTENT),
    ("bob", "get", HTTPStatus.OK),
    ("bob", "put", HTTPStatus.FORBIDDEN),
    ("bob", "patch", HTTPStatus.FORBIDDEN),
    ("bob", "delete", HTTPStatus.FORBIDDEN),
    ("staff", "get", HTTPStatus.OK),
    ("staff", "put", HTTPStatus.OK),
    ("staff", "patch", HTTPStatus.OK),
    ("staff", "delete", HTTPStatus.NO_CONTENT),
]


@pytest.mark.parametrize(("who", "method", "status"), MATRIX)
def test_post_detail_access_matrix(who, method, status, alice, bob, staff):
    post = make_post(alice, "Original", "Body")
    client = client_for({"anon": None, "alice": alice, "bob": bob, "staff": staff}[who])
    response = getattr(client, method)(f"/api/posts/{post.pk}/", {"title": "Changed", "body": "B2"}, format="json")
    assert response.status_code == status
    still_there = Post.objects.filter(pk=post.pk).first()
    if status == HTTPStatus.NO_CONTENT:
        assert still_there is None
    elif method in {"put", "patch"} and status == HTTPStatus.OK:
        assert still_there.title == "Changed"
        assert still_there.author == alice  # Staff editing never changes the author.
    else:
        assert (still_there.title, still_there.body) == ("Original", "Body")


@pytest.mark.parametrize(
    ("who", "status"),
    [("anon", HTTPStatus.UNAUTHORIZED), ("alice", HTTPStatus.CREATED), ("staff", HTTPStatus.CREATED)],
)
def test_post_list_access_matrix(who, status, alice, staff):
    client = client_for({"anon": None, "alice": alice, "staff": staff}[who])
    assert client.get("/api/posts/").status_code == HTTPStatus.OK
    response = client.post("/api/posts/", {"title": "T", "body": "B"}, format="json")
    assert response.status_code == status
    assert Post.objects.count() == (1 if status == HTTPStatus.CREATED else 0)


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"title": "x" * 201, "body": "b"}, {"title": ["Ensure this field has no more than 200 characters."]}),
        ({"title": "   ", "body": "b"}, {"title": ["This field may not be blank."]}),
        ({"title": ["a"], "body": "b"}, {"title": ["Not a valid string."]}),
        ({"title": "a\x00b", "body": "b"}, {"title": ["Null characters are not allowed."]}),
        ({"title": "t", "body": "a\x00"}, {"body": ["Null characters are not allowed."]}),
        ({"title": "t"}, {"body": ["This field is required."]}),
        ({"title": "t", "body": "x" * 100_001}, {"body": ["Ensure this field has no more than 100000 characters."]}),
        ([1, 2], {"non_field_errors": ["Invalid data. Expected a dictionary, but got list."]}),
    ],
)
def test_invalid_posts_are_a_400_and_nothing_is_saved(alice_client, payload, errors):
    response = alice_client.post("/api/posts/", payload, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field_errors(response) == errors
    assert Post.objects.count() == 0


def test_malformed_json_unsupported_media_and_oversized_bodies(alice_client, settings):
    response = alice_client.post("/api/posts/", b'{"title": "t", "body":', content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["detail"].startswith("JSON parse error")
    response = alice_client.post("/api/posts/", b'{"title": "\\ud800", "body": "b"}', content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    response = alice_client.post("/api/posts/", b"<post/>", content_type="application/xml")
    assert response.status_code == HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    assert detail_of(response) == 'Unsupported media type "application/xml" in request.'
    assert Post.objects.count() == 0


def test_one_setting_limits_a_json_body(alice_client, settings):
    # API_MAX_BODY_BYTES governs, whatever DATA_UPLOAD_MAX_MEMORY_SIZE (form data) says.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    settings.API_MAX_BODY_BYTES = 5000
    between = b'{"title": "t", "body": "' + b"x" * 3000 + b'"}'
    response = alice_client.post("/api/posts/", between, content_type="application/json")
    assert response.status_code == HTTPStatus.CREATED
    assert len(Post.objects.get().body) == 3000
    over = b'{"title": "u", "body": "' + b"x" * 6000 + b'"}'
    response = alice_client.post("/api/posts/", over, content_type="application/json")
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert detail_of(response) == f"Request body too large: {len(over)} bytes; the limit is 5000 bytes."
    assert Post.objects.count() == 1


def test_a_3_mb_json_body_passes_a_5_mb_limit(alice_client, settings, monkeypatch):
    # API_MAX_BODY_BYTES=5MB as the environment writes it; Django's form limit stays at its 2.5 MiB default.
    from project.env import env_bytes

    monkeypatch.setenv("API_MAX_BODY_BYTES", "5MB")
    settings.API_MAX_BODY_BYTES = env_bytes("API_MAX_BODY_BYTES", 0)
    assert settings.API_MAX_BODY_BYTES == 5_000_000
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3_000_000
    # A post body holds at most 100,000 characters, so a 3 MB request reaches the
    # serializer, parsed whole, and is refused there for its content, not its size.
    response = alice_client.post("/api/posts/", {"title": "big", "body": "x" * 3_000_000}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json()["fields"] == {"body": ["Ensure this field has no more than 100000 characters."]}
    assert Post.objects.count() == 0


def test_a_json_body_longer_than_declared_stops_at_the_same_limit(alice, settings):
    settings.API_MAX_BODY_BYTES = 5000
    factory = APIRequestFactory()
    body = b'{"title": "t", "body": "' + b"x" * 6000 + b'"}'
    request = factory.post("/api/posts/", body, content_type="application/json")
    request.META["CONTENT_LENGTH"] = "100"  # What a client sending chunks, or lying, declares.
    request.META["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=alice)[0].key}"
    response = PostViewSet.as_view({"post": "create"})(request)
    assert response.status_code == HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    assert response.data["detail"] == "The request body is larger than 5000 bytes."
    assert Post.objects.count() == 0


@pytest.mark.parametrize(
    ("path", "detail"),
    [
        ("/api/posts/999999/", "No Post matches the given query."),
        # Not an id at all: no route matches, and the API's 404 handler answers.
        ("/api/posts/99999999999999999999999/", "Not found."),
        ("/api/posts/abc/", "Not found."),
    ],
)
def test_unknown_and_huge_ids_are_a_json_404(alice_client, path, detail):
    for method in ("get", "put", "delete"):
        response = getattr(alice_client, method)(path, {"title": "t", "body": "b"}, format="json")
        assert response.status_code == HTTPStatus.NOT_FOUND
        assert detail_of(response) == detail


def test_a_database_refusal_is_a_400_not_a_500(alice_client, alice, monkeypatch):
    post = make_post(alice, "Keep", "Body")
    # The serializer passes it; the model's own check (clean_fields) refuses it.
    monkeypatch.setattr("posts.api.PostSerializer.validate_title", lambda self, v: "x" * 300, raising=False)
    response = alice_client.patch(f"/api/posts/{post.pk}/", {"title": "fine"}, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(field_errors(response)) == ["title"]
    post.refresh_from_db()
    assert post.title == "Keep"


def test_users_that_are_deleted_take_their_posts_from_the_list(anon_client, staff_client):
    carol = make_user("carol")
    make_post(carol)
    assert anon_client.get("/api/posts/").json()["count"] == 1
    assert staff_client.delete(f"/api/users/{carol.pk}/").status_code == HTTPStatus.NO_CONTENT
    assert anon_client.get("/api/posts/").json() == {"count": 0, "next": None, "previous": None, "results": []}
