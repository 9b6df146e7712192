"""Project-wide middleware: request ids and the request log, JSON answers
for oversized API requests, and a 503 when the database cannot be reached.
The Content-Security-Policy header is django-csp's (settings.py)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

from project.clientaddr import client_address
from project.dbconnect import connection_failure
from project.errors import error_response

request_id_var: ContextVar[str] = ContextVar("request_id", default="-")
request_logger = logging.getLogger("project.request")
database_logger = logging.getLogger("project.database")

# An incoming X-Request-ID (from a proxy or a client) is kept only if it is
# short and plain, so nobody can inject text into the log lines.
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every log record, ``-`` outside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def loggable_path(request: HttpRequest) -> str:
    """The path as the request log writes it: a URL with a ``token`` part (a
    password-reset or email-change link) is written as its route, e.g.
    ``/accounts/reset/<uidb64>/<token>/``, so a working link never reaches the log."""
    match = getattr(request, "resolver_match", None)
    if match is not None and "token" in match.kwargs:
        return "/" + match.route
    return request.path


class RequestLogMiddleware:
    """Gives each request an id (``X-Request-ID`` on the response) and logs one
    line per request. The line holds the path without its query string and no
    headers or body: tokens, passwords and session ids never reach the log."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        try:
            # Django turns exceptions into 500 responses inside get_response,
            # so a failing view is still logged below.
            response = self.get_response(request)
            response["X-Request-ID"] = request_id
            user = getattr(request, "user", None)
            request_logger.info(
                "%s %s %s %.1fms user=%s client=%s",
                request.method,
                loggable_path(request),
                response.status_code,
                (time.perf_counter() - started) * 1000,
                user.pk if user is not None and user.is_authenticated else "-",
                client_address(request) or "-",
            )
            return response
        finally:
            request_id_var.reset(token)


class ApiRequestLimitsMiddleware:
    """API requests over the size limits get a JSON 4xx, never an HTML page.

    ``API_MAX_BODY_BYTES`` is the one limit of an API request body: a larger
    declared Content-Length is refused here, before anything reads the body,
    and the JSON parser (``project.api.ORJSONParser``) stops reading at the
    same number for a body that did not declare its length truthfully.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix: str = settings.API_PATH_PREFIX

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith(self.prefix):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return error_response(400, "Invalid Content-Length header.", "invalid_content_length")
            limit = settings.API_MAX_BODY_BYTES
            if length > limit:
                return error_response(
                    413, f"Request body too large: {length} bytes; the limit is {limit} bytes.", "request_too_large"
                )
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not request.path.startswith(self.prefix):
            return None
        if isinstance(exception, RequestDataTooBig):
            return error_response(413, f"Request body too large: {exception}", "request_too_large")
        if isinstance(exception, TooManyFieldsSent | TooManyFilesSent):
            return error_response(400, str(exception), "invalid")
        return None


class DatabaseUnavailableMiddleware:
    """A request that cannot get a database connection (the server is down or
    refuses, every pooled connection is in use, the SQLite file cannot be
    opened) answers 503, JSON under /api/ and the site's page elsewhere, and
    logs one line naming the server; not a 500 with a traceback. Errors on a
    connection that did open are left to Django's 500 handling."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.prefix: str = settings.API_PATH_PREFIX

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        problem = connection_failure(exception)
        if problem is None:
            return None
        database_logger.error("database unavailable: %s", problem)
        if request.path.startswith(self.prefix):
            return error_response(503, "The database is unavailable. Try again in a moment.", "database_unavailable")
        # Stand-alone template, rendered without the request: its context
        # processors (request.user) would need the database.
        return HttpResponse(render_to_string("503.html"), status=503)
