"""Small pieces shared by the public pages of every app."""

from __future__ import annotations

from typing import Any


class PageLinksMixin:
    """For a paginated ListView: adds ``page_links``, the page numbers around the
    current page with ``…`` gaps (``Paginator.ELLIPSIS``), so a long list shows
    1 … 4 5 [6] 7 8 … 500 rather than every number."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        page = context.get("page_obj")
        if page is not None:
            context["page_links"] = list(page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
        return context
