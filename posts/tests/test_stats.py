"""``/api/stats/`` (posts/stats.py): the site's aggregates in a fixed number of queries."""

from datetime import datetime, timedelta
from datetime import timezone as dt_timezone
from http import HTTPStatus

import pytest

from posts.models import Post
from posts.services import post_create
from project.testing.api import make_user

pytestmark = pytest.mark.django_db


def test_stats_in_a_bounded_number_of_queries(anon_client, django_assert_num_queries):
    today = datetime.now(dt_timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    alice, bob, carol = make_user("alice"), make_user("bob"), make_user("carol")
    for author, days_ago in [(alice, 0), (alice, 0), (alice, 3), (bob, 3), (bob, 45)]:
        post = post_create(author=author, title="t", body="b")
        Post.objects.filter(pk=post.pk).update(created_at=today - timedelta(days=days_ago))
    # Expect 4 queries: * COUNT users * COUNT posts * top authors * posts per day
    with django_assert_num_queries(4):
        response = anon_client.get("/api/stats/")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    days = body.pop("posts_per_day")
    assert body == {
        "user_count": 3,
        "post_count": 5,
        "average_posts_per_user": 1.67,
        "top_authors": [
            {"id": alice.pk, "username": "alice", "post_count": 3},
            {"id": bob.pk, "username": "bob", "post_count": 2},
        ],
    }
    assert len(days) == 30
    assert days[-1] == {"date": today.date().isoformat(), "count": 2}
    assert days[-4] == {"date": (today - timedelta(days=3)).date().isoformat(), "count": 2}
    assert sum(d["count"] for d in days) == 4  # The 45-day-old post is outside the window.
    assert carol.pk not in [a["id"] for a in body["top_authors"]]


def test_stats_on_an_empty_database(anon_client):
    body = anon_client.get("/api/stats/").json()
    assert body["user_count"] == 0
    assert body["average_posts_per_user"] == 0.0
    assert body["top_authors"] == []
    assert {d["count"] for d in body["posts_per_day"]} == {0}
