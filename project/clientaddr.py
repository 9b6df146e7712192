"""The client's address, as far as it can be trusted.

Behind ``TRUSTED_PROXY_COUNT`` reverse proxies, each appends the address it
received the request from to ``X-Forwarded-For``; only the entries those
proxies added can be believed. The client can put anything to the left of
them, so rotating fake entries there changes nothing.

Our own code rather than django-ipware: ipware's default guesses the client
from the left-most public address in the headers it trusts, which a client
can write itself; counting the trusted proxies from the right, as DRF's
``NUM_PROXIES`` does, cannot be spoofed, and both read the one setting.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    # A DRF Request reads META through to the HttpRequest it wraps.
    meta = request.META
    proxies = getattr(settings, "TRUSTED_PROXY_COUNT", 0)
    if proxies > 0:
        hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        # The right-most `proxies` entries were written by our proxies; the last
        # of them is the address the outermost proxy saw: the real client.
        if len(hops) >= proxies:
            return hops[-proxies]
    return meta.get("REMOTE_ADDR") or None
