"""The HTTP side of discovery: WebFinger, NodeInfo, actor documents, collections, notes.

Also `ActivityNegotiation`, the middleware that answers `/@handle` (and `/@handle/POST`)
with the ActivityPub JSON when a remote server asks for it in `Accept`, so the profile
and post pages stay in the web package and need not know about federation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from personae.deps import DB, get_state
from personae.federation import discovery, inbox
from personae.federation.context import Federation
from personae.federation.ratelimit import FailedKeys, HostRateLimiter, RetryLater
from personae.federation.urls import Urls

router = APIRouter(tags=["federation"], include_in_schema=False)
ACTIVITY_TYPES = ("application/activity+json", "application/ld+json")
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Discovery documents are public and read by web clients on other origins.
CORS = {"Access-Control-Allow-Origin": "*"}
# The actor and note ids answer JSON or redirect to HTML by Accept: caches must keep both.
VARY = {"Vary": "Accept"}


class ActivityJSON(JSONResponse):
    """An ActivityPub document."""

    media_type = "application/activity+json"


class JRDResponse(JSONResponse):
    """A WebFinger answer."""

    media_type = "application/jrd+json"


class NodeInfoResponse(JSONResponse):
    """A NodeInfo 2.1 document."""

    media_type = f'application/json; profile="{discovery.NODEINFO_SCHEMA}#"'


class NodeInfo20Response(JSONResponse):
    """A NodeInfo 2.0 document."""

    media_type = f'application/json; profile="{discovery.NODEINFO_SCHEMA_20}#"'


def urls_of(request: Request) -> Urls:
    """The instance's addresses, from the configured public URL."""
    return Urls.from_base(get_state(request).settings.effective_base_url)


def activity(body: dict[str, Any]) -> ActivityJSON:
    """An ActivityPub answer anyone may read."""
    return ActivityJSON(body, headers=CORS)


@router.get("/.well-known/webfinger")
async def webfinger(request: Request, db: DB, resource: str = "") -> JRDResponse:
    """Find an actor by `acct:handle@domain` (or its URL)."""
    if not resource:
        raise discovery.BadResource("the 'resource' query parameter is required")
    urls = urls_of(request)
    actor = await discovery.resolve_resource(db, urls, resource)
    return JRDResponse(discovery.webfinger_jrd(urls, actor), headers=CORS)


@router.get("/.well-known/nodeinfo")
async def nodeinfo_links(request: Request) -> JSONResponse:
    """Where this server's NodeInfo is."""
    return JSONResponse(discovery.nodeinfo_links(urls_of(request)), headers=CORS)


@router.get("/nodeinfo/2.1")
async def nodeinfo(request: Request, db: DB) -> NodeInfoResponse:
    """NodeInfo 2.1: software, protocols and usage."""
    return NodeInfoResponse(await discovery.nodeinfo(db, urls_of(request)), headers=CORS)


@router.get("/nodeinfo/2.0")
async def nodeinfo_20(request: Request, db: DB) -> NodeInfo20Response:
    """NodeInfo 2.0, for crawlers that know no later schema."""
    body = await discovery.nodeinfo(db, urls_of(request), schema="2.0")
    return NodeInfo20Response(body, headers=CORS)


@router.get("/.well-known/host-meta")
async def host_meta(request: Request) -> Response:
    """host-meta (XRD): where WebFinger is, for software that looks here first."""
    return Response(
        discovery.host_meta_xrd(urls_of(request)), media_type="application/xrd+xml", headers=CORS
    )


@router.get("/.well-known/host-meta.json")
async def host_meta_json(request: Request) -> JSONResponse:
    """host-meta as JSON."""
    return JSONResponse(discovery.host_meta_json(urls_of(request)), headers=CORS)


@router.get("/actor")
async def instance_actor(request: Request, db: DB) -> ActivityJSON:
    """The instance actor."""
    return activity(await discovery.instance_actor_document(db, urls_of(request)))


