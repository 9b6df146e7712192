from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest

from dbtools.engines import engine_for
from posts.admin_changelist import IndexFriendlyChangeList, PlainActionCheckbox
from posts.counting import PageIds, PostPaginator, bounded, ids_in_order, ids_sorted_by_author, posts_counter
from posts.models import Post
from posts.search import InvalidSearchQuery, SearchResults, search_posts
from project.counting import Counter
from users.models import User


def parse_author_id(value: str | None) -> int | None:
    # ASCII digits, and few enough to fit a 64-bit id column.
    if value and value.isascii() and value.isdigit() and len(value) <= 18:
        return int(value)
    return None


class AuthorFilter(admin.SimpleListFilter):
    """``?author=<id>``: the posts of one user, as linked from the user's page.

    The sidebar shows only the chosen author: Django's related-field filter
    would load and list every user on every page of the posts list."""

    title = "author"
    parameter_name = "author"

    def author_id(self) -> int | None:
        return parse_author_id(self.value())

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        author_id = self.author_id()
        if author_id is None:
            return []
        username = User.objects.filter(pk=author_id).values_list("username", flat=True).first()
        return [(self.value(), username)] if username is not None else []

    def has_output(self) -> bool:
        # Whenever the parameter is given: the changelist drops a filter
        # without output, and would then list every post for an unknown author.
        return self.value() is not None

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        author_id = self.author_id()
        if author_id is None:
            # The changelist answers with its "invalid lookup" redirect (?e=1).
            raise IncorrectLookupParameters(f"author must be a user id, not {value!r}")
        return queryset.filter(author_id=author_id)


class PostChangeList(IndexFriendlyChangeList):
    """The posts list, which knows what it filtered and so how to count it.

    Django hands ``ModelAdmin.get_search_results()`` and ``get_paginator()``
    the request, not the changelist: the changelist puts itself on the
    request (``request.posts_changelist``) for them, before either runs.
    """

    search_results: SearchResults | None = None
    author_order: str | None = None

    def get_queryset(self, request: HttpRequest, exclude_parameters: list[str] | None = None) -> QuerySet:
        # The list's filters are the query string's, less Django's own
        # parameters (page, sorting, search...): the ones the changelist applies.
        params = self.get_filters_params()
        self.author_id = parse_author_id(params["author"][-1]) if list(params) == ["author"] else None
        self.other_filters = bool(params) and self.author_id is None
        request.posts_changelist = self
        return super().get_queryset(request, exclude_parameters)

    @property
    def filtered(self) -> bool:
        return self.author_id is not None or self.other_filters

    def counter(self) -> Counter:
        return posts_counter(
            self.queryset,
            author_id=self.author_id,
            search=self.search_results,
            other_filters=self.other_filters,
            estimate=True,
        )

    def get_ordering(self, request: HttpRequest, queryset: QuerySet) -> list:
        ordering = super().get_ordering(request, queryset)
        # Sorted by author, the posts of each author come newest first, the
        # order of the (author, created_at, id) index: the database walks
        # users by username and each one's posts from that index, and stops
        # after one page. Tie-broken by id alone, it sorted the whole join
        # (all posts) first: 0.2 s at a million posts.
        first = ordering[0] if ordering else None
        by_author = isinstance(first, str) and first.lstrip("-") == "author__username"
        self.author_order = ("descending" if first.startswith("-") else "ascending") if by_author else None
        if by_author and ordering[-1] in ("pk", "-pk"):
            ordering[-1:] = ["-created_at", "-pk"]
        return ordering

    def page_ids(self) -> PageIds:
        """How the paginator reads a page's ids: in one query, or, for all posts
        sorted by author, from the authors the per-user counters place on the
        page: on an engine that would sort the whole join for any page, and
        on every engine for a page far into the list (from
        ``PostPaginator.deep_from`` rows), where the one query reads every
        post before it (halfway through a million: 25 ms on SQLite, 4.2 s
        with a cold page cache, 138 ms on PostgreSQL; the walk 1 to 3 ms,
        ``make bench-plans``)."""
        if self.author_order is None or self.filtered or self.search_results is not None:
            return ids_in_order
        descending = self.author_order == "descending"
        if not engine_for(self.queryset.db).joined_page_stops_early:
            return ids_sorted_by_author(descending=descending)

        def ids(queryset: QuerySet, bottom: int, top: int) -> list[int]:
            if bottom < PostPaginator.deep_from:
                return ids_in_order(queryset, bottom, top)
            return ids_sorted_by_author(descending=descending)(queryset, bottom, top)

        return ids


@admin.register(Post)
class PostAdmin(PlainActionCheckbox, admin.ModelAdmin):
    list_display = ["title", "author_name", "created_at", "updated_at"]
    # The author's name is in the same query as the posts (one JOIN), never
    # one query per row.
    list_select_related = ["author"]
    list_filter = [AuthorFilter, "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["title", "body", "author__username"]
    # A select listing every user would load the whole users table into each
    # form; the autocomplete asks for 20 matching names at a time.
    autocomplete_fields = ["author"]
    fields = ["author", "title", "body", "created_at", "updated_at"]
    readonly_fields = ["created_at", "updated_at"]
    # Counts from the per-user counters or bounded counts (posts/counting.py),
    # and no second COUNT(*) of the whole table for "N total".
    show_full_result_count = False
    # Facets ("Show counts") would run one COUNT per filter choice over the
    # whole table: seconds at a million posts, on a click.
    show_facets = admin.ShowFacets.NEVER

    # Saving: ModelAdmin's own path. The form runs the model's validation,
    # which checks the database constraints (title not blank, at most 200
    # characters) before writing, and the admin may change a post's author,
    # which posts.services does not offer. The database constraints remain
    # the last line for any other writer.

    @admin.display(description="author", ordering="author__username")
    def author_name(self, post: Post) -> str:
        return post.author.username

    def get_changelist(self, request: HttpRequest, **kwargs):
        return PostChangeList

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # The full-text search the API and the pages use (title, body, author
        # username), not search_fields' LIKE '%term%' scan of every row.
        # search_fields stays declared so that the changelist shows its box.
        if not search_term.strip():
            return queryset, False
        changelist = getattr(request, "posts_changelist", None)
        try:
            # With no filter, the index alone picks the matches (see search_posts).
            results = search_posts(queryset, search_term, all_posts=changelist is not None and not changelist.filtered)
        except InvalidSearchQuery as exc:
            self.message_user(request, f"Search: {exc}", level=messages.ERROR)
            results = SearchResults(queryset.none(), known_count=0)
        if changelist is not None:
            changelist.search_results = results
        return results.posts, False

    def get_paginator(
        self,
        request: HttpRequest,
        queryset: QuerySet,
        per_page: int,
        orphans: int = 0,
        allow_empty_first_page: bool = True,
    ) -> PostPaginator:
        changelist = getattr(request, "posts_changelist", None)
        if changelist is None:
            return PostPaginator(queryset, per_page, orphans, allow_empty_first_page, counter=bounded(queryset))
        return PostPaginator(
            queryset,
            per_page,
            orphans,
            allow_empty_first_page,
            counter=changelist.counter(),
            page_ids=changelist.page_ids(),
        )
