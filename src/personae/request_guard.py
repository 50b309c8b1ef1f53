"""Checks every request passes before any route sees it: address, body size, JSON shape.

One ASGI middleware instead of a check in every route, so no route can forget one:

- a NUL in the path or query string is a 400 (no identifier or text we accept has one);
- a body over its limit is a 413 before it is read: `Content-Length` first, then a running
  count for bodies sent without one (chunked). Card and avatar uploads (multipart) have
  their own, larger limit; ActivityPub deliveries have the federation limit;
- a JSON body (`application/json`) is read (within its limit), decoded once and walked:
  nesting deeper than 64 levels, NUL characters and unpaired surrogates anywhere are a
  422 that names the problem. PostgreSQL cannot store NUL, and a too-deep value is stored
  fine and then breaks every later serialisation of the row that holds it;
- an urlencoded form with a NUL in it is a 422 too.

Plain ASGI (not Starlette's BaseHTTPMiddleware) so streamed replies pass through untouched.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_JSON_DEPTH = 64  # the card format's limit (cards/limits.py), for every JSON we accept
MULTIPART_ENVELOPE = 64 * 1024  # form boundaries and headers around an uploaded file
_ACTIVITY_TYPES = ("application/activity+json", "application/ld+json")


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body sent without a length runs over its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {_size(limit)} limit")


def _size(limit: int) -> str:
    if limit >= 1024 * 1024 and limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MiB"
    if limit >= 1024 and limit % 1024 == 0:
        return f"{limit // 1024} KiB"
    return f"{limit} bytes"


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status)


def json_problem(value: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What makes a decoded JSON value unacceptable (depth, NUL, bad Unicode), or None."""
    # Iterative, so a deep document cannot exhaust Python's stack here.
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            return f"{_short(where)} nests arrays/objects more than {max_depth} levels deep"
        if isinstance(item, dict):
            for key, child in item.items():
                path = f"{where}.{key}" if where else str(key)
                stack.append((key, depth, path))
                stack.append((child, depth + 1, path))
        elif isinstance(item, list):
            stack.extend((child, depth + 1, f"{where}[{i}]") for i, child in enumerate(item))
        elif isinstance(item, str):
            if "\x00" in item:
                return f"{_short(where)}: text may not contain a NUL character (\\u0000)"
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return f"{_short(where)}: text contains an unpaired UTF-16 surrogate"
    return None


def _short(where: str) -> str:
    if not where:
        return "the JSON body"
    return where if len(where) <= 80 else where[:77] + "..."


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


class RequestGuard:
    """The checks above, with limits read from the running app's settings."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def _limits(self, scope: Scope) -> tuple[int, int, int]:
        state = getattr(scope["app"].state, "personae", None)
        if state is None:  # before the lifespan ran: the defaults
            from personae.config import Settings

            settings = Settings()
        else:
            settings = state.settings
        return (
            settings.max_request_bytes,
            settings.max_upload_bytes + MULTIPART_ENVELOPE,
            settings.federation_max_body_bytes,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400/413/422 for a request that fails a check; pass the rest on."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query: bytes = scope.get("query_string", b"")
        if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
            answer = _error(400, "invalid_request", "the address contains a NUL character")
            await answer(scope, receive, send)
            return
        if scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        media_type = content_type.split(";", 1)[0].strip()
        plain, upload, activity = self._limits(scope)
        if media_type == "multipart/form-data":
            limit = upload
        elif media_type in _ACTIVITY_TYPES:
            limit = max(plain, activity)
        else:
            limit = plain
        declared = headers.get(b"content-length", b"").decode("latin-1").strip()
        if declared:
            if not declared.isdigit():
                answer = _error(400, "invalid_request", "Content-Length is not a number")
                await answer(scope, receive, send)
                return
            if int(declared) > limit:
                message = f"the request body is over the {_size(limit)} limit"
                await _error(413, "too_large", message)(scope, receive, send)
                return
        if media_type == "application/json" or media_type == "application/x-www-form-urlencoded":
            body = await self._read(receive, limit)
            if body is None:
                message = f"the request body is over the {_size(limit)} limit"
                await _error(413, "too_large", message)(scope, receive, send)
                return
            problem = self._json_problem(body) if media_type == "application/json" else None
            if media_type != "application/json" and (b"\x00" in body or b"%00" in body):
                problem = "the form contains a NUL character"
            if problem is not None:
                await _error(422, "invalid_request", problem)(scope, receive, send)
                return
            await self.app(scope, _replay(body, receive), send)
            return
        await self.app(scope, _counting(receive, limit), send)

    @staticmethod
    async def _read(receive: Receive, limit: int) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left: nothing to check
                return b"".join(chunks)
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _json_problem(body: bytes) -> str | None:
        if not body.strip():
            return None  # the route says what it expected
        try:
            value = json.loads(body, parse_constant=_reject_constant)
        except RecursionError:
            return f"the JSON body nests arrays/objects more than {MAX_JSON_DEPTH} levels deep"
        except ValueError:
            return None  # not JSON: the route's own validation names the problem
        return json_problem(value)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands over the body already read, then the client's later messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _counting(receive: Receive, limit: int) -> Receive:
    """A `receive` that stops a body sent without a length once it passes `limit`."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise BodyTooLarge(limit)
        return message

    return counted
