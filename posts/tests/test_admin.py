from datetime import datetime, timedelta, timezone
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone as dj_timezone

from dbtools.engines import engine_for
from posts import admin as admin_module
from posts.admin import PostAdmin
from posts.counting import PostPaginator, bounded, ids_sorted_by_author, posts_counter
from posts.models import Post
from posts.templatetags.admin_dates import periods_with_rows
from project.counting import Count
from users.models import User

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:posts_post_changelist")
UTC = timezone.utc


@pytest.fixture
def authors():
    return [
        User.objects.create_user(username=name, email=f"{name}@example.com", password="pw-Secret-123")
        for name in ("carol", "alice", "bob")
    ]


@pytest.fixture
def posts(authors):
    carol, alice, bob = authors
    rows = [
        (alice, "Mango", datetime(2024, 12, 30, 10, tzinfo=UTC)),
        (bob, "apple", datetime(2025, 1, 2, 9, tzinfo=UTC)),
        (carol, "Banana", datetime(2025, 1, 2, 18, tzinfo=UTC)),
        (alice, "cherry", datetime(2025, 3, 5, 7, tzinfo=UTC)),
        (bob, "Date", datetime(2025, 3, 6, 7, tzinfo=UTC)),
    ]
    return [Post.objects.create(author=a, title=t, body=f"body of {t}", created_at=c) for a, t, c in rows]


def titles(response) -> list[str]:
    return [post.title for post in response.context["cl"].result_list]


def test_the_list_pins_its_queries_and_shows_every_column(admin_client, posts, django_assert_num_queries):
    # Expect 8 queries: * session * user * count (sum of the per-user counters)
    # * the page of posts joined to their authors * first and * last date
    # for the date hierarchy (the first is also the first year) * a seek for
    # the next year with posts (2025) * the seek that finds none after it.
    # Never one per row.
    with django_assert_num_queries(8):
        response = admin_client.get(CHANGELIST)
    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert titles(response) == ["Date", "cherry", "Banana", "apple", "Mango"]
    for text in ("alice", "bob", "carol", "5 posts", 'href="?created_at__year=2024"', 'href="?created_at__year=2025"'):
        assert text in html
    # Ten more posts cost no more queries.
    when = posts[1].created_at
    more = [Post(author=posts[0].author, title=f"more {i}", body="b", created_at=when) for i in range(10)]
    Post.objects.bulk_create(more)
    with django_assert_num_queries(8):
        admin_client.get(CHANGELIST)