@router.get("/actor/outbox")
async def instance_outbox(request: Request) -> ActivityJSON:
    """The instance actor's outbox: it posts nothing."""
    return activity(discovery.empty_collection(urls_of(request).instance_outbox))


@router.get("/users/{handle}", response_model=None)
async def actor(handle: str, request: Request, db: DB) -> ActivityJSON | RedirectResponse:
    """A local actor's document; a browser asking for HTML is sent to the profile page."""
    found = await discovery.public_actor(db, handle)
    urls = urls_of(request)
    if wants_html(request.headers.get("accept", "")):
        return RedirectResponse(urls.profile(found.handle), 302, headers=VARY)
    response = activity(await discovery.actor_document(db, urls, found))
    response.headers.update(VARY)
    return response


@router.get("/users/{handle}/outbox")
async def outbox(
    handle: str, request: Request, db: DB, page: bool = False, max_id: str = ""
) -> ActivityJSON:
    """The outbox: the collection, or one page of it (`?page=true[&max_id=ID]`)."""
    found = await discovery.public_actor(db, handle)
    urls = urls_of(request)
    if page or max_id:
        body = await discovery.outbox_page(db, urls, found, max_id or None)
        return activity({"@context": discovery.NOTE_CONTEXT, **body})
    return activity(await discovery.outbox(db, urls, found))


@router.get("/users/{handle}/followers")
async def followers(handle: str, request: Request, db: DB) -> ActivityJSON:
    """How many follow the actor."""
    found = await discovery.public_actor(db, handle)
    return activity(discovery.follow_collection(urls_of(request), found, "followers"))


@router.get("/users/{handle}/following")
async def following(handle: str, request: Request, db: DB) -> ActivityJSON:
    """How many the actor follows."""
    found = await discovery.public_actor(db, handle)
    return activity(discovery.follow_collection(urls_of(request), found, "following"))


@router.get("/users/{handle}/statuses/{post_id}", response_model=None)
async def note(
    handle: str, post_id: str, request: Request, db: DB
) -> ActivityJSON | RedirectResponse:
    """A public or unlisted post as a Note; a browser asking for HTML gets the post's page."""
    found = await discovery.public_actor(db, handle)
    post = await discovery.fetchable_post(db, found, post_id)
    urls = urls_of(request)
    if wants_html(request.headers.get("accept", "")):
        return RedirectResponse(urls.post_page(found.handle, post.id), 302, headers=VARY)
    response = activity(await discovery.note_document(db, urls, post))
    response.headers.update(VARY)
    return response


@router.get("/users/{handle}/statuses/{post_id}/activity")
async def note_activity(handle: str, post_id: str, request: Request, db: DB) -> ActivityJSON:
    """The Create activity that published a public or unlisted post."""
    found = await discovery.public_actor(db, handle)
    post = await discovery.fetchable_post(db, found, post_id)
    return activity(await discovery.note_document(db, urls_of(request), post, activity=True))


# --- inboxes ---------------------------------------------------------------------------


def inbox_guards(request: Request) -> tuple[HostRateLimiter, FailedKeys]:
    """The app's inbox rate limiter and failed-key memory (made on first use, kept for
    the app's life)."""
    state = request.app.state
    limiter: HostRateLimiter | None = getattr(state, "inbox_limiter", None)
    if limiter is None:
        per_minute = get_state(request).settings.federation_inbox_requests_per_minute
        limiter = HostRateLimiter(per_minute)
        state.inbox_limiter = limiter
    failures: FailedKeys | None = getattr(state, "inbox_failed_keys", None)
    if failures is None:
        failures = FailedKeys()
        state.inbox_failed_keys = failures
    return limiter, failures


def request_target(request: Request) -> str:
    """The path and query as sent (what the signature's (request-target) covers)."""
    raw = request.scope.get("raw_path") or request.url.path.encode()
    query = request.scope.get("query_string", b"")
    target = bytes(raw).decode("latin-1")
    return f"{target}?{bytes(query).decode('latin-1')}" if query else target


