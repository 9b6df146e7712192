"""Posts over the REST API: serializers and the viewset (thin; reads through
PostQuerySet methods, writes through posts.services)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timezone as dt_timezone
from typing import Any

from django.db import connection, transaction
from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from posts.counting import posts_counter
from posts.models import ORDERINGS, TITLE_MAX_LENGTH, Post, PostQuerySet
from posts.search import InvalidSearchQuery, search_posts
from posts.services import post_create, post_delete, post_update
from project.api import PreconditionFailed
from project.counting import Counter
from project.httpcache import (
    cached_page,
    data_stamp,
    if_match_fails,
    mark_cacheable,
    not_modified,
    not_modified_response,
    row_etag,
)
from project.serializers import CharValueField, DateTimeValueField, IntegerValueField, RowSerializer, StrictCharField

BODY_MAX_LENGTH = 100_000
# Ids are 64-bit integers in every supported database; a bigger number is not an id.
MAX_ID = 2**63 - 1


# Comments, not docstrings, on the serializers: drf-spectacular publishes a
# serializer's docstring as its description in the OpenAPI schema.


# A post's author, read from the post's author_id and author_username (see
# PostQuerySet.for_api), so that a page of posts needs no User objects.
class AuthorSerializer(RowSerializer):
    id = IntegerValueField(source="author_id", read_only=True)
    username = CharValueField(source="author_username", read_only=True)


@extend_schema_field(OpenApiTypes.URI)
class PostURLField(serializers.Field):
    """The post's URL, like ``HyperlinkedIdentityField`` but reversing the
    route once per response instead of once per post."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, source="*", **kwargs)

    def to_representation(self, post: Any) -> str:
        base = getattr(self, "_base", None)
        if base is None:
            request = self.context.get("request")
            path = reverse("post-list")
            base = self._base = request.build_absolute_uri(path) if request is not None else path
        return f"{base}{post['id'] if isinstance(post, Mapping) else post.pk}/"


# A post, as every endpoint shows it: list rows are values() dicts, single
# posts model instances; both carry author_username.
class PostSerializer(RowSerializer):
    id = IntegerValueField(read_only=True)
    title = CharValueField(max_length=TITLE_MAX_LENGTH)
    body = CharValueField(max_length=BODY_MAX_LENGTH)
    author = AuthorSerializer(source="*", read_only=True)
    created_at = DateTimeValueField()
    updated_at = DateTimeValueField()
    url = PostURLField()


class PostFilterSerializer(serializers.Serializer):
    """Query parameters of the post list."""

    author = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Author's id.")
    # StrictCharField: at most max_length characters as sent, which is what the
    # schema's maxLength says (DRF's CharField counts after trimming whitespace).
    author_username = StrictCharField(required=False, max_length=150, help_text="Author's username (any case).")
    created_after = serializers.DateTimeField(
        required=False, default_timezone=dt_timezone.utc, help_text="Created at or after (ISO 8601; UTC if no offset)."
    )
    created_before = serializers.DateTimeField(
        required=False, default_timezone=dt_timezone.utc, help_text="Created before (ISO 8601; UTC if no offset)."
    )
    search = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text='Full-text search in title, body and author username: words in any order, "a phrase", a prefix*.',
    )
    ordering = serializers.ChoiceField(
        required=False, choices=list(ORDERINGS), help_text="Sort order; not with ?cursor= (always newest first)."
    )


FILTER_PARAMS = frozenset(PostFilterSerializer().fields)


