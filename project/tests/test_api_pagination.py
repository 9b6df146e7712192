"""Page sizes on every list endpoint: 20 by default, ``?page_size=`` capped
(not refused) at 100, on page-number and cursor pages alike.

More rows than the cap exist, so the cap, not the table, limits each page.
"""

from http import HTTPStatus

import pytest

from posts.models import Post
from users.models import User

pytestmark = pytest.mark.django_db

DEFAULT, CAP = 20, 100
ROWS = CAP + 5


@pytest.fixture
def many(alice):
    """ROWS users (alice among them) and ROWS posts by alice."""
    User.objects.bulk_create(
        User(username=f"user{i:03d}", email=f"user{i:03d}@example.com", password="!") for i in range(ROWS - 1)
    )
    Post.objects.bulk_create(Post(author=alice, title=f"P{i}", body="b") for i in range(ROWS))
    return alice


LISTS = {
    "posts": lambda author: "/api/posts/",
    "users": lambda author: "/api/users/",
    "posts of a user": lambda author: f"/api/users/{author.pk}/posts/",
}


def walk(client, url):
    """Every page from ``url`` on, following ``next``: the list of page lengths and the ids seen."""
    sizes, ids = [], []
    while url:
        response = client.get(url)
        assert response.status_code == HTTPStatus.OK, response.content
        body = response.json()
        sizes.append(len(body["results"]))
        ids += [row["id"] for row in body["results"]]
        url = body["next"]
    return sizes, ids


@pytest.mark.parametrize("name", LISTS)
@pytest.mark.parametrize("style", ["page", "cursor"])
def test_page_size_defaults_to_20_and_is_capped_at_100(anon_client, many, name, style):
    url = LISTS[name](many)
    cursor = "cursor=&" if style == "cursor" else ""
    assert walk(anon_client, f"{url}?{cursor}")[0] == [DEFAULT] * (ROWS // DEFAULT) + [ROWS % DEFAULT]
    sizes, ids = walk(anon_client, f"{url}?{cursor}page_size=1000")
    assert sizes == [CAP, ROWS - CAP]
    assert len(set(ids)) == ROWS  # capped pages still reach every row, once
    # A size under the cap is honoured.
    assert len(anon_client.get(f"{url}?{cursor}page_size=7").json()["results"]) == 7


def test_page_number_pages_count_every_row_when_capped(anon_client, many):
    body = anon_client.get("/api/posts/?page_size=1000").json()
    assert body["count"] == ROWS
    assert body["next"] == "http://testserver/api/posts/?page=2&page_size=1000"
