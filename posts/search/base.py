"""What every search backend does, and the answer a search gives."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from django.db import connections
from django.db.models import BooleanField, FloatField
from django.db.models.expressions import RawSQL

from posts.search.parser import ParsedQuery

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

Order = Literal["newest", "relevance"]
ORDERS: tuple[str, ...] = ("newest", "relevance")


@dataclass(frozen=True)
class SearchResults:
    """The posts a search found, and how to count them.

    ``posts`` is an ordinary queryset (paginate it, slice it, filter it
    further). ``count()`` is the number of matches, exact: at most
    ``SEARCH_MAX_RESULTS`` posts, counted the cheapest way the backend
    knows (on SQLite, for a search of every post, the search index already
    counted them). Filtering ``posts`` further makes ``count()`` wrong for
    the result: count that queryset instead.
    """

    posts: QuerySet
    known_count: int | None = None

    def count(self) -> int:
        if self.known_count is not None:
            return self.known_count
        return self.posts.count()


class SearchBackend:
    """One database engine's full-text search.

    The schema it reads (tables, columns, triggers, indexes) is created by the
    posts migrations; a backend only names it, fills it again
    (``rebuild_statements``, for ``manage.py rebuild_search_index``) and
    checks it (``is_installed``, ``index_problems``).
    """

    vendor = ""
    underscore_in_words = False

    def rebuild_statements(self) -> list[str]:
        """Statements that index every post again (and put back what a repair needs)."""
        raise NotImplementedError

    def is_installed(self, connection: BaseDatabaseWrapper) -> bool:
        raise NotImplementedError

    def index_problems(self, connection: BaseDatabaseWrapper) -> list[str]:
        """Differences between the search index and the posts table (empty when in step)."""
        raise NotImplementedError

    def match_condition(self, parsed: ParsedQuery) -> RawSQL:
        """A WHERE condition on ``posts_post`` true for the posts that match."""
        raise NotImplementedError

    def newest_matches(self, parsed: ParsedQuery, limit: int) -> tuple[str, list]:
        """SQL (and its parameters) selecting the ids of the newest ``limit`` matches among all posts, from the index."""
        raise NotImplementedError

    def rank(self, parsed: ParsedQuery, limit: int) -> RawSQL:
        """Relevance of a matching post: higher is better."""
        raise NotImplementedError

    def prepare(self, connection: BaseDatabaseWrapper, parsed: ParsedQuery) -> ParsedQuery:
        """A chance to rewrite the parsed query with what the index holds (SQLite expands prefixes)."""
        return parsed

    def search(
        self, queryset: QuerySet, parsed: ParsedQuery, *, order: Order, limit: int, all_posts: bool
    ) -> SearchResults:
        """The posts of ``queryset`` matching ``parsed``, newest ``limit`` matches at most.

        ``all_posts``: the caller's word that ``queryset`` has no filter, so
        the index alone can pick the newest matches. Otherwise they are
        picked among the rows the queryset's filters keep (an author, a date
        range), which the database must then look at.
        """
        if all_posts:
            sql, params = self.newest_matches(parsed, limit)
            count = self.count_candidates(connections[queryset.db], sql, params)
            if count == 0:
                return SearchResults(queryset.none(), known_count=0)
            results = queryset.filter(id__in=RawSQL(sql, params))
            return SearchResults(self.ordered(results, parsed, order, limit), known_count=count)
        # The ids are read first, in a query of their own: the engines' match
        # conditions name posts_post, which Django renames inside a subquery
        # (and MariaDB/MySQL refuse LIMIT inside IN (...)). Their number is
        # then the count.
        matching = queryset.filter(self.match_condition(parsed)).order_by("-id")
        return self.results_of(queryset, list(matching.values_list("id", flat=True)[:limit]), parsed, order, limit)

    def results_of(
        self, queryset: QuerySet, ids: list[int], parsed: ParsedQuery, order: Order, limit: int
    ) -> SearchResults:
        """The posts of ``queryset`` among the matching ``ids`` already read; their number is the count."""
        if not ids:
            return SearchResults(queryset.none(), known_count=0)
        results = self.ordered(queryset.filter(id__in=ids), parsed, order, limit)
        return SearchResults(results, known_count=len(ids))

    def count_candidates(self, connection: BaseDatabaseWrapper, sql: str, params: list) -> int:
        """How many ids ``newest_matches`` selects, counted on their own.

        Counting the results queryset instead joins each candidate to its
        post and author row (the list's ``select_related``): 1,000 lookups
        of each at a million posts on PostgreSQL, for a number the
        candidates already give.
        """
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({sql}) search_count", params)
            return int(cursor.fetchone()[0])

    def ordered(self, results: QuerySet, parsed: ParsedQuery, order: Order, limit: int) -> QuerySet:
        if order == "relevance":
            return results.annotate(search_rank=self.rank(parsed, limit)).order_by("-search_rank", "-created_at", "-id")
        return results.order_by("-created_at", "-id")


def condition(sql: str, params: list) -> RawSQL:
    """A boolean SQL condition for ``QuerySet.filter()``."""
    return RawSQL(sql, params, output_field=BooleanField())


def score(sql: str, params: list) -> RawSQL:
    return RawSQL(sql, params, output_field=FloatField())
