"""What the OpenAPI schema says beyond what drf-spectacular reads from the
views (a postprocessing hook, ``SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]``):

- every error each operation can answer, with the one error body
  (``project/errors.py``) as the ``Error`` component:
  400 for invalid input (operations with a body, and lists with filters),
  401 on every operation (a wrong or expired token is refused anywhere),
  403 on every change (someone else's object; a session without its CSRF token),
  404 where a path names an object or a list can run out of pages,
  413 and 415 on every operation with a body, 412 where ``If-Match`` is
  read, 429 (with ``Retry-After``) on every operation, since all are throttled;
- ``304`` on the reads that answer conditional requests, and their ``ETag``,
  ``Last-Modified`` and ``Cache-Control`` headers;
- the ``RateLimit-*`` headers on every answer of a throttled operation;
- request bodies in JSON only: the API also parses form data, for the
  browsable API's HTML forms, but a client has no reason to send it.

A method a path does not have answers 405 with the same body; OpenAPI has
no place for an operation that does not exist, so ``MethodNotAllowed`` is a
component response that no operation names.
"""

from __future__ import annotations

from typing import Any

JSON = "application/json"
ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA = {
    "type": "object",
    "description": "The one error body of the API.",
    "properties": {
        "detail": {"type": "string", "description": "What went wrong, in one sentence."},
        "code": {"type": "string", "description": "A machine-readable code, e.g. `invalid`, `not_found`, `throttled`."},
        "fields": {
            "type": "object",
            "description": "Invalid input only: the messages for each field or query parameter "
            "(`non_field_errors` for the input as a whole).",
            "additionalProperties": {"type": "array", "items": {"type": "string"}},
        },
    },
    "required": ["detail", "code"],
}

RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": {"description": "Requests allowed in the current window.", "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "Requests left in the current window.", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "Seconds until the window ends.", "schema": {"type": "integer"}},
}

CACHE_HEADERS = {
    "ETag": {"description": "Validator for If-None-Match (and If-Match on posts).", "schema": {"type": "string"}},
    "Last-Modified": {"description": "When the data shown last changed.", "schema": {"type": "string"}},
    "Cache-Control": {
        "description": "`public` for anonymous answers, `private` otherwise.",
        "schema": {"type": "string"},
    },
}

# status -> (component name, description)
ERRORS = {
    "400": ("BadRequest", "Invalid input; `fields` names each field or query parameter and its messages."),
    "401": ("Unauthorized", "Not authenticated, or the token given is not valid."),
    "403": ("Forbidden", "Not allowed for this user (or a session request without its CSRF token)."),
    "404": ("NotFound", "No such object, or no such page of the list."),
    "405": ("MethodNotAllowed", "The path has no such method."),
    "412": ("PreconditionFailed", "If-Match names an ETag the resource no longer has: it changed meanwhile."),
    "413": ("RequestTooLarge", "The request body is over the size limit."),
    "415": ("UnsupportedMediaType", "The request body is not JSON."),
    "429": ("TooManyRequests", "Over the rate limit (or the log-in lockout): wait Retry-After seconds."),
}

# Query parameters every list has; any other is a filter that can be refused with a 400.
PAGING = {"page", "page_size", "cursor"}
CHANGES = {"post", "put", "patch", "delete"}
# Operations that read If-Match (a 412 when it names an old ETag).
IF_MATCH = {"posts_update", "posts_partial_update", "posts_destroy"}
# Reads answered conditionally (ETag, Last-Modified, 304).
CONDITIONAL = {"posts_list", "posts_retrieve", "users_list", "users_retrieve", "users_posts_list"}


def _component(status: str) -> dict[str, Any]:
    description = ERRORS[status][1]
    response: dict[str, Any] = {"description": description, "content": {JSON: {"schema": ERROR_REF}}}
    response["headers"] = dict(RATE_LIMIT_HEADERS)
    if status == "429":
        response["headers"]["Retry-After"] = {
            "description": "Seconds to wait before trying again.",
            "required": True,
            "schema": {"type": "integer"},
        }
    return response


def _errors_of(method: str, operation: dict[str, Any]) -> list[str]:
    params = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
    has_path_params = any(p.get("in") == "path" for p in operation.get("parameters", []))
    has_body = "requestBody" in operation
    is_list = "page" in params or "cursor" in params
    statuses = ["401", "429"]
    if has_body or params - PAGING:
        statuses.append("400")
    if method in CHANGES:
        statuses.append("403")
    if has_path_params or is_list:
        statuses.append("404")
    if has_body:
        statuses += ["413", "415"]
    if operation.get("operationId") in IF_MATCH:
        statuses.append("412")
    return statuses


def document_errors_and_caching(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular postprocessing hook; see the module docstring."""
    components = result.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    responses = components.setdefault("responses", {})
    for status, (name, _) in ERRORS.items():
        responses[name] = _component(status)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            body = operation.get("requestBody")
            if body:
                body["content"] = {JSON: body["content"][JSON]}
            answers = operation.setdefault("responses", {})
            for status in _errors_of(method, operation):
                answers[status] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
            operation_id = operation.get("operationId")
            for status, answer in answers.items():
                if "$ref" in answer or not status.startswith("2"):
                    continue
                headers = answer.setdefault("headers", {})
                headers.update(RATE_LIMIT_HEADERS)
                if operation_id in CONDITIONAL or (operation_id in IF_MATCH and method != "delete"):
                    headers.update(CACHE_HEADERS)
            if operation_id in CONDITIONAL:
                answers["304"] = {
                    "description": "Not modified: the ETag in If-None-Match (or the date in If-Modified-Since) "
                    "is current. No body.",
                    "headers": {**CACHE_HEADERS, **RATE_LIMIT_HEADERS},
                }
            if operation_id in IF_MATCH:
                operation.setdefault("parameters", []).append(
                    {
                        "name": "If-Match",
                        "in": "header",
                        "required": False,
                        "description": "The post's ETag as last read: the change is refused (412) if the post "
                        "changed since.",
                        "schema": {"type": "string"},
                    }
                )
    return result
