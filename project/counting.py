"""How a paginated list is counted: the one counting API the paginators call.

A paginator needs the number of rows of its list, and ``queryset.count()``
(a ``SELECT COUNT(*)`` over the filtered rows) is often not the cheapest
right answer: a counter the database keeps, a search index, or a bounded
count with an estimate can be far cheaper at a million rows. Only the code
that filtered the list knows which of those is right, so it says so: it
builds a *counter* (a function returning a :class:`Count`) from the filters
it applied, and hands it to the paginator with the queryset. Nothing here
reads a queryset's compiled query to guess what was filtered.

Counters for any model are here; the posts' own (the per-user counters, a
search, the admin's estimate) are in ``posts/counting.py``.

Django's ``Paginator`` is used as it is; only its count is ours. No library
can know which counter is right for a list, since that depends on the filters
its caller applied, and ``count()`` keeps the meaning Django gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property


@dataclass(frozen=True)
class Count:
    """A number of rows, and whether it is exact (an estimate is shown as one)."""

    value: int
    exact: bool = True


Counter = Callable[[], Count]


def rows(queryset: QuerySet) -> Counter:
    """Django's own count of the queryset (``SELECT COUNT(*)`` of its rows)."""
    return lambda: Count(queryset.count())


def whole_table(model: type[Model], *, using: str) -> Counter:
    """Every row of ``model``'s table, for a list the caller did not filter.

    The same single ``SELECT COUNT(*) FROM <table>`` that ``model.objects.count()``
    sends, written once instead of compiled by the ORM on every list request
    (most of its cost on SQLite). The caller's word that nothing is filtered
    is what makes it right.
    """

    def count() -> Count:
        connection = connections[using]
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - a quoted table name from the model
            return Count(cursor.fetchone()[0])

    return count


def known(value: int) -> Counter:
    """A number the caller already has (read with the row that owns the list, say)."""
    return lambda: Count(value)


class CountedPaginator(Paginator):
    """Django's paginator, counting with the counter it is given.

    ``count`` is the counter's number; ``count_is_exact`` says whether a page
    may call it a count or must call it an estimate.
    """

    def __init__(self, object_list: Any, per_page: int | str, *args: Any, counter: Counter, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.counter = counter

    @cached_property
    def counted(self) -> Count:
        return self.counter()

    @cached_property
    def count(self) -> int:
        return self.counted.value

    @property
    def count_is_exact(self) -> bool:
        return self.counted.exact
