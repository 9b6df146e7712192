"""Project-wide REST API glue: JSON renderer and parser, pagination,
throttling, the exception handler and the JSON 404 for unknown API paths.
The endpoints themselves live in ``posts/api.py`` and ``users/api.py``; the
router is in ``project/urls.py``."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.http import HttpRequest, HttpResponse
from django.views.defaults import page_not_found
from rest_framework import exceptions, pagination, parsers, renderers, throttling
from rest_framework.request import Request
from rest_framework.response import Response

from project.clientaddr import client_address
from project.counting import CountedPaginator, Counter, rows
from project.errors import error_body, error_response, flatten_fields


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


class RequestTooLarge(exceptions.APIException):
    status_code = 413
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class PreconditionFailed(exceptions.APIException):
    status_code = 412
    default_detail = "The resource changed since the ETag given in If-Match; read it again."
    default_code = "precondition_failed"


class ORJSONParser(parsers.BaseParser):
    """JSON request bodies, size-capped.

    DRF reads the body stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    never sees a JSON body. The cap is ``API_MAX_BODY_BYTES``, the one limit
    of an API request body: ``ApiRequestLimitsMiddleware`` refuses a larger
    declared Content-Length before anything reads it, this parser a body
    that turns out larger than declared (chunked, or a lying header); both
    answer 413. orjson also refuses invalid UTF-8 and lone surrogates, which
    would otherwise reach the database driver and fail there.
    """

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict | None = None) -> Any:
        limit = settings.API_MAX_BODY_BYTES
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
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

    def paginate_queryset(
        self, queryset: Any, request: Request, view: Any = None, *, counter: Counter | None = None
    ) -> list | None:
        """One page of ``queryset``. ``counter`` says how to count the list for
        page-number pages (see ``project.counting``); without one, Django's
        ``count()``. Cursor pages are never counted."""
        self.cursor_paginator = None
        page = request.query_params.get(self.page_query_param)
        if page is not None and not page.isdigit() and page != "last":
            # No such page, in either mode (DRF's cursor pages would ignore it).
            raise exceptions.NotFound(self.invalid_page_message.format(page_number=page, message="Not a number."))
        size = request.query_params.get(self.page_size_query_param)
        if size is not None and not size.lstrip("-").isdigit():
            # DRF would fall back to the default size; the schema says an integer.
            raise exceptions.ValidationError({self.page_size_query_param: ["A whole number is required."]})
        if self.cursor_query_param in request.query_params:
            self.cursor_paginator = self._cursor_paginator(view)
            return self.cursor_paginator.paginate_queryset(queryset, request, view)
        # DRF's page-number pagination, with the counter given to the paginator.
        self.request = request
        paginator = CountedPaginator(queryset, self.get_page_size(request), counter=counter or rows(queryset))
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            raise exceptions.NotFound(self.invalid_page_message.format(page_number=page_number, message=exc)) from exc
        if paginator.num_pages > 1 and self.template is not None:
            self.display_page_controls = True
        return list(self.page)

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


class FixedWindowThrottleMixin(throttling.SimpleRateThrottle):
    """Count requests per client in fixed windows with an atomic increment.

    DRF's stock throttles keep a list of timestamps per client, read and
    rewritten on every request: the list grows with the rate (thousands of
    entries at high rates) and two processes can overwrite each other's
    update. A counter per window is one increment through Django's cache
    API, atomic on Redis, whatever the rate. The increment comes first: the
    counter exists for all but a window's first request, and ``incr`` of a
    missing key raises ``ValueError``, when ``add`` creates it (with an
    expiry); a lost race to create it ends in an increment of the winner's.
    """

    cache_format = "throttle:%(scope)s:%(ident)s"

    def get_ident(self, request: Request) -> str:
        # The one rule for the client's address (project.clientaddr), which the
        # lockout and the request log use too. DRF's own reads the same setting
        # but, given fewer X-Forwarded-For entries than trusted proxies, takes
        # the left-most one, which the client may have written itself.
        return client_address(request) or ""

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
        try:
            count = self.cache.incr(key)
        except ValueError:
            # The counter outlives its window by a little, so that it always
            # expires; add() refuses when another request created it meanwhile.
            count = 1 if self.cache.add(key, 1, int(self.duration) + 5) else self.cache.incr(key)
        announce_rate_limit(view, limit=self.num_requests, used=count, reset=self.wait())
        return count <= self.num_requests

    def wait(self) -> float:
        return max(self.window_end - self.now, 0.0)


def announce_rate_limit(view: Any, *, limit: int, used: int, reset: float) -> None:
    """``RateLimit-Limit``, ``-Remaining`` and ``-Reset`` (the IETF draft's
    names; Reset in whole seconds until the window ends) on the answer,
    whatever it is, 429 included: DRF copies ``view.headers`` onto it."""
    headers = getattr(view, "headers", None)
    if headers is None:
        return
    headers["RateLimit-Limit"] = str(limit)
    headers["RateLimit-Remaining"] = str(max(limit - used, 0))
    headers["RateLimit-Reset"] = str(max(int(reset + 0.999), 0))


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
    """DRF's handler (status, ``WWW-Authenticate``, ``Retry-After``), plus Django's
    ValidationError (raised by the services) as a 400; every body is the one
    error body (``project/errors.py``)."""
    # Imported here: rest_framework.views reads the renderer setting, which names this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = error_body("The input is not valid.", "invalid", flatten_fields(exc.detail))
    elif isinstance(exc, exceptions.APIException):
        detail = exc.detail
        code = getattr(detail, "code", None) or exc.default_code
        response.data = error_body(str(detail), str(code))
    else:  # Http404 and PermissionDenied, which DRF's handler turned into APIExceptions.
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        response.data = error_body(str(detail), getattr(detail, "code", "error"))
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """A JSON 404 for unknown paths under the API (``API_PATH_PREFIX``; e.g. a
    non-numeric or huge id); Django's HTML page elsewhere."""
    if request.path.startswith(settings.API_PATH_PREFIX):
        return error_response(404, "Not found.", "not_found")
    return page_not_found(request, exception)