def test_a_page_of_many_reads_ids_then_rows(admin_client, posts, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(PostAdmin, "list_per_page", 2)
    # Expect 9 queries: the 8 above, with the page read in two steps: * the
    # ids of page 2's posts (from indexes only) * those posts and authors.
    with django_assert_num_queries(9):
        response = admin_client.get(CHANGELIST, {"p": 2})
    assert titles(response) == ["Banana", "apple"]


@pytest.mark.parametrize("order", ["1", "-1", "2", "-2", "3", "-3", "4", "-4"])
def test_paging_through_any_sort_gives_the_whole_list_once(admin_client, posts, monkeypatch, order):
    whole = titles(admin_client.get(CHANGELIST, {"o": order}))
    monkeypatch.setattr(PostAdmin, "list_per_page", 2)
    paged = []
    for number in (1, 2, 3):
        paged += titles(admin_client.get(CHANGELIST, {"o": order, "p": number}))
    assert paged == whole
    assert sorted(paged) == sorted(p.title for p in posts)


@pytest.mark.parametrize("descending", [False, True])
def test_pages_sorted_by_author_from_the_counters_are_the_plain_querys(authors, descending):
    """Every slice the counter walk reads is the slice the ORDER BY gives,
    across author boundaries, with authors of no posts in between."""
    carol, alice, bob = authors
    User.objects.create_user(username="anne", email="anne@example.com", password="pw-Secret-123")  # no posts
    when = datetime(2025, 1, 1, tzinfo=UTC)
    for author, count in ((carol, 3), (alice, 4), (bob, 2)):
        for i in range(count):
            Post.objects.create(author=author, title=f"{author.username} {i}", body="b", created_at=when + timedelta(i))
    sign = "-" if descending else ""
    listed = Post.objects.order_by(f"{sign}author__username", "-created_at", "-pk")
    plain = list(listed.values_list("pk", flat=True))
    read = ids_sorted_by_author(descending=descending)
    for bottom in range(len(plain) + 1):
        for top in range(bottom, len(plain) + 2):
            assert read(listed, bottom, top) == plain[bottom:top], (bottom, top)


@pytest.fixture
def walks(monkeypatch):
    """The admin's uses of the counter walk (``descending`` of each), recorded."""
    used = []

    def spy(*, descending):
        used.append(descending)
        return ids_sorted_by_author(descending=descending)

    monkeypatch.setattr(admin_module, "ids_sorted_by_author", spy)
    return used


@pytest.mark.django_db(transaction=True)  # InnoDB's FULLTEXT index sees committed rows only
def test_the_admin_reads_author_sorted_pages_by_the_walk_where_the_engine_needs_it(
    admin_client, posts, monkeypatch, walks
):
    monkeypatch.setattr(PostAdmin, "list_per_page", 2)
    engine = type(engine_for("default"))
    for needs_it in (False, True):
        monkeypatch.setattr(engine, "joined_page_stops_early", not needs_it)
        walks.clear()
        for order, expected in (
            ("2", ["cherry", "Mango", "Date", "apple", "Banana"]),
            ("-2", ["Banana", "Date", "apple", "cherry", "Mango"]),
        ):
            paged = []
            for number in (1, 2, 3):
                paged += titles(admin_client.get(CHANGELIST, {"o": order, "p": number}))
            assert paged == expected
        assert walks == ([False] * 3 + [True] * 3 if needs_it else [])
        # A filtered or searched list reads its ids in one query.
        walks.clear()
        assert titles(admin_client.get(CHANGELIST, {"o": "2", "author": str(posts[0].author_id)})) == [
            "cherry",
            "Mango",
        ]
        assert titles(admin_client.get(CHANGELIST, {"o": "2", "q": "cherry"})) == ["cherry"]
        assert walks == []


def test_deep_author_sorted_pages_use_the_walk_on_every_engine(admin_client, posts, monkeypatch, walks):
    monkeypatch.setattr(type(engine_for("default")), "joined_page_stops_early", True)
    monkeypatch.setattr(PostPaginator, "deep_from", 2)
    monkeypatch.setattr(PostAdmin, "list_per_page", 2)
    paged = [titles(admin_client.get(CHANGELIST, {"o": "-2", "p": number})) for number in (1, 2, 3)]
    assert paged == [["Banana", "Date"], ["apple", "cherry"], ["Mango"]]
    assert walks == [True, True]  # pages 2 and 3 start at rows 2 and 4; page 1 is one query


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        ("1", None),
        ("-1", None),
        # By author name, then each author's posts newest first.
        ("2", ["cherry", "Mango", "Date", "apple", "Banana"]),
        ("-2", ["Banana", "Date", "apple", "cherry", "Mango"]),
        ("3", ["Mango", "apple", "Banana", "cherry", "Date"]),
        ("-3", ["Date", "cherry", "Banana", "apple", "Mango"]),
    ],
)
def test_every_column_sorts(admin_client, posts, order, expected):
    response = admin_client.get(CHANGELIST, {"o": order})
    got = titles(response)
    if order in ("1", "-1"):
        # Titles sort in the database's collation (binary on SQLite, case-
        # insensitive on MariaDB, locale-aware on PostgreSQL): compare with
        # the same database's own ORDER BY.
        expected = list(Post.objects.order_by(("-" if order == "-1" else "") + "title").values_list("title", flat=True))
    assert got == expected


def test_sorting_by_updated_and_ties_break_in_the_same_direction(admin_client, authors):
    same = datetime(2025, 5, 1, tzinfo=UTC)
    made = [Post.objects.create(author=authors[0], title="Same", body="b", created_at=same) for _ in range(3)]
    Post.objects.update(updated_at=same)
    ids = [p.pk for p in made]
    response = admin_client.get(CHANGELIST, {"o": "1"})
    assert [p.pk for p in response.context["cl"].result_list] == sorted(ids)
    assert response.context["cl"].get_ordering(response.wsgi_request, Post.objects.all())[-1] == "pk"
    response = admin_client.get(CHANGELIST, {"o": "-4"})
    assert [p.pk for p in response.context["cl"].result_list] == sorted(ids, reverse=True)
    response = admin_client.get(CHANGELIST, {"o": "4"})
    assert [p.pk for p in response.context["cl"].result_list] == sorted(ids)


def test_filter_by_author_counts_from_the_counter(admin_client, posts, authors, django_assert_num_queries):
    alice = authors[1]
    # Expect 9: * session * user * the author's name for the filter * count
    # (alice's post_count) * page * first (also 2024) * last * seek 2025 * end.
    with django_assert_num_queries(9):
        response = admin_client.get(CHANGELIST, {"author": alice.pk})
    assert titles(response) == ["cherry", "Mango"]
    html = response.content.decode()
    assert "2 posts" in html
    assert "alice" in html


