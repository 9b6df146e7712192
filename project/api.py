"""Project-wide REST API glue: JSON renderer and parser, pagination,
throttling, the exception handler and the JSON 404 for unknown API paths.
The endpoints themselves live in ``posts/api.py`` and ``users/api.py``; the
router is in ``project/urls.py``."""

from __future__ import annotations

import dataclasses
import functools
import time
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.db import connections, router
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy as _
from django.views.defaults import page_not_found
from rest_framework import authentication, exceptions, pagination, parsers, renderers, throttling
from rest_framework.request import Request
from rest_framework.response import Response


def _default(value: Any) -> Any:
    # orjson handles str/int/dict/list subclasses, datetimes and UUIDs itself;
    # lazy translation strings and decimals are all that is left in practice.
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


class ORJSONRenderer(renderers.JSONRenderer):
    """JSON through orjson: several times faster than the standard library for
    a page of posts. Datetimes come out in DRF's own format (ISO 8601, "Z")."""

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_UTC_Z)


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's token authentication with the same single query (token JOIN
    user), written once as SQL instead of compiled by the ORM on every request.

    Nothing is cached: a deleted token or a deactivated user is refused from
    the next request on. ``request.user`` is a complete User (every concrete
    column loaded, converted as the ORM converts it); ``request.auth`` is the Token.
    """

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        token_model = self.get_model()
        db = router.db_for_read(token_model)
        connection = connections[db]
        lookup = _token_lookup(token_model, connection.alias)
        with connection.cursor() as cursor:
            cursor.execute(lookup.sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        # The conversions the ORM would apply (SQLite's 0/1 to bool, text to aware datetimes, ...).
        values = list(row)
        for i, col, funcs in lookup.converters:
            for func in funcs:
                values[i] = func(values[i], col, connection)
        # from_db takes every concrete field's value, in the model's field order.
        token = token_model.from_db(db, lookup.token_names, values[: lookup.token_width])
        user_values = [values[i] for i in lookup.user_indexes]
        user = lookup.user_model.from_db(db, lookup.user_names, user_values)
        token._state.fields_cache["user"] = user
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, token


@dataclasses.dataclass(frozen=True)
class _TokenLookup:
    sql: str
    converters: list[tuple[int, Any, list]]
    token_names: list[str]
    token_width: int
    user_model: Any
    user_names: list[str]
    user_indexes: list[int]


@functools.cache
def _token_lookup(token_model: Any, alias: str) -> _TokenLookup:
    """The token lookup's SQL and how to turn its row into a Token and a User.

    The row is the token's columns then the user's, the user's primary key
    read from the token's foreign key column (the join makes them equal).
    """
    connection = connections[alias]
    qn = connection.ops.quote_name
    t_opts = token_model._meta
    user_fk = t_opts.get_field("user")
    user_model = user_fk.related_model
    u_opts = user_model._meta
    token_fields = list(t_opts.concrete_fields)
    user_fields = [f for f in u_opts.concrete_fields if not f.primary_key]
    cols = [f.get_col("t") for f in token_fields] + [f.get_col("u") for f in user_fields]
    fk_index = token_fields.index(user_fk)
    user_indexes, next_index = [], len(token_fields)
    for f in u_opts.concrete_fields:
        if f.primary_key:
            user_indexes.append(fk_index)
        else:
            user_indexes.append(next_index)
            next_index += 1
    converters = []
    for i, col in enumerate(cols):
        funcs = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
        if funcs:
            converters.append((i, col, funcs))
    columns = ", ".join([f"t.{qn(f.column)}" for f in token_fields] + [f"u.{qn(f.column)}" for f in user_fields])
    # Only quoted table and column names from the models go into the text; the key is a parameter.
    sql = (
        f"SELECT {columns} FROM {qn(t_opts.db_table)} t "  # noqa: S608
        f"INNER JOIN {qn(u_opts.db_table)} u ON u.{qn(u_opts.pk.column)} = t.{qn(user_fk.column)} "
        f"WHERE t.{qn(t_opts.get_field('key').column)} = %s"
    )
    return _TokenLookup(
        sql=sql,
        converters=converters,
        token_names=[f.attname for f in token_fields],
        token_width=len(token_fields),
        user_model=user_model,
        user_names=[f.attname for f in u_opts.concrete_fields],
        user_indexes=user_indexes,
    )


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class ORJSONParser(parsers.BaseParser):
    """JSON request bodies, size-capped.

    DRF reads the body stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    never sees a JSON body; the cap is applied here (413). orjson also refuses
    invalid UTF-8 and lone surrogates, which would otherwise reach the
    database driver and fail there.
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if stream is not None else b""
        if limit is not None and len(raw) > limit:
            raise RequestTooLarge(f"The request body is larger than {limit} bytes.")
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc


