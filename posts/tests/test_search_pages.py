"""The search box on the home page: the same search as Post.objects.search(),
hostile input answered with a form error or results, never a 500."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from posts.models import Post
from posts.views import POSTS_PER_PAGE
from users.models import User

# MariaDB's FULLTEXT index sees rows only once they are committed.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def posts():
    alice = User.objects.create_user(username="alice", email="alice@example.com", password="pw-Alice-123")
    Post.objects.create(author=alice, title="Tuning sqlite checkpoints", body="wal files grow")
    Post.objects.create(author=alice, title="Gardening", body="tomatoes and beans")
    return Post.objects.bulk_create(
        Post(author=alice, title=f"Zeppelin number {i}", body="airships") for i in range(POSTS_PER_PAGE + 3)
    )


def titles(response):
    return [post.title for post in response.context["posts"]]


def test_the_page_shows_what_the_search_function_finds(client, posts):
    response = client.get(reverse("posts:home"), {"q": "checkpoints"})
    assert response.status_code == HTTPStatus.OK
    assert titles(response) == list(Post.objects.search("checkpoints").values_list("title", flat=True))
    assert titles(response) == ["Tuning sqlite checkpoints"]
    assert "Posts matching “checkpoints”" in response.content.decode()


def test_page_links_keep_the_search(client, posts):
    response = client.get(reverse("posts:home"), {"q": "zeppelin"})
    assert response.context["paginator"].count == POSTS_PER_PAGE + 3
    assert 'href="?q=zeppelin&amp;page=2"' in response.content.decode()
    second = client.get(reverse("posts:home"), {"q": "zeppelin", "page": 2})
    assert len(titles(second)) == 3
    assert all(title.startswith("Zeppelin") for title in titles(second))


@pytest.mark.parametrize(
    "query",
    ['"unbalanced', "NEAR(a b)", "a OR b AND NOT c", "*", "((", "\x00", "x" * 10_000, "zeppelin*"],
    ids=["quote", "near", "operators", "star", "parens", "nul", "huge", "prefix"],
)
def test_hostile_queries_get_an_answer_never_a_server_error(client, posts, query):
    response = client.get(reverse("posts:home"), {"q": query})
    assert response.status_code == HTTPStatus.OK
    form = response.context["search_form"]
    if form.errors:
        assert response.context["posts"].count() == 0
        assert 'id="search-errors"' in response.content.decode()
    assert Post.objects.count() == POSTS_PER_PAGE + 5


def test_an_empty_search_is_the_normal_home_page(client, posts):
    response = client.get(reverse("posts:home"), {"q": "  "})
    assert response.context["query"] == ""
    assert titles(response) == list(Post.objects.newest_first().values_list("title", flat=True)[:POSTS_PER_PAGE])


def test_search_content_is_escaped(client, posts):
    response = client.get(reverse("posts:home"), {"q": "<script>alert(1)</script>"})
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    # The query is shown back, escaped, in the heading and in the search box.
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"Posts matching “{escaped}”" in html
    assert f'name="q" id="id_q" value="{escaped}"' in html