async def receive(request: Request, db: DB, handle: str | None = None) -> Response:
    """Hand a POST to the inbox pipeline; 202 when accepted (or knowingly ignored)."""
    state = get_state(request)
    limiter, failures = inbox_guards(request)
    try:
        await inbox.receive(
            db,
            state.sessions,
            Federation.from_settings(state.settings),
            limiter,
            failures,
            method=request.method,
            path=request_target(request),
            headers={name.lower(): value for name, value in request.headers.items()},
            chunks=request.stream(),
            client_ip=request.client.host if request.client else None,
            handle=handle,
        )
    except RetryLater as exc:  # 429 (rate limited) or 503 (the key is out of reach)
        body = {"error": {"code": exc.code, "message": exc.message}}
        headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse(body, exc.status_code, headers=headers)
    return Response(status_code=202)


@router.post("/inbox")
async def shared_inbox(request: Request, db: DB) -> Response:
    """The instance-wide inbox."""
    return await receive(request, db)


@router.post("/actor/inbox")
async def instance_inbox(request: Request, db: DB) -> Response:
    """The instance actor's inbox (the same pipeline as the shared one)."""
    return await receive(request, db)


@router.post("/users/{handle}/inbox")
async def actor_inbox(handle: str, request: Request, db: DB) -> Response:
    """A local actor's inbox; 404 for actors remote servers cannot see."""
    return await receive(request, db, handle)


# --- content negotiation on the HTML addresses ---------------------------------------


def _quality(accept: str, types: tuple[str, ...]) -> float:
    """The highest q the Accept header gives any of `types` (0 when none is listed)."""
    best = 0.0
    for item in accept.split(","):
        media, *params = (part.strip() for part in item.split(";"))
        if media.lower() not in types:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        best = max(best, q)
    return best


def wants_html(accept: str) -> bool:
    """Whether a request (a browser following an actor or note id) prefers HTML to
    ActivityPub JSON; no Accept, or `*/*`, means JSON, as servers expect at these ids."""
    html = _quality(accept, HTML_TYPES)
    return html > 0 and html > _quality(accept, ACTIVITY_TYPES)


def wants_activity_json(accept: str) -> bool:
    """Whether a request prefers ActivityPub JSON to HTML (browsers never list it)."""
    wanted = _quality(accept, ACTIVITY_TYPES)
    return wanted > 0 and wanted >= _quality(accept, HTML_TYPES)


def activity_path(path: str) -> str | None:
    """The ActivityPub address behind an HTML one (`/@h` -> `/users/h`), or None."""
    if not path.startswith("/@"):
        return None
    parts = path[2:].rstrip("/").split("/")
    if len(parts) == 1 and discovery.HANDLE.fullmatch(parts[0]):
        return f"/users/{parts[0]}"
    if len(parts) == 2 and discovery.HANDLE.fullmatch(parts[0]):
        if parts[1] in ("followers", "following", "outbox"):
            return f"/users/{parts[0]}/{parts[1]}"
        if parts[1].isalnum():
            return f"/users/{parts[0]}/statuses/{parts[1]}"
    return None


class ActivityNegotiation:
    """Serve `/@handle` and `/@handle/POST` as ActivityPub JSON to servers that ask for it.

    A rewrite of the path (no redirect: Mastodon and others fetch the URL they were given
    and expect the document there). Plain ASGI so streamed pages pass through untouched;
    every answer on those addresses gets `Vary: Accept` so caches keep the two apart.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Rewrite the path for ActivityPub clients; pass everything else on."""
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        target = activity_path(scope["path"])
        if target is None:
            await self.app(scope, receive, send)
            return
        if wants_activity_json(Headers(scope=scope).get("accept", "")):
            scope = {**scope, "path": target, "raw_path": target.encode()}

        async def send_with_vary(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"vary" and b"accept" in v.lower() for k, v in headers):
                    headers.append((b"vary", b"Accept"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_vary)