class PageOrCursorPagination(pagination.PageNumberPagination):
    """``?page=N&page_size=K`` by default; cursor pagination when ``?cursor=`` is present.

    Page numbers answer ``{count, next, previous, results}``: one COUNT(*) and
    one page query, but the OFFSET grows with depth. A cursor (``?cursor=`` is
    the first page, ``next`` carries the token) answers ``{next, previous,
    results}`` newest first, from the (created_at, id) index, at the same cost
    at any depth and without the COUNT.
    """

    page_size = settings.REST_FRAMEWORK.get("PAGE_SIZE", 20)
    # Clients choose the page size with ?page_size=, capped (not refused) at 100.
    page_size_query_param = "page_size"
    max_page_size = 100
    cursor_query_param = "cursor"

    def _cursor_paginator(self, view: Any) -> pagination.CursorPagination:
        paginator = pagination.CursorPagination()
        paginator.page_size = self.page_size
        paginator.page_size_query_param = self.page_size_query_param
        paginator.max_page_size = self.max_page_size
        # Views name their keyset ordering; it must match an index and be unique.
        paginator.ordering = getattr(view, "cursor_ordering", ("-created_at", "-id"))
        return paginator

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list | None:
        self.cursor_paginator = None
        if self.cursor_query_param in request.query_params:
            self.cursor_paginator = self._cursor_paginator(view)
            return self.cursor_paginator.paginate_queryset(queryset, request, view)
        return super().paginate_queryset(queryset, request, view)

    def paginate_rows(self, queryset: QuerySet, request: Request, view: Any, fields: tuple[str, ...]) -> list[dict]:
        """Like paginate_queryset, but the page is ``values(*fields)`` dicts.

        The COUNT(*) runs on ``queryset`` itself, which (select_related aside,
        which COUNT ignores) has no joins, so it is answered from an index; a
        ``values()`` queryset naming a related column would drag its join
        into the COUNT. Only the page query selects ``fields``.
        """
        self.cursor_paginator = None
        if self.cursor_query_param in request.query_params:
            self.cursor_paginator = self._cursor_paginator(view)
            return self.cursor_paginator.paginate_queryset(queryset.values(*fields), request, view)
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        total = whole_table_count(queryset)
        if total is not None:
            paginator.count = total  # A cached_property: the paginator's own COUNT then never runs.
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            raise exceptions.NotFound(self.invalid_page_message.format(page_number=page_number, message=exc)) from exc
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page.object_list.values(*fields))

    def get_paginated_response(self, data: Any) -> Response:
        if self.cursor_paginator is not None:
            return self.cursor_paginator.get_paginated_response(data)
        return super().get_paginated_response(data)

    def get_html_context(self) -> dict:
        if self.cursor_paginator is not None:
            return self.cursor_paginator.get_html_context()
        return super().get_html_context()

    def get_paginated_response_schema(self, schema: dict) -> dict:
        described = super().get_paginated_response_schema(schema)
        # "count" is absent from cursor pages.
        described["required"] = ["results"]
        described["properties"]["count"]["description"] = "Total number of items (page-number pagination only)."
        return described

    def get_schema_operation_parameters(self, view: Any) -> list[dict]:
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Cursor pagination: empty for the first page, then the token from `next`.",
                "schema": {"type": "string"},
            },
        ]


