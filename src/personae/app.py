"""The FastAPI application: lifespan (migrations, backends), error mapping, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.routing import Match
from starlette.types import Scope

from personae import wiring
from personae.accounts.passwords import POOL as password_hashing
from personae.accounts.routes import router as accounts_router
from personae.agents.api import router as autonomy_router
from personae.agents.runtime import AgentRuntime
from personae.characters.routes import router as characters_router
from personae.chat.routes import router as chat_router
from personae.chat.runner import ReplyRunner
from personae.config import Settings, get_settings
from personae.db import make_engine, make_sessionmaker
from personae.errors import DomainError
from personae.federation.api import router as federation_api_router
from personae.federation.routes import ActivityNegotiation
from personae.federation.routes import router as federation_router
from personae.federation.worker import DeliveryWorker
from personae.instance import backends as instance_backends
from personae.instance.routes import router as admin_router
from personae.llm.base import BACKEND_STATUS, BackendError
from personae.llm.registry import BackendRegistry
from personae.memory.routes import router as memories_router
from personae.migrate import ensure_sqlite_folder, upgrade
from personae.openai_compat.routes import router as openai_router
from personae.openapi import install_openapi
from personae.request_guard import RequestGuard
from personae.scenes.api import router as scenes_router
from personae.social.api import actors as social_actors
from personae.social.api import feeds as social_feeds
from personae.social.api import moderation as social_moderation
from personae.social.api import posts as social_posts
from personae.state import AppState
from personae.web.failures import failure_page, wants_page
from personae.web.site import include_pages

log = logging.getLogger(__name__)


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# Codes for the framework's own errors (unknown routes, wrong methods, bad bodies...).
HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    429: "rate_limited",
}


def allowed_methods(app: Starlette, scope: Scope) -> list[str]:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    allowed = {
        method
        for method in METHODS
        if any(
            route.matches({**scope, "method": method})[0] is Match.FULL
            for route in app.router.routes
        )
    }
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


def _error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Map domain, backend and validation errors to clear 4xx/5xx JSON answers."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        body = _error_body(exc.code, exc.message)
        return JSONResponse(body, exc.status_code, headers=exc.headers())

    @app.exception_handler(BackendError)
    async def backend_error(_: Request, exc: BackendError) -> JSONResponse:
        status = BACKEND_STATUS.get(exc.kind, 502)
        return JSONResponse(_error_body(f"backend_{exc.kind}", exc.message), status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.scope))
        if exc.status_code in (204, 304):
            return Response(status_code=exc.status_code, headers=headers)
        code = HTTP_ERROR_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if wants_page(request):  # a browser opening an unknown address gets a page
            page = await failure_page(request, exc.status_code, message)
            page.headers.update(headers)
            return page
        return JSONResponse(_error_body(code, message), exc.status_code, headers=headers)

    @app.exception_handler(500)
    async def server_error(request: Request, exc: Exception) -> Response:
        # Starlette still logs the exception (and re-raises it) after this answer.
        if wants_page(request):
            return await failure_page(request, 500, "")
        return JSONResponse(
            _error_body("internal_error", "something went wrong on the server"), 500
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:20]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "; ".join(problems) or "the request is invalid"
        body = _error_body("invalid_request", message)
        body["error"]["details"] = problems  # type: ignore[assignment]
        return JSONResponse(body, 422)


def create_app(
    settings: Settings | None = None,
    backends: BackendRegistry | None = None,
    migrate: bool = True,
    agents: bool = False,
    delivery: bool | None = None,
) -> FastAPI:
    """Build the app; nothing is opened until the lifespan starts.

    With `agents`, the lifespan also runs autonomous characters: the scheduler loop and
    a worker (in process, or on the Redis broker PERSONAE_BROKER_URL names). With
    `delivery` (by default: the same as `agents`), it runs the federation delivery worker.
    """
    run_delivery = agents if delivery is None else delivery
    wiring.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
        password_hashing.configure(config.password_hash_threads, config.password_hash_queue)
        url = config.effective_database_url
        ensure_sqlite_folder(url)
        engine = make_engine(url)
        if migrate:
            await upgrade(engine)
        sessions = make_sessionmaker(engine)
        registry = backends or BackendRegistry.from_settings(config)
        async with sessions() as session:  # backends admins added at runtime, their default
            await instance_backends.load_into(session, registry, config)
        replies = ReplyRunner(sessions)
        state = AppState(config, engine, sessions, registry, replies)
        app.state.personae = state
        try:
            if agents:
                runtime = AgentRuntime.build(config, sessions, registry)
                await runtime.start()
                state.agents = runtime
            if run_delivery:
                worker = DeliveryWorker(config, sessions)
                worker.start()
                state.delivery = worker
            yield
        finally:
            # Background work first: it uses the backends and the database closed below.
            if state.delivery is not None:
                await state.delivery.stop()
            if state.agents is not None:
                await state.agents.stop()
            await replies.drain()
            if state.scenes is not None:
                await state.scenes.drain()
            if backends is None:
                await registry.aclose()
            await engine.dispose()

    app = FastAPI(
        title="personae",
        version="0.1.0",
        summary="A self-hostable home for AI characters on open models.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_openapi(app)
    # Before RequestGuard, so RequestGuard stays the outermost check (GZip only encodes).
    app.add_middleware(ActivityNegotiation)
    app.add_middleware(RequestGuard)
    # Outermost, so every answer is compressed on its way out (pages, JSON, CSS, JS). Starlette
    # leaves event streams (they must flow unbuffered) and images (already compressed) alone.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    app.include_router(accounts_router)
    app.include_router(characters_router)
    app.include_router(chat_router)
    app.include_router(scenes_router)
    app.include_router(openai_router)
    app.include_router(memories_router)
    app.include_router(autonomy_router)
    app.include_router(admin_router)
    app.include_router(federation_router)
    app.include_router(federation_api_router)  # before social's "/actors/{handle}"
    for social in (social_actors, social_posts, social_feeds, social_moderation):
        app.include_router(social.router)
    include_pages(app)
    return app
