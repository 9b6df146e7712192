"""Full-text search for posts: one interface, one backend per database engine.

Callers (the API's ``?search=``, the admin's search box, the public pages)
use :func:`search_posts` (or ``Post.objects.search()`` for just the posts);
they never see the engine. Each engine has its module here:

- ``sqlite``: an FTS5 table kept in step by triggers;
- ``postgresql``: a ``tsvector`` column with a GIN index, filled by triggers;
- ``mysql`` (MariaDB/MySQL): a ``FULLTEXT`` index over title, body and a
  copy of the author's username kept by triggers.

Their schema is created by the posts migrations (history: each holds the SQL
it ran); a backend translates a parsed query (:mod:`posts.search.parser`)
into its engine's language, re-fills the index for repairs and checks it.

A search considers at most the ``SEARCH_MAX_RESULTS`` (default 1,000) most
recently added matching posts, so the count and the first page cost the same
at a thousand posts as at a million; a more specific query narrows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connections

from posts.search.base import ORDERS, Order, SearchBackend, SearchResults
from posts.search.mysql import MysqlBackend
from posts.search.parser import MAX_QUERY_LENGTH, MAX_WORDS, InvalidSearchQuery, ParsedQuery, Term, parse_query
from posts.search.postgresql import PostgresBackend
from posts.search.sqlite import SqliteBackend

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.db.models import QuerySet

__all__ = [
    "MAX_QUERY_LENGTH",
    "MAX_WORDS",
    "ORDERS",
    "InvalidSearchQuery",
    "Order",
    "ParsedQuery",
    "SearchBackend",
    "SearchResults",
    "Term",
    "backend_for",
    "index_problems",
    "max_results",
    "parse_query",
    "rebuild_index",
    "search_posts",
]

DEFAULT_MAX_RESULTS = 1000

BACKENDS: dict[str, SearchBackend] = {
    backend.vendor: backend for backend in (SqliteBackend(), PostgresBackend(), MysqlBackend())
}


def backend_for(connection: BaseDatabaseWrapper) -> SearchBackend:
    try:
        return BACKENDS[connection.vendor]
    except KeyError:
        raise NotImplementedError(f"Post search does not support the {connection.vendor!r} database.") from None


def max_results() -> int:
    return int(getattr(settings, "SEARCH_MAX_RESULTS", DEFAULT_MAX_RESULTS))


def search_posts(queryset: QuerySet, text: str, *, order: Order = "newest", all_posts: bool = False) -> SearchResults:
    """Posts of ``queryset`` matching ``text`` (title, body or author's username).

    ``order="newest"`` (default): newest first, ties broken by id.
    ``order="relevance"``: best match first (a word in the title weighs most),
    then newest. Annotates ``search_rank`` in that case.

    ``all_posts=True`` is the caller's word that ``queryset`` has no filter
    (ordering and ``select_related`` aside): the search index alone then
    picks the matches, which costs the same at any number of posts. With
    filters (an author, dates), leave it False: the matches are the newest
    among the rows those filters keep.

    At most ``SEARCH_MAX_RESULTS`` of the most recently added matching posts
    are returned. Raises :class:`InvalidSearchQuery` for text that cannot be
    searched (too long, too many words) or an unknown ``order``; text without
    any word gives no posts.
    """
    if order not in ORDERS:
        raise InvalidSearchQuery(f"Unknown order {order!r}: use one of {', '.join(ORDERS)}.")
    connection = connections[queryset.db]
    backend = backend_for(connection)
    parsed = parse_query(text, underscore_in_words=backend.underscore_in_words)
    if not parsed:
        return SearchResults(queryset.none(), known_count=0)
    parsed = backend.prepare(connection, parsed)
    return backend.search(queryset, parsed, order=order, limit=max_results(), all_posts=all_posts)


def rebuild_index(using: str) -> None:
    """Re-create the triggers where they can go missing and re-index every post."""
    connection = connections[using]
    backend = backend_for(connection)
    if not backend.is_installed(connection):
        raise RuntimeError("The search index does not exist; run `manage.py migrate posts` first.")
    with connection.cursor() as cursor:
        for statement in backend.rebuild_statements():
            cursor.execute(statement)


def index_problems(using: str) -> list[str]:
    """How the search index differs from the posts table; empty when they agree."""
    connection = connections[using]
    backend = backend_for(connection)
    if not backend.is_installed(connection):
        return ["the search index does not exist"]
    return backend.index_problems(connection)
