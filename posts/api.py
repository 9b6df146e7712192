"""Posts over the REST API: serializers and the viewset (thin; reads through
PostQuerySet methods, writes through posts.services)."""

from __future__ import annotations

import functools
from datetime import timezone as dt_timezone
from typing import Any

from django.db.models import QuerySet
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from posts.models import ORDERINGS, TITLE_MAX_LENGTH, Post
from posts.search import InvalidSearchQuery
from posts.services import post_create, post_delete, post_update

BODY_MAX_LENGTH = 100_000
# Ids are 64-bit integers in every supported database; a bigger number is not an id.
MAX_ID = 2**63 - 1


class AuthorSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)


class PostSerializer(serializers.ModelSerializer):
    author = AuthorSerializer(read_only=True)
    title = serializers.CharField(max_length=TITLE_MAX_LENGTH)
    body = serializers.CharField(max_length=BODY_MAX_LENGTH)
    # The API speaks UTC ("Z"), whatever TIME_ZONE says for display.
    created_at = serializers.DateTimeField(read_only=True, default_timezone=dt_timezone.utc)
    updated_at = serializers.DateTimeField(read_only=True, default_timezone=dt_timezone.utc)
    url = serializers.HyperlinkedIdentityField(view_name="post-detail")

    class Meta:
        model = Post
        fields = ["id", "title", "body", "author", "created_at", "updated_at", "url"]


# Columns a list page needs: one row per post, author joined in the same query.
LIST_VALUES = ("id", "title", "body", "created_at", "updated_at", "author_id", "author__username")


def represent_rows(rows: list[dict], request: Request) -> list[dict]:
    """The list pages' shape of PostSerializer, built from ``values()`` rows.

    Same keys and values as ``PostSerializer(post).data`` (a test holds them
    equal) at a fraction of the cost: no model instances, no field objects,
    one URL reverse per page instead of one per post. Datetimes stay datetime
    objects; the renderer writes them in the serializer's format.
    """
    base = request.build_absolute_uri(reverse("post-list"))
    return [
        {
            "id": row["id"],
            "title": row["title"],
            "body": row["body"],
            "author": {"id": row["author_id"], "username": row["author__username"]},
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
            "url": f"{base}{row['id']}/",
        }
        for row in rows
    ]


class PostFilterSerializer(serializers.Serializer):
    """Query parameters of the post list."""

    author = serializers.IntegerField(required=False, min_value=1, max_value=MAX_ID, help_text="Author's id.")
    author_username = serializers.CharField(required=False, max_length=150, help_text="Author's username (any case).")
    created_after = serializers.DateTimeField(
        required=False, default_timezone=dt_timezone.utc, help_text="Created at or after (ISO 8601; UTC if no offset)."
    )
    created_before = serializers.DateTimeField(
        required=False, default_timezone=dt_timezone.utc, help_text="Created before (ISO 8601; UTC if no offset)."
    )
    search = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=500,
        help_text='Full-text search in title, body and author username: words in any order, "a phrase", a prefix*.',
    )
    ordering = serializers.ChoiceField(
        required=False, choices=list(ORDERINGS), help_text="Sort order; not with ?cursor= (always newest first)."
    )


FILTER_PARAMS = frozenset(PostFilterSerializer().fields)


def filter_posts(queryset: QuerySet, request: Request) -> QuerySet:
    """Apply the list's query parameters; a bad value is a 400 naming the parameter."""
    params = request.query_params
    if FILTER_PARAMS.isdisjoint(params):
        return queryset  # The common case costs no validation.
    checker = PostFilterSerializer(data=params)
    checker.is_valid(raise_exception=True)
    wanted = checker.validated_data
    if "ordering" in wanted and "cursor" in params:
        raise ValidationError({"ordering": ["Cursor pages are always newest first; drop ?ordering= or ?cursor=."]})
    if "author" in wanted:
        queryset = queryset.filter(author_id=wanted["author"])
    if "author_username" in wanted:
        queryset = queryset.filter(author__username__iexact=wanted["author_username"])
    queryset = queryset.created_between(wanted.get("created_after"), wanted.get("created_before"))
    if wanted.get("search"):
        try:
            queryset = queryset.search(wanted["search"])
        except InvalidSearchQuery as exc:
            raise ValidationError({"search": [str(exc)]}) from exc
    if "ordering" in wanted:
        queryset = queryset.ordered(wanted["ordering"])
    return queryset


class IsAuthorOrStaffOrReadOnly(permissions.BasePermission):
    """Anyone reads; only the post's author or staff change or delete it."""

    def has_object_permission(self, request: Request, view: Any, obj: Post) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return obj.author_id == request.user.pk or request.user.is_staff


def paginated_posts(view: viewsets.GenericViewSet, queryset: QuerySet) -> Response:
    """One page of posts (page number or cursor) in the list shape."""
    page = view.paginator.paginate_rows(queryset, view.request, view, LIST_VALUES)
    return view.get_paginated_response(represent_rows(page, view.request))


@functools.cache
def _posts_newest_first() -> QuerySet:
    return Post.objects.with_author().newest_first()


@extend_schema_view(list=extend_schema(parameters=[PostFilterSerializer]))
class PostViewSet(viewsets.ModelViewSet):
    serializer_class = PostSerializer
    permission_classes = [permissions.IsAuthenticatedOrReadOnly, IsAuthorOrStaffOrReadOnly]
    # Ids are digits, at most 18 of them (a 64-bit integer); anything else is a JSON 404.
    lookup_value_regex = r"[0-9]{1,18}"
    cursor_ordering = ("-created_at", "-id")

    def get_queryset(self) -> QuerySet:
        # A clone of a queryset built once (the join and ordering resolved
        # once per process); a clone never carries results.
        return _posts_newest_first().all()

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return paginated_posts(self, filter_posts(self.get_queryset(), request))

    def perform_create(self, serializer: PostSerializer) -> None:
        # The author is whoever is logged in, never a value from the payload.
        serializer.instance = post_create(author=self.request.user, **serializer.validated_data)

    def perform_update(self, serializer: PostSerializer) -> None:
        serializer.instance = post_update(post=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: Post) -> None:
        post_delete(post=instance)
