"""A changelist whose tie-breaker follows the sort direction.

To make every page's order total, Django's changelist appends ``-pk`` to an
ordering without a unique field, whatever the direction of the first column:
sorting by title gives ``ORDER BY title ASC, id DESC``. No index on
``(title, id)`` can return that order, so PostgreSQL sorts within each title
and MariaDB/MySQL sort the whole table. Appending ``pk`` in the direction of
the first sort column gives ``title ASC, id ASC`` (or both descending), which
an index on ``(column, id)`` reads in order, forwards or backwards.
"""

from __future__ import annotations

from django.contrib.admin.views.main import ChangeList
from django.db.models import F, OrderBy


def _descending(part: object) -> bool | None:
    if isinstance(part, str):
        return part.startswith("-")
    if isinstance(part, OrderBy):
        return part.descending
    if isinstance(part, F):
        return False
    return None


class IndexFriendlyChangeList(ChangeList):
    def get_ordering(self, request, queryset) -> list:
        ordering = super().get_ordering(request, queryset)
        # "-pk" at the end is only ever the tie-breaker Django added: an
        # ordering that already held the primary key would not get one.
        if len(ordering) >= 2 and ordering[-1] == "-pk" and _descending(ordering[0]) is False:
            ordering[-1] = "pk"
        return ordering
