"""The OpenAPI document, with the error answers every operation can give.

FastAPI documents success bodies and its own 422 shape; ours is one envelope for every
error (`{"error": {"code", "message"}}`). Which errors an operation can give follows from
what the document already says about it, so they are added here once rather than on
each of a hundred routes: a path parameter can name nothing (404), a body can be too
large (413) or invalid (422), an operation that takes a token can refuse it (401, 403), a
change can clash with what exists (409), a model backend can fail (502-504).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "description": "machine-readable, e.g. not_found"},
                "message": {"type": "string", "description": "what went wrong, for people"},
                "details": {"type": "array", "items": {"type": "string"}},
            },
        }
    },
}
DESCRIPTIONS = {
    "400": "The address or headers are malformed (a NUL character, a bad Content-Length).",
    "401": "No valid token: sign in, or get a new token at /api/v1/auth/token.",
    "403": "Signed in, but not allowed to do this (or a cookie sent from another site).",
    "404": "Nothing by that name, or nothing the caller may see (never said which).",
    "409": "The request clashes with what exists (a taken handle, a duplicate).",
    "413": "The body is over its size limit; it was not read.",
    "422": "The input is not acceptable; the message names the field and the rule.",
    "429": "Too many requests; wait as long as Retry-After says.",
    "502": "The model backend failed.",
    "503": "The model backend is unavailable.",
    "504": "The model backend did not answer in time.",
}
CHANGES = ("post", "put", "patch", "delete")
MODEL_TAGS = ("chat", "openai-compatible")


def _error(status: str) -> dict[str, Any]:
    return {
        "description": DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["400"]
    if operation.get("security"):
        statuses += ["401", "403"]
    if "{" in path or path.startswith("/api/v1/admin"):
        statuses.append("404")
    if method in CHANGES:
        statuses.append("409")
    if "requestBody" in operation:
        statuses.append("413")
    if "requestBody" in operation or operation.get("parameters"):
        statuses.append("422")
    if any(tag in MODEL_TAGS for tag in operation.get("tags", [])):
        statuses += ["502", "503", "504"]
    return statuses


def with_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """The document with the error envelope and each operation's error answers added."""
    schema.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            declared = [s for s in responses if s in DESCRIPTIONS and s != "422"]
            for status in sorted({*_statuses(path, method, operation), *declared}):
                # A route's own description of an error (say, when it answers 429) wins.
                own = responses.get(status, {}).get("description") if status != "422" else None
                responses[status] = {**_error(status), **({"description": own} if own else {})}
    schema["components"]["schemas"].pop("HTTPValidationError", None)
    schema["components"]["schemas"].pop("ValidationError", None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Serve the document with errors added (built once, on first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            app.openapi_schema = with_errors(schema)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