def test_unknown_and_malformed_authors(admin_client, posts):
    response = admin_client.get(CHANGELIST, {"author": 999999})
    assert response.status_code == HTTPStatus.OK
    assert titles(response) == []
    for bad in ("abc", "²", "9" * 30, "-1"):
        response = admin_client.get(CHANGELIST, {"author": bad})
        assert response.status_code == HTTPStatus.FOUND
        assert response["Location"].endswith("?e=1")


def test_date_filters_and_the_date_hierarchy(admin_client, posts):
    response = admin_client.get(CHANGELIST, {"created_at__year": 2025})
    assert titles(response) == ["Date", "cherry", "Banana", "apple"]
    html = response.content.decode()
    assert "created_at__month=1" in html
    assert "created_at__month=3" in html
    assert "created_at__month=2" not in html
    response = admin_client.get(CHANGELIST, {"created_at__year": 2025, "created_at__month": 3, "created_at__day": 6})
    assert titles(response) == ["Date"]
    march = {"created_at__gte": "2025-03-01 00:00:00+00:00", "created_at__lt": "2025-04-01 00:00:00+00:00"}
    response = admin_client.get(CHANGELIST, march)
    assert titles(response) == ["Date", "cherry"]
    # The list filter offers the usual date choices.
    assert "Past 7 days" in admin_client.get(CHANGELIST).content.decode()


@pytest.mark.parametrize("kind", ["year", "month", "day"])
def test_periods_match_what_django_computes(posts, kind):
    # In New York the posts near midnight UTC fall on the day (and year) before.
    with dj_timezone.override("America/New_York"):
        expected = list(Post.objects.datetimes("created_at", kind))
        assert periods_with_rows(Post.objects.all(), "created_at", kind) == expected
        filtered = Post.objects.filter(author__username="alice")
        assert periods_with_rows(filtered, "created_at", kind) == list(filtered.datetimes("created_at", kind))
    with pytest.raises(ValueError, match="kind"):
        periods_with_rows(Post.objects.all(), "created_at", "week")


def test_counts_are_exact_when_cheap_and_marked_estimates_otherwise(authors, django_assert_num_queries):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    Post.objects.bulk_create(
        [
            Post(author=authors[i % 3], title=f"t{i}", body="b", created_at=start + timedelta(hours=i))
            for i in range(300)
        ],
    )
    everything = Post.objects.all()
    # Expect 1 query: * the sum of the users' post counts (no COUNT over posts)
    with django_assert_num_queries(1):
        counted = posts_counter(everything, estimate=True)()
    assert counted == Count(300)
    assert type(counted.value) is int  # Not MariaDB's decimal SUM(): the API writes it as a JSON integer.
    one_author = everything.filter(author=authors[0])
    # Expect 1 query: * the author's post_count
    with django_assert_num_queries(1):
        assert posts_counter(one_author, author_id=authors[0].pk, estimate=True)() == Count(100)
    in_range = everything.filter(created_at__lt=start + timedelta(hours=120))
    assert bounded(in_range, exact_up_to=200)() == Count(120)
    assert posts_counter(in_range, other_filters=True)() == Count(120)
    estimated = bounded(everything.filter(title__startswith="t"), exact_up_to=50)()
    assert not estimated.exact
    # Evenly spread in time, so the extrapolation lands near the truth.
    assert 250 <= estimated.value <= 300
    # The first two read the counters, not the posts: a drifted counter shows.
    User.objects.filter(pk=authors[0].pk).update(post_count=7)
    assert posts_counter(one_author, author_id=authors[0].pk)() == Count(7)
    assert posts_counter(everything)() == Count(207)


# MariaDB's FULLTEXT index sees rows only once they are committed.
@pytest.mark.django_db(transaction=True)
def test_an_estimated_count_says_so_on_the_page(admin_client, authors, monkeypatch):
    monkeypatch.setattr("posts.counting.EXACT_UP_TO", 5)
    start = datetime(2025, 1, 1, tzinfo=UTC)
    Post.objects.bulk_create(
        [
            Post(author=authors[0], title=f"quokka {i}", body="b", created_at=start + timedelta(hours=i))
            for i in range(40)
        ]
    )
    # A date filter: over EXACT_UP_TO rows, an estimate.
    html = admin_client.get(CHANGELIST, {"created_at__gte": "2024-12-31 00:00:00+00:00"}).content.decode()
    # 40 posts an hour apart: the 6th newest is 5 hours back, so ~40 in all.
    assert "about 40 posts (estimated)" in html
    # The same filter with a search: the search counted its matches, exactly.
    response = admin_client.get(CHANGELIST, {"created_at__gte": "2024-12-31 00:00:00+00:00", "q": "quokka"})
    html = response.content.decode()
    assert "40 results" in html
    assert "(estimated)" not in html
    for params in ({}, {"q": "quokka"}, {"author": authors[0].pk}):
        html = admin_client.get(CHANGELIST, params).content.decode()
        assert "40 posts" in html
        assert "(estimated)" not in html


