"""``{% indexed_date_hierarchy cl %}``: the admin's date drill-down, without
reading every row.

Django's ``date_hierarchy`` tag lists the years (or months, or days) that hold
rows with ``SELECT DISTINCT <truncate>(created_at)`` over every matching row,
and finds its starting level with ``MIN()`` and ``MAX()`` in one query, which
SQLite cannot answer from an index (its min/max shortcut needs a query with a
single aggregate). At a million posts both read the whole table.

This tag keeps Django's links and template and changes only those queries:
the first and last date are two ``ORDER BY ... LIMIT 1`` seeks, and the
periods that hold rows are found by skipping: seek the first row at or after
the start, note its period, seek again from the start of the next period. One
index seek per period shown (at most 32), whatever the number of rows.
"""

from __future__ import annotations

from datetime import datetime

from django import template
from django.contrib.admin.templatetags.admin_list import date_hierarchy
from django.contrib.admin.templatetags.base import InclusionAdminNode
from django.db.models import QuerySet
from django.utils import timezone

register = template.Library()


def _period_start(moment: datetime, kind: str) -> datetime:
    local = timezone.localtime(moment)
    tz = local.tzinfo
    if kind == "year":
        return datetime(local.year, 1, 1, tzinfo=tz)
    if kind == "month":
        return datetime(local.year, local.month, 1, tzinfo=tz)
    return datetime(local.year, local.month, local.day, tzinfo=tz)


def _next_period(start: datetime, kind: str) -> datetime:
    if kind == "year":
        return start.replace(year=start.year + 1)
    if kind == "month":
        return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
    ordinal = start.date().toordinal() + 1
    following = datetime.fromordinal(ordinal)
    return datetime(following.year, following.month, following.day, tzinfo=start.tzinfo)


def periods_with_rows(queryset: QuerySet, field: str, kind: str, *, earliest: datetime | None = None) -> list[datetime]:
    """Start of every ``kind`` ("year", "month" or "day") period, in the
    current time zone, holding at least one row of ``queryset``: what
    ``queryset.datetimes(field, kind)`` returns, in one seek per period.
    ``earliest``, when the caller already knows the first value, saves a seek."""
    if kind not in ("year", "month", "day"):
        raise ValueError(f"kind must be year, month or day, not {kind!r}")
    found: list[datetime] = []
    lower: datetime | None = None
    while True:
        if earliest is not None:
            first, earliest = earliest, None
        elif lower is None:
            first = queryset.order_by(field).values_list(field, flat=True).first()
        else:
            # The new lower bound goes first in the WHERE clause: given two
            # lower bounds on one column (the seek's and a date filter's),
            # SQLite starts its index range at the first one it reads, and
            # would walk from the start of the filtered range on every seek.
            seek = queryset.model._default_manager.filter(**{f"{field}__gte": lower}) & queryset
            first = seek.order_by(field).values_list(field, flat=True).first()
        if first is None:
            return found
        start = _period_start(first, kind)
        found.append(start)
        lower = _next_period(start, kind)


class _IndexedDates:
    """Stands in for the changelist's queryset in Django's tag: only the two
    calls the tag makes, each answered with index seeks."""

    def __init__(self, queryset: QuerySet, field: str) -> None:
        self._queryset = queryset
        self._field = field
        self._earliest: datetime | None = None

    def aggregate(self, **_expressions) -> dict[str, datetime | None]:
        # The tag asks for first=Min(field), last=Max(field) of this queryset.
        values = self._queryset.values_list(self._field, flat=True)
        self._earliest = values.order_by(self._field).first()
        return {"first": self._earliest, "last": values.order_by(f"-{self._field}").first()}

    def datetimes(self, field: str, kind: str) -> list[datetime]:
        return periods_with_rows(self._queryset, field, kind, earliest=self._earliest)

    dates = datetimes


class _ChangeListView:
    def __init__(self, cl) -> None:
        self._cl = cl
        self.queryset = _IndexedDates(cl.queryset, cl.date_hierarchy)

    def __getattr__(self, name: str):
        return getattr(self._cl, name)


def indexed_date_hierarchy(cl) -> dict | None:
    if not cl.date_hierarchy:
        return None
    return date_hierarchy(_ChangeListView(cl))


@register.tag(name="indexed_date_hierarchy")
def indexed_date_hierarchy_tag(parser, token):
    return InclusionAdminNode(
        parser, token, func=indexed_date_hierarchy, template_name="date_hierarchy.html", takes_context=False
    )