def whole_table_count(queryset: QuerySet) -> int | None:
    """``SELECT COUNT(*) FROM <table>`` when ``queryset`` is the whole table, else None.

    The same single query as ``queryset.count()``, without building and
    compiling an ORM query for it on every list request (most of the COUNT's
    cost in SQLite). Only for a queryset without filters, DISTINCT, GROUP BY,
    slicing, combinations or extra(): ordering, select_related (non-null
    foreign keys) and non-aggregate annotations never change the row count.
    """
    query = queryset.query
    if (
        query.where
        or query.distinct
        or query.group_by is not None
        or query.combinator
        or query.low_mark
        or query.high_mark is not None
        or query.extra
        or any(getattr(a, "contains_aggregate", True) for a in query.annotations.values())
        or queryset._result_cache is not None
    ):
        return None
    connection = connections[queryset.db]
    table = connection.ops.quote_name(queryset.model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")  # noqa: S608 - a quoted table name from the model
        return cursor.fetchone()[0]


class FixedWindowThrottleMixin:
    """Count requests per client in fixed windows with an atomic increment.

    DRF's stock throttles keep a list of timestamps per client, read and
    rewritten on every request: the list grows with the rate (thousands of
    entries at high rates) and two processes can overwrite each other's
    update. A counter per window is one add-if-absent and one increment,
    atomic in Redis, whatever the rate.
    """

    cache_format = "throttle:%(scope)s:%(ident)s"

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        self.now = time.time()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        key = f"{key}:{window}"
        # The counter outlives its window by a little, so that it always expires.
        ttl = int(self.duration) + 5
        backend = caches[DEFAULT_CACHE_ALIAS]
        if isinstance(backend, RedisCache):
            count = _redis_count(backend, key, ttl)
        else:
            self.cache.add(key, 0, ttl)
            try:
                count = self.cache.incr(key)
            except ValueError:  # Expired between add() and incr().
                self.cache.set(key, 1, ttl)
                count = 1
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_end - self.now, 0.0)


# INCR, and the expiry set by the request that created the counter, atomically
# inside Redis: one command per request, where a pipeline of SET NX + INCR is
# two commands to pack and two answers to parse.
_COUNT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


def _redis_count(backend: RedisCache, key: str, ttl: int) -> int:
    """Increment the window's counter (created with an expiry if absent) in one round trip."""
    full_key = backend.make_and_validate_key(key)
    # Django's get_client() builds a new Redis client object on every call; one
    # per connection pool is enough (the pool hands out the connections, per thread).
    pool = backend._cache._get_connection_pool(write=True)
    client = _redis_clients.get(pool)
    if client is None:
        client = _redis_clients[pool] = backend._cache._client(connection_pool=pool)
    global _count_script
    if _count_script is None:
        _count_script = client.register_script(_COUNT_SCRIPT)
    # EVALSHA; the script is loaded again by itself after a Redis restart (NoScriptError).
    return int(_count_script(keys=[full_key], args=[ttl], client=client))


_count_script: Any = None
_redis_clients: dict[Any, Any] = {}


class AnonThrottle(FixedWindowThrottleMixin, throttling.AnonRateThrottle):
    """Anonymous clients, by address; rate from API_THROTTLE_ANON."""


class UserThrottle(FixedWindowThrottleMixin, throttling.UserRateThrottle):
    """Authenticated users, by user id; rate from API_THROTTLE_USER."""

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # Anonymous clients are AnonThrottle's business; counting them here too
        # would cost a second counter per request for nothing.
        if not request.user or not request.user.is_authenticated:
            return None
        return super().get_cache_key(request, view)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus Django's ValidationError (raised by the services) as a 400."""
    # Imported here: rest_framework.views reads the renderer setting, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A JSON 404 for unknown paths under /api/ (e.g. a non-numeric or huge id); HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)
