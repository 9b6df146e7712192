"""Users over the REST API: sign-up, profiles, "me" and a user's posts.

Only ``username``, ``email`` and ``password`` are ever writable; ``is_staff``,
``is_superuser``, groups, permissions and the password hash are neither
readable nor writable here. ``email`` is shown to the user themself and to
staff only.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db.models import QuerySet
from django.http import HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from posts.api import PostSerializer, paginated_posts
from posts.models import Post
from project.counting import known, rows, whole_table
from project.httpcache import cached_page, data_stamp, mark_cacheable, not_modified, not_modified_response, row_etag
from project.serializers import (
    CharValueField,
    DateTimeValueField,
    EmailValueField,
    IntegerValueField,
    RowSerializer,
    StrictCharField,
)
from users.models import User
from users.services import user_create, user_delete, user_update


# A user, as every endpoint shows it (list rows are values() dicts, single
# users model instances), and sign-up's and updates' input. (A comment: the
# OpenAPI schema publishes a serializer's docstring.)
class UserSerializer(RowSerializer):
    id = IntegerValueField(read_only=True)
    # The model's case-sensitive uniqueness is the service's case-insensitive
    # check (and the unique index behind it), not a validator here.
    username = CharValueField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.",
    )
    email = EmailValueField(max_length=254, help_text="Shown only to the user themself and to staff.")
    # Checked by Django's password validators in the service; stored hashed; never shown.
    password = StrictCharField(write_only=True, max_length=128, trim_whitespace=False, style={"input_type": "password"})
    date_joined = DateTimeValueField()
    post_count = IntegerValueField(read_only=True)

    def to_representation(self, instance: Any) -> dict:
        data = super().to_representation(instance)
        if not may_see_email(self.context.get("request"), data["id"]):
            del data["email"]
        return data


def may_see_email(request: Request | None, user_id: int) -> bool:
    viewer = getattr(request, "user", None)
    return bool(viewer and viewer.is_authenticated and (viewer.pk == user_id or viewer.is_staff))


# The columns a user is shown with (UserSerializer), for list pages read as values() rows.
LIST_VALUES = ("id", "username", "email", "date_joined", "post_count")


class IsSelf(permissions.BasePermission):
    message = "You can only change your own account."

    def has_object_permission(self, request: Request, view: Any, obj: User) -> bool:
        return obj.pk == request.user.pk


class CanDeleteUser(permissions.BasePermission):
    """Staff delete users; only a superuser deletes a superuser."""

    def has_permission(self, request: Request, view: Any) -> bool:
        return bool(request.user and request.user.is_staff)

    def has_object_permission(self, request: Request, view: Any, obj: User) -> bool:
        return not obj.is_superuser or request.user.is_superuser


@extend_schema_view(
    list=extend_schema(parameters=[OpenApiParameter("search", str, description="Text in the username (any case).")]),
    posts=extend_schema(responses=PostSerializer(many=True)),
)
class UserViewSet(viewsets.ModelViewSet):
    serializer_class = UserSerializer
    lookup_value_regex = r"[0-9]{1,18}"
    cursor_ordering = ("id",)

    def get_permissions(self) -> list[permissions.BasePermission]:
        if self.action in {"update", "partial_update"}:
            return [permissions.IsAuthenticated(), IsSelf()]
        if self.action == "destroy":
            return [permissions.IsAuthenticated(), CanDeleteUser()]
        if self.action == "me":
            return [permissions.IsAuthenticated()]
        # list, retrieve, posts, and sign-up (create) are open to anyone.
        return [permissions.AllowAny()]

    def get_queryset(self) -> QuerySet:
        return User.objects.order_by("id")

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return PostSerializer if self.action == "posts" else UserSerializer

    def list(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # E-mail addresses are shown to their owner and to staff: the page depends on who asks.
        return cached_page(self, request, lambda: self.page_of_users(request), varies_by_viewer=True)

    def page_of_users(self, request: Request) -> Response:
        queryset = self.get_queryset()
        # Every user: the table's row count; a search: the matching rows' count.
        counter = whole_table(User, using=queryset.db)
        search = request.query_params.get("search", "")
        if search:
            # A NUL would reach the database driver (PostgreSQL refuses it): a 400 instead.
            if len(search) > 150 or "\x00" in search:
                raise ValidationError({"search": ["At most 150 characters, and no NUL characters."]})
            queryset = queryset.matching(search)
            counter = rows(queryset)
        page = self.paginator.paginate_queryset(queryset.values(*LIST_VALUES), request, self, counter=counter)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponseBase:
        user = self.get_object()
        shows_email = may_see_email(request, user.pk)
        etag = row_etag([*(getattr(user, name) for name in LIST_VALUES), shows_email])
        stamp = data_stamp()
        changed_at = stamp.changed_at if stamp else None
        if not_modified(request, etag, changed_at):
            return not_modified_response(request, etag, changed_at)
        response = Response(self.get_serializer(user).data)
        mark_cacheable(response, request, etag=etag, last_modified=changed_at)
        return response

    def perform_create(self, serializer: UserSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = user_create(username=data["username"], email=data["email"], password=data["password"])

    def perform_update(self, serializer: UserSerializer) -> None:
        data = serializer.validated_data
        user = user_update(
            user=serializer.instance,
            username=data.get("username"),
            email=data.get("email"),
            password=data.get("password"),
        )
        serializer.instance = self.get_queryset().get(pk=user.pk)

    def perform_destroy(self, instance: User) -> None:
        user_delete(user=instance)

    @action(detail=False, methods=["get"])
    def me(self, request: Request) -> Response:
        """The logged-in user, with their email."""
        # request.user is the whole row, read by the authentication this request.
        return Response(UserSerializer(request.user, context=self.get_serializer_context()).data)

    @action(detail=True, methods=["get"])
    def posts(self, request: Request, pk: str) -> HttpResponseBase:
        """The user's posts, newest first, paginated like /api/posts/."""

        def page() -> Response:
            # Read after the data version (cached_page), like every row of the page.
            user = self.get_object()
            # Counted by the user's own post_count, read with the user.
            posts = Post.objects.for_api().by_author(user).newest_first()
            return paginated_posts(self, posts, known(user.post_count))

        return cached_page(self, request, page)

    def get_object(self) -> User:
        if self.action == "posts":
            # Only existence and the post count matter here.
            user = get_object_or_404(User.objects.only("id", "post_count"), pk=self.kwargs["pk"])
            self.check_object_permissions(self.request, user)
            return user
        return super().get_object()


class TokenView(ObtainAuthToken):
    """Exchange a username and password for the user's API token.

    DRF's own view switches throttling off; this one keeps the API's throttles.
    """

    throttle_classes = api_settings.DEFAULT_THROTTLE_CLASSES
    renderer_classes = api_settings.DEFAULT_RENDERER_CLASSES

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().post(request, *args, **kwargs)
        # A credential: no cache may keep it.
        response["Cache-Control"] = "no-store"
        return response


def schema_email_is_optional_in_answers(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular hook: answers carry ``email`` only for oneself and staff, so it is not required there."""
    component = result.get("components", {}).get("schemas", {}).get("User")
    if component and "email" in component.get("required", []):
        component["required"].remove("email")
    return result
