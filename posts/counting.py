"""Counting lists of posts without reading a million rows.

``SELECT COUNT(*)`` has to visit every matching row (or index entry): at a
million posts that is what made the admin's posts list slower than its page
of rows. The code that filters a list knows what it filtered and picks the
counter with :func:`posts_counter`; cheaper answers, best first:

1. A search: the search counted its matches (at most ``SEARCH_MAX_RESULTS``;
   on SQLite in the index alone). Exact.
2. No filter at all: the sum of ``users_user.post_count``, a counter the
   database keeps in step (posts/triggers.py). Exact, and costs one pass over
   the users table, whatever the number of posts.
3. Only one author: that author's ``post_count``. Exact, one row.
4. Anything else: ``COUNT(*)`` of the rows, or, where an estimate may be
   shown (the admin), count at most ``EXACT_UP_TO + 1`` rows: fewer than
   that is the exact answer; more gets an estimate, marked as one.

The estimate extrapolates from where the ``EXACT_UP_TO``-th newest match
sits in time: if the newest 10,000 matches span one tenth of the time between
the newest and the oldest match, there are about 100,000. It assumes matches
are spread evenly in time (true of date filters, roughly true of searches),
never falls below what was counted and never above the total. Its three
queries are index seeks on the date indexes for date filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.core.paginator import Page
from django.db import connections
from django.db.models import QuerySet

from project.counting import Count, CountedPaginator, Counter, rows
from users.models import User

if TYPE_CHECKING:
    from posts.search import SearchResults

EXACT_UP_TO = 10_000


def total_posts(using: str) -> int:
    """All posts, from the per-user counters: one pass over the users table."""
    connection = connections[using]
    qn = connection.ops.quote_name
    # Sent as written: compiling the ORM's aggregate costs more than the sum.
    sql = f"SELECT SUM({qn(User._meta.get_field('post_count').column)}) FROM {qn(User._meta.db_table)}"  # noqa: S608 - quoted names from the model
    with connection.cursor() as cursor:
        cursor.execute(sql)
        # MariaDB/MySQL answer SUM() with a decimal; NULL when there are no users.
        return int(cursor.fetchone()[0] or 0)


def all_posts(*, using: str) -> Counter:
    return lambda: Count(total_posts(using))


def posts_by(author_id: int, *, using: str) -> Counter:
    """The posts of one author: that author's ``post_count`` (0 for no such user)."""

    def count() -> Count:
        value = User.objects.using(using).filter(pk=author_id).values_list("post_count", flat=True).first()
        return Count(value or 0)

    return count


def matches(results: SearchResults) -> Counter:
    return lambda: Count(results.count())


def bounded(queryset: QuerySet, *, exact_up_to: int | None = None) -> Counter:
    """Exact up to ``exact_up_to`` (default ``EXACT_UP_TO``) rows, an estimate above."""

    def count() -> Count:
        limit = EXACT_UP_TO if exact_up_to is None else exact_up_to
        counted = queryset.order_by()[: limit + 1].count()
        if counted <= limit:
            return Count(counted)
        return Count(_estimate(queryset, limit), exact=False)

    return count


def posts_counter(
    queryset: QuerySet,
    *,
    author_id: int | None = None,
    search: SearchResults | None = None,
    other_filters: bool = False,
    estimate: bool = False,
) -> Counter:
    """The cheapest right counter for a list of posts, from what the caller filtered.

    ``queryset`` is the list (posts of every author unless filtered as said);
    ``author_id``: it keeps only that author's posts; ``search``: it is those
    search results; ``other_filters``: it has any other filter (dates, a
    username, ...). ``estimate``: the page may show an estimate above
    ``EXACT_UP_TO`` rows instead of counting them all.
    """
    if search is not None:
        return matches(search)
    if other_filters:
        return bounded(queryset) if estimate else rows(queryset)
    if author_id is not None:
        return posts_by(author_id, using=queryset.db)
    return all_posts(using=queryset.db)


def _estimate(queryset: QuerySet, counted: int) -> int:
    dates = queryset.values_list("created_at", flat=True)
    newest = dates.order_by("-created_at", "-id").first()
    boundary = next(iter(dates.order_by("-created_at", "-id")[counted : counted + 1]), None)
    oldest = dates.order_by("created_at", "id").first()
    if newest is None or boundary is None or oldest is None:
        # Posts deleted since they were counted: what was counted stands.
        return counted
    ceiling = total_posts(queryset.db)
    seen = (newest - boundary).total_seconds()
    whole = (newest - oldest).total_seconds()
    if seen <= 0:
        # Over EXACT_UP_TO posts with one timestamp: nothing to extrapolate.
        return min(counted + 1, ceiling)
    # ``counted`` gaps between the newest and the boundary row span ``seen``.
    estimate = _two_significant_digits(counted * whole / seen + 1)
    return max(counted + 1, min(estimate, ceiling))


def _two_significant_digits(value: float) -> int:
    # An estimate shown as 330,000 rather than 330,412: no false precision.
    digits = len(str(int(value)))
    return int(round(value, -max(digits - 2, 0)))


PageIds = Callable[[QuerySet, int, int], list[int]]


def ids_in_order(queryset: QuerySet, bottom: int, top: int) -> list[int]:
    """The ids of rows ``bottom`` to ``top`` of the list, in its order."""
    return list(queryset.values_list("pk", flat=True)[bottom:top])


def ids_sorted_by_author(*, descending: bool) -> PageIds:
    """The ids of a page of *all* posts sorted by author name (then newest
    first), read without sorting the whole join.

    The per-user counters say which authors hold rows ``bottom`` to ``top``
    of that order: walking the users by name and adding up their
    ``post_count`` finds the first and the last. Only those authors' posts
    are then sorted, from the right offset into them. For engines whose
    planner sorts all posts joined to their authors to keep one page
    (``Engine.joined_page_stops_early``); the counters are exact, so the page
    is the one the plain query gives (a test compares them page by page).
    """

    def ids(queryset: QuerySet, bottom: int, top: int) -> list[int]:
        users = User.objects.using(queryset.db).filter(post_count__gt=0)
        users = users.order_by("-username" if descending else "username").values_list("pk", "post_count")
        authors: list[int] = []
        before = seen = 0
        for pk, count in users.iterator(chunk_size=2000):
            if seen + count <= bottom:
                seen += count
                before = seen
                continue
            authors.append(pk)
            seen += count
            if seen >= top:
                break
        if not authors:
            return []
        return ids_in_order(queryset.filter(author_id__in=authors), bottom - before, top - before)

    return ids


class PostPaginator(CountedPaginator):
    """The admin's paginator: counted by the counter the changelist chose.

    A page is read in two steps: the ids of its posts, in order, then those
    posts (with their authors) by id. The first query reads indexes only,
    which keeps SQLite's planner on the plan that stops after one page:
    asked for every column of posts and users at once, with no statistics
    it sorted all posts by author name first (0.3 to 2.5 s at a million).
    ``page_ids`` reads the first step (:func:`ids_in_order` unless the
    changelist knows a cheaper way for its order).
    """

    def __init__(self, *args: Any, page_ids: PageIds = ids_in_order, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.page_ids = page_ids

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        ids = self.page_ids(self.object_list, bottom, top)
        rows_by_id = {post.pk: post for post in self.object_list.order_by().filter(pk__in=ids)}
        return Page([rows_by_id[pk] for pk in ids if pk in rows_by_id], number, self)
