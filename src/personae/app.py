"""The FastAPI application: lifespan (migrations, backends), error mapping, routers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from personae.accounts.routes import router as accounts_router
from personae.agents.api import router as autonomy_router
from personae.agents.memory_api import router as memories_router
from personae.agents.runtime import AgentRuntime
from personae.characters.routes import router as characters_router
from personae.chat.generation import ReplyRunner
from personae.chat.routes import router as chat_router
from personae.config import Settings, get_settings
from personae.db import make_engine, make_sessionmaker
from personae.errors import DomainError
from personae.federation.routes import ActivityNegotiation
from personae.federation.routes import router as federation_router
from personae.federation.worker import DeliveryWorker
from personae.instance import backends as instance_backends
from personae.instance.routes import router as admin_router
from personae.llm.base import BackendError
from personae.llm.registry import BackendRegistry
from personae.migrate import ensure_sqlite_folder, upgrade
from personae.openai_compat.routes import router as openai_router
from personae.social.api import actors as social_actors
from personae.social.api import feeds as social_feeds
from personae.social.api import moderation as social_moderation
from personae.social.api import posts as social_posts
from personae.state import AppState
from personae.web.site import include_pages

log = logging.getLogger(__name__)
BACKEND_STATUS = {
    "unavailable": 503,
    "timeout": 504,
    "context_overflow": 422,
    "bad_request": 422,
    "rate_limited": 429,
    "internal": 502,
}


def _error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def install_error_handlers(app: FastAPI) -> None:
    """Map domain, backend and validation errors to clear 4xx/5xx JSON answers."""

    @app.exception_handler(DomainError)
    async def domain_error(_: Request, exc: DomainError) -> JSONResponse:
        return JSONResponse(_error_body(exc.code, exc.message), exc.status_code)

    @app.exception_handler(BackendError)
    async def backend_error(_: Request, exc: BackendError) -> JSONResponse:
        status = BACKEND_STATUS.get(exc.kind, 502)
        return JSONResponse(_error_body(f"backend_{exc.kind}", exc.message), status)

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


class NulGuard:
    """Refuse NUL characters in paths and query strings with a clear 400.

    No identifier or text we accept contains NUL, and PostgreSQL cannot store it, so
    catching it once here beats a guard in every lookup. Plain ASGI (not Starlette's
    BaseHTTPMiddleware) so streamed replies pass through untouched.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer 400 for a NUL in the address; pass everything else on."""
        if scope["type"] == "http":
            query: bytes = scope.get("query_string", b"")
            if "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query:
                body = _error_body("invalid_request", "the address contains a NUL character")
                await JSONResponse(body, 400)(scope, receive, send)
                return
        await self.app(scope, receive, send)


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

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        config = settings or get_settings()
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
    # Before NulGuard, so NulGuard stays the outermost check.
    app.add_middleware(ActivityNegotiation)
    app.add_middleware(NulGuard)
    app.include_router(accounts_router)
    app.include_router(characters_router)
    app.include_router(chat_router)
    app.include_router(openai_router)
    app.include_router(memories_router)
    app.include_router(autonomy_router)
    app.include_router(admin_router)
    app.include_router(federation_router)
    for social in (social_actors, social_posts, social_feeds, social_moderation):
        app.include_router(social.router)
    include_pages(app)
    return app