# MariaDB's FULLTEXT index sees rows only once they are committed.
@pytest.mark.django_db(transaction=True)
def test_search_by_title_body_and_author(admin_client, posts):
    response = admin_client.get(CHANGELIST, {"q": "cherry"})
    assert titles(response) == ["cherry"]
    assert response.context["cl"].result_count == 1  # The search's count, not every post's.
    assert titles(admin_client.get(CHANGELIST, {"q": "body of Banana"})) == ["Banana"]
    assert titles(admin_client.get(CHANGELIST, {"q": "carol"})) == ["Banana"]


def test_the_form_uses_autocomplete_and_read_only_timestamps(admin_client, authors):
    for i in range(30):
        User.objects.create_user(username=f"extra{i}", email=f"extra{i}@example.com", password="x-Secret-123")
    response = admin_client.get(reverse("admin:posts_post_add"))
    html = response.content.decode()
    assert "admin-autocomplete" in html
    # No <option> per user: the select starts empty and asks the server.
    assert "extra29" not in html
    assert 'name="created_at"' not in html
    assert 'name="updated_at"' not in html
    autocomplete = admin_client.get(
        reverse("admin:autocomplete"),
        {"term": "extra2", "app_label": "posts", "model_name": "post", "field_name": "author"},
    )
    names = {row["text"] for row in autocomplete.json()["results"]}
    assert names == {"extra2"} | {f"extra2{i}" for i in range(10)}


def test_create_edit_and_delete_through_the_admin(admin_client, authors):
    alice = authors[1]
    response = admin_client.post(
        reverse("admin:posts_post_add"), {"author": alice.pk, "title": "  Hello  ", "body": "first"}
    )
    assert response.status_code == HTTPStatus.FOUND
    post = Post.objects.get()
    assert (post.title, post.author, post.body) == ("Hello", alice, "first")
    assert User.objects.get(pk=alice.pk).post_count == 1

    bob = authors[2]
    response = admin_client.post(
        reverse("admin:posts_post_change", args=[post.pk]), {"author": bob.pk, "title": "Hello again", "body": "second"}
    )
    assert response.status_code == HTTPStatus.FOUND
    post.refresh_from_db()
    assert (post.title, post.author, post.body) == ("Hello again", bob, "second")
    assert [User.objects.get(pk=u.pk).post_count for u in (alice, bob)] == [0, 1]

    response = admin_client.post(reverse("admin:posts_post_delete", args=[post.pk]), {"post": "yes"})
    assert response.status_code == HTTPStatus.FOUND
    assert not Post.objects.exists()
    assert User.objects.get(pk=bob.pk).post_count == 0


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"title": "   ", "body": "b"}, "title"),
        ({"title": "x" * 201, "body": "b"}, "title"),
        ({"title": "ok", "body": ""}, "body"),
        ({"title": "ok", "body": "b", "author": "999999"}, "author"),
    ],
)
def test_bad_input_is_a_form_error_and_changes_nothing(admin_client, posts, data, field):
    post = posts[0]
    before = list(Post.objects.order_by("id").values_list("id", "title", "body", "author_id"))
    form = {"author": post.author_id, **data}
    response = admin_client.post(reverse("admin:posts_post_change", args=[post.pk]), form)
    assert response.status_code == HTTPStatus.OK
    assert field in response.context["adminform"].form.errors
    response = admin_client.post(reverse("admin:posts_post_add"), form)
    assert field in response.context["adminform"].form.errors
    assert list(Post.objects.order_by("id").values_list("id", "title", "body", "author_id")) == before


def test_the_plain_row_checkbox_is_the_markup_django_renders(posts):
    from django.contrib import admin

    from posts.admin import PostAdmin

    model_admin = PostAdmin(Post, admin.site)
    post = posts[0]
    post.title = 'Tricky <b>"title"</b> & more'
    assert model_admin.action_checkbox(post) == admin.ModelAdmin.action_checkbox(model_admin, post)


def test_markup_in_a_title_is_escaped_in_the_row_checkbox(admin_client, authors):
    markup = '"><b>x</b>'
    post = Post.objects.create(author=authors[0], title=f"T{markup}", body="b")
    html = admin_client.get(CHANGELIST).content.decode()
    assert markup not in html
    assert (
        f'<input type="checkbox" name="_selected_action" value="{post.pk}" class="action-select" '
        'aria-label="Select this object for an action - T&quot;&gt;&lt;b&gt;x&lt;/b&gt;">'
    ) in html
