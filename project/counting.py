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

Django's ``Paginator`` is used as it is but for its count and deep pages. No
library can know which counter is right for a list, since that depends on the
filters its caller applied, and ``count()`` keeps the meaning Django gives it.
On an engine whose OFFSET reads every row it skips (``Engine.offset_reads_rows``),
a page far into a list (``CountedPaginator.deep_from``) is read in two steps,
the keys then the rows, so that the OFFSET skips index entries, not rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.paginator import Page, Paginator
from django.db import connections
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property

from dbtools.engines import engine_for


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

    #: From this row on, where the engine's OFFSET reads every row it skips, a
    #: page reads the primary keys of its rows first (an index alone gives
    #: them, in the list's order), then those rows: 0.85 s for page 2,000 of
    #: the API's posts at a million on MariaDB in one query. SQLite skips
    #: index entries by itself, and the two steps only add a query there.
    deep_from = 1000

    def __init__(self, object_list: Any, per_page: int | str, *args: Any, counter: Counter, **kwargs: Any) -> None:
        super().__init__(object_list, per_page, *args, **kwargs)
        self.counter = counter

    def page(self, number: int | str) -> Page:
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        if bottom < self.deep_from or not isinstance(self.object_list, QuerySet):
            return super().page(number)
        if not engine_for(self.object_list.db).offset_reads_rows:
            return super().page(number)
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        keys = list(self.object_list.values_list("pk", flat=True)[bottom:top])
        # The same ORDER BY over those rows alone gives them in the same order.
        return Page(list(self.object_list.filter(pk__in=keys)), number, self)

    @cached_property
    def counted(self) -> Count:
        return self.counter()

    @cached_property
    def count(self) -> int:
        return self.counted.value

    @property
    def count_is_exact(self) -> bool:
        return self.counted.exact