def filter_posts(queryset: QuerySet, request: Request) -> tuple[QuerySet, Counter]:
    """Apply the list's query parameters; a bad value is a 400 naming the parameter.

    Returns the posts and how to count them (from the filters applied here,
    see ``posts.counting.posts_counter``).
    """
    params = request.query_params
    if FILTER_PARAMS.isdisjoint(params):
        return queryset, posts_counter(queryset)  # The common case costs no validation.
    # DRF reads an empty optional query parameter as an absent one; the schema
    # says a value, so ?author= is refused like any other value that is not one.
    blank = {
        name: ["This parameter may not be blank."] for name in FILTER_PARAMS - {"search"} if params.get(name) == ""
    }
    if blank:
        raise ValidationError(blank)
    checker = PostFilterSerializer(data=params)
    checker.is_valid(raise_exception=True)
    wanted = checker.validated_data
    if "ordering" in wanted and "cursor" in params:
        raise ValidationError({"ordering": ["Cursor pages are always newest first; drop ?ordering= or ?cursor=."]})
    author_id = wanted.get("author")
    if author_id is not None:
        queryset = queryset.filter(author_id=author_id)
    other_filters = bool({"author_username", "created_after", "created_before"} & set(wanted))
    if "author_username" in wanted:
        queryset = queryset.filter(author__username__iexact=wanted["author_username"])
    queryset = queryset.created_between(wanted.get("created_after"), wanted.get("created_before"))
    results = None
    if wanted.get("search"):
        try:
            results = search_posts(queryset, wanted["search"], all_posts=author_id is None and not other_filters)
        except InvalidSearchQuery as exc:
            raise ValidationError({"search": [str(exc)]}) from exc
        queryset = results.posts
    if "ordering" in wanted:
        queryset = queryset.sorted_by(wanted["ordering"])
    return queryset, posts_counter(queryset, author_id=author_id, search=results, other_filters=other_filters)


class IsAuthorOrStaffOrReadOnly(permissions.BasePermission):
    """Anyone reads; only the post's author or staff change or delete it."""

    def has_object_permission(self, request: Request, view: Any, obj: Post) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return obj.author_id == request.user.pk or request.user.is_staff


def paginated_posts(view: viewsets.GenericViewSet, queryset: QuerySet, counter: Counter) -> Response:
    """One page of posts (page number or cursor) in the list shape."""
    page = view.paginator.paginate_queryset(
        queryset.values(*PostQuerySet.API_VALUES), view.request, view, counter=counter
    )
    return view.get_paginated_response(PostSerializer(page, many=True, context=view.get_serializer_context()).data)


def post_etag(post: Post) -> str:
    """A post's ETag: a digest of its row as the API shows it (no rendering)."""
    return row_etag(getattr(post, name) for name in PostQuerySet.API_VALUES)


# Unsafe methods on one post: its row is locked while If-Match is compared and the change written.
CHANGES = ("PUT", "PATCH", "DELETE")


@extend_schema_view(list=extend_schema(parameters=[PostFilterSerializer]))
class PostViewSet(viewsets.ModelViewSet):
    serializer_class = PostSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsAuthorOrStaffOrReadOnly]
    # Ids are digits, at most 18 of them (a 64-bit integer); anything else is a JSON 404.
    lookup_value_regex = r"[0-9]{1,18}"
    cursor_ordering = ("-created_at", "-id")

    def get_queryset(self) -> QuerySet:
        posts = Post.objects.for_api().newest_first()
        if self.request.method in CHANGES:
            # Only the post's row (the author's is only read), where the engine can say so.
            of = ("self",) if connection.features.has_select_for_update_of else ()
            posts = posts.select_for_update(of=of)
        return posts

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return cached_page(self, request, lambda: paginated_posts(self, *filter_posts(self.get_queryset(), request)))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        post = self.get_object()
        etag, stamp = post_etag(post), data_stamp()
        # Last-Modified: when anything the API shows last changed (the author's
        # name is part of a post, and has no time of its own).
        changed_at = stamp.changed_at if stamp else None
        if not_modified(request, etag, changed_at):
            return not_modified_response(request, etag, changed_at)
        response = Response(self.get_serializer(post).data)
        mark_cacheable(response, request, etag=etag, last_modified=changed_at)
        return response

    def get_object(self) -> Post:
        post = super().get_object()
        if self.request.method in CHANGES and if_match_fails(self.request, post_etag(post)):
            raise PreconditionFailed
        return post

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic(using=Post.objects.db):
            response = super().update(request, *args, **kwargs)
        response["ETag"] = f'"{post_etag(self._changed)}"'
        return response

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with transaction.atomic(using=Post.objects.db):
            return super().destroy(request, *args, **kwargs)

    def perform_create(self, serializer: PostSerializer) -> None:
        # The author is whoever is logged in, never a value from the payload.
        post = post_create(author=self.request.user, **serializer.validated_data)
        post.author_username = self.request.user.username  # What for_api() reads with the post.
        serializer.instance = self._created = post

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().create(request, *args, **kwargs)
        response["ETag"] = f'"{post_etag(self._created)}"'
        return response

    def perform_update(self, serializer: PostSerializer) -> None:
        serializer.instance = self._changed = post_update(post=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: Post) -> None:
        post_delete(post=instance)
