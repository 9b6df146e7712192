"""The one error body of the API, for every error whoever answers it (a
view, the exception handler, a middleware, the JSON 404):

    {"detail": "<one sentence>", "code": "<machine-readable>", "fields": {"<name>": ["<message>", ...]}}

``fields`` is there only for invalid input (400), one list of messages per
field or query parameter (``non_field_errors`` for the input as a whole).
The schema publishes it as the ``Error`` component (``project/schema.py``).
"""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse


def error_body(detail: str, code: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if fields:
        body["fields"] = fields
    return body


def error_response(
    status: int, detail: str, code: str, fields: dict[str, list[str]] | None = None, *, headers: dict | None = None
) -> JsonResponse:
    """An error answered outside DRF's views (middleware, URL resolution)."""
    return JsonResponse(error_body(detail, code, fields), status=status, headers=headers)


def flatten_fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's validation detail (nested dicts and lists of messages) as one list of messages per field."""
    if isinstance(detail, dict):
        fields: dict[str, list[str]] = {}
        for name, value in detail.items():
            fields.update(flatten_fields(value, f"{prefix}{name}" if not prefix else f"{prefix}.{name}"))
        return fields
    if isinstance(detail, list) and any(isinstance(item, dict | list) for item in detail):
        fields = {}
        for index, item in enumerate(detail):
            fields.update(flatten_fields(item, f"{prefix}.{index}" if prefix else str(index)))
        return fields
    messages = [str(item) for item in detail] if isinstance(detail, list) else [str(detail)]
    return {prefix or "non_field_errors": messages}
