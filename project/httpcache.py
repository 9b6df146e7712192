"""HTTP caching of the API's answers: validators, conditional requests,
``Cache-Control``, and a cache of rendered list pages.

Lists (and the user detail) are validated by the *data version*: one row
that database triggers give a new random value on every write to posts and to
the user columns the API shows (``posts.models.DataVersion``,
``posts/triggers.py``), whatever makes the write: the API, the admin, the
pages, a bulk operation or raw SQL. A list's ``ETag`` is a digest of that
version and of everything else its bytes depend on (the URL with its query,
the host, the media type, and who may see e-mail addresses), so it is known
before the page is read: a matching ``If-None-Match`` answers 304 after one
primary-key read, with no page query and no rendering. ``Last-Modified`` is
the version's time of change (an upper bound of when the answer changed,
to the second); ``If-Modified-Since`` is read when ``If-None-Match`` is
absent, as RFC 9110 says.

A rendered page (its bytes, JSON only) is kept in Django's cache under the
same digest for ``API_PAGE_CACHE_SECONDS``: a write makes a new version, so
the old pages are never read again and expire on their own. The version is
read before the page's queries, so a page can only be stored under a version
at least as old as its rows, never under a newer one.

A post's own ``ETag`` is a digest of its row as the API shows it (so edits of
other posts leave it alone), which ``If-Match`` on PUT, PATCH and DELETE
compares with: a mismatch is a 412, and an edit based on a stale copy is
refused instead of overwriting another editor's change.

Our own code rather than Django's ``cache_page`` or ``ConditionalGetMiddleware``:
``cache_page`` keys pages by URL and drops them only by time, so a write
would show stale pages until they expire; ``ConditionalGetMiddleware``
computes its ETag from the rendered bytes, after the page query it should
have saved. Neither knows the data version.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.http import http_date, parse_etags, parse_http_date_safe

# What a cached page's key starts with in Django's cache.
PAGE_KEY_PREFIX = "api-page:"


@dataclass(frozen=True)
class DataStamp:
    """The data version and the Unix time (seconds) of its last change."""

    version: int
    changed_at: int


def data_stamp(using: str = "default") -> DataStamp | None:
    """The current data version, or None when its row is missing (a flushed
    table, until the next write puts it back): then nothing is cached."""
    from posts.models import DataVersion

    connection = connections[using]
    table = connection.ops.quote_name(DataVersion._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT version, changed_at FROM {table} WHERE id = 1")  # noqa: S608 - a quoted model table
        row = cursor.fetchone()
    return DataStamp(int(row[0]), int(row[1])) if row else None


def viewer(request: Any) -> str:
    """Who reads, as far as what an answer shows depends on it: anonymous, staff, or one user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return "anonymous"
    return "staff" if user.is_staff else f"user:{user.pk}"


def digest(*parts: Any) -> str:
    return hashlib.blake2b("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def quoted(tag: str) -> str:
    return f'"{tag}"'


def cache_control(request: Any) -> str:
    """``public`` for anonymous answers (any cache may keep them), ``private``
    when the request carried credentials; ``no-cache`` in both, so every use
    is revalidated with the ETag (a 304 is cheap)."""
    user = getattr(request, "user", None)
    authenticated = bool(user is not None and user.is_authenticated) or "HTTP_AUTHORIZATION" in request.META
    return "private, no-cache" if authenticated else "public, no-cache"


def mark_cacheable(response: HttpResponseBase, request: Any, *, etag: str, last_modified: int | None) -> None:
    response["ETag"] = quoted(etag)
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    response["Cache-Control"] = cache_control(request)
    # A shared cache must not hand a public answer to a client with credentials.
    patch_vary_headers(response, ("Authorization",))


def _matches(header: str, etag: str) -> bool:
    tags = parse_etags(header)
    # Weak comparison (RFC 9110 13.1.2): W/"x" matches "x".
    return "*" in tags or any(tag.removeprefix("W/") == quoted(etag) for tag in tags)


def not_modified(request: HttpRequest, etag: str, last_modified: int | None) -> bool:
    """Whether a GET or HEAD may be answered 304 (RFC 9110 13.2.2: If-None-Match
    first; If-Modified-Since only without it)."""
    if request.method not in ("GET", "HEAD"):
        return False
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        return _matches(if_none_match, etag)
    since = parse_http_date_safe(request.META.get("HTTP_IF_MODIFIED_SINCE", ""))
    return since is not None and last_modified is not None and last_modified <= since


def not_modified_response(request: Any, etag: str, last_modified: int | None) -> HttpResponse:
    response = HttpResponseNotModified()
    mark_cacheable(response, request, etag=etag, last_modified=last_modified)
    return response


def if_match_fails(request: HttpRequest, etag: str) -> bool:
    """For PUT, PATCH and DELETE: whether If-Match is given and names none of
    the resource's current ETag (``*`` matches any), which is a 412."""
    header = request.META.get("HTTP_IF_MATCH")
    if header is None:
        return False
    tags = parse_etags(header)
    # Strong comparison (RFC 9110 13.1.1): a weak tag never matches.
    return not ("*" in tags or quoted(etag) in tags)


def row_etag(values: Iterable[Any]) -> str:
    """An ETag for one row as the API shows it, from its values (no rendering)."""
    return digest(*values)


def cached_page(
    view: Any, request: Any, build: Callable[[], HttpResponseBase], *, varies_by_viewer: bool = False
) -> HttpResponseBase:
    """A list page, conditional and cached (see the module docstring).

    ``build`` makes the page when it is neither unchanged for the client nor
    cached. ``varies_by_viewer``: whether the bytes depend on who asks (e-mail
    addresses are shown to their owner and to staff only).
    """
    stamp = data_stamp()
    if stamp is None:
        return build()
    renderer = request.accepted_renderer
    etag = digest(
        stamp.version,
        request.get_host(),
        request.is_secure(),
        request.get_full_path(),
        request.accepted_media_type,
        viewer(request) if varies_by_viewer else "",
    )
    if not_modified(request, etag, stamp.changed_at):
        return not_modified_response(request, etag, stamp.changed_at)
    # Only JSON pages are kept; the browsable API's HTML pages are made each time.
    seconds = settings.API_PAGE_CACHE_SECONDS if renderer.format == "json" else 0
    key = PAGE_KEY_PREFIX + etag
    if seconds:
        hit = cache.get(key)
        if hit is not None:
            content_type, content = hit
            response: HttpResponseBase = HttpResponse(content, content_type=content_type)
            mark_cacheable(response, request, etag=etag, last_modified=stamp.changed_at)
            return response
    response = build()
    if response.status_code != 200:
        return response
    if seconds:
        # Rendered here, as DRF would after the view returns, so that the bytes can be kept.
        response = view.finalize_response(request, response)
        response.render()
        cache.set(key, (response["Content-Type"], response.content), seconds)
    mark_cacheable(response, request, etag=etag, last_modified=stamp.changed_at)
    return response
