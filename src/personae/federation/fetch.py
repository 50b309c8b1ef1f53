"""SSRF-safe HTTP for every federation request: checked URLs, pinned addresses, limits.

Every remote URL we touch comes from someone else's JSON, so each one (and each
redirect) is checked before we connect, and the connection goes to the very address we
checked: a custom httpcore network backend maps the host name to the checked IP, so a
DNS answer that changes between the check and the connect (rebinding) cannot steer us
to a private address. TLS still verifies the certificate against the host name, since
httpcore passes the URL's host as SNI, not the address we dial.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

import httpcore
import httpx

from personae.errors import DomainError
from personae.federation.httpsig import CAVAGE, Dialect, sign
from personae.federation.signatures import Signer

ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
# What WebFinger answers are (RFC 7033); some servers answer 406 to the ActivityPub types.
ACCEPT_JRD = "application/jrd+json, application/json;q=0.8"
USER_AGENT = "personae (+https://github.com/personae)"
MAX_URL_CHARS = 2048
# Real ActivityPub documents nest a handful of levels; see json_tree_problem.
MAX_JSON_DEPTH = 32
MAX_REDIRECTS = 3
# Delivery answers are read only for status and a short error text.
MAX_RESPONSE_BYTES = 64 * 1024
# Ports below 1024 are system services (SMTP, SSH, ...): only the web's own are allowed.
WEB_PORTS = frozenset({80, 443})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_JSON_TYPES = frozenset({"application/activity+json", "application/ld+json", "application/json"})
# NAT64 (RFC 6052) embeds an IPv4 address in its last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class FetchError(DomainError):
    """A remote fetch or delivery failed; `status` is the remote HTTP status, if any."""

    status_code = 502
    code = "fetch_failed"
    prefix = "remote request failed"

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(f"{self.prefix}: {reason}")
        self.reason = reason
        self.status = status


class UnsafeURL(FetchError):
    """A URL we refuse to request (scheme, credentials, port or a non-public address)."""

    status_code = 422
    code = "unsafe_url"
    prefix = "unsafe URL"


@dataclass(frozen=True)
class CheckedURL:
    """A URL that passed check_url, with the addresses its host resolved to."""

    url: str
    host: str
    port: int
    addresses: tuple[str, ...]


def address_refusal(ip: IPAddress) -> str | None:
    """Why an address is not a public unicast one, or None when it is."""
    if isinstance(ip, ipaddress.IPv6Address):
        # Addresses that carry an IPv4 address inside are judged by that address.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_refusal(embedded)
            return f"{inner} (inside {ip})" if inner else None
        if ip.teredo is not None:
            return "a Teredo tunnel address"
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_unspecified, "the unspecified address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_reserved, "a reserved address"),
        (ip.is_private, "a private address"),
        # Shared address space (100.64/10), documentation ranges and the like.
        (not ip.is_global, "not a globally routable address"),
    )
    for refused, reason in checks:
        if refused:
            return reason
    return None


async def _resolve(host: str, port: int) -> list[str]:
    """Every address the host name resolves to (an IP literal resolves to itself)."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_url(url: str, allow_private: bool) -> CheckedURL:
    """Check a URL is safe to request and resolve it, or raise UnsafeURL.

    Refused: schemes other than https (http too with `allow_private`, for loopback
    tests), credentials, odd ports, and hosts with any non-public address.
    """
    if len(url) > MAX_URL_CHARS:
        raise UnsafeURL("URL too long")
    try:
        parsed = httpx.URL(url)
        port = parsed.port or (443 if parsed.scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError) as exc:
        raise UnsafeURL(f"unparseable URL ({exc})") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in schemes:
        raise UnsafeURL(f"scheme {parsed.scheme!r} not allowed")
    if parsed.userinfo:
        raise UnsafeURL("credentials in URL")
    host = parsed.raw_host.decode("ascii")
    if not host:
        raise UnsafeURL("no host")
    if not allow_private and port not in WEB_PORTS and port < 1024:
        raise UnsafeURL(f"port {port} not allowed")
    try:
        addresses = await _resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise UnsafeURL(f"cannot resolve {host!r}") from exc
    if not addresses:
        raise UnsafeURL(f"{host!r} has no address")
    if not allow_private:
        for address in addresses:
            # Any bad answer refuses the host: we cannot tell which one we would get.
            reason = address_refusal(ipaddress.ip_address(address.split("%", 1)[0]))
            if reason:
                raise UnsafeURL(f"{host!r} resolves to {reason}")
    return CheckedURL(url=str(parsed), host=host, port=port, addresses=tuple(addresses))


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Dials only hosts that passed check_url, and only at the addresses it approved."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._pins: dict[tuple[str, int], tuple[str, ...]] = {}

    def pin(self, checked: CheckedURL) -> None:
        """Allow connections to this URL's host and port, at its checked addresses."""
        self._pins[(checked.host, checked.port)] = checked.addresses

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Connect to the first checked address of the host that answers."""
        addresses = self._pins.get((host, port))
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not checked")
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Never: federation only speaks TCP."""
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        """Delegate to anyio."""
        await self._inner.sleep(seconds)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle takes tens of milliseconds; one context serves every request.
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport over a pool that dials through _PinnedBackend."""

    def __init__(self, backend: _PinnedBackend) -> None:
        super().__init__(trust_env=False, verify=_ssl_context())
        # httpx does not expose httpcore's network_backend; swapping the pool is the
        # smallest way in, and keeps httpx's request/response and error mapping.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(),
            max_connections=10,
            max_keepalive_connections=5,
            network_backend=backend,
        )


def _client(backend: _PinnedBackend, timeout_s: float) -> httpx.AsyncClient:
    # trust_env=False: no proxies or netrc from the environment on federation requests.
    return httpx.AsyncClient(
        transport=_PinnedTransport(backend),
        timeout=httpx.Timeout(timeout_s),
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": USER_AGENT},
    )


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media in _JSON_TYPES or (media.startswith("application/") and media.endswith("+json"))


async def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"body of {declared} bytes is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"body over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _get_json(
    client: httpx.AsyncClient,
    backend: _PinnedBackend,
    url: str,
    signer: Signer | None,
    allow_private: bool,
    max_bytes: int,
    accept: str,
    dialect: Dialect,
) -> dict[str, Any]:
    for _hop in range(MAX_REDIRECTS + 1):
        checked = await check_url(url, allow_private)
        backend.pin(checked)
        headers = {"Accept": accept}
        if signer is not None:
            headers.update(
                sign(
                    "GET",
                    checked.url,
                    headers,
                    None,
                    signer.key_id,
                    signer.private_key_pem,
                    dialect=dialect,
                )
            )
        # Ask for no compression: the byte limit then bounds what we hold in memory.
        headers["Accept-Encoding"] = "identity"
        async with client.stream("GET", checked.url, headers=headers) as response:
            if response.status_code in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError("redirect without a Location", response.status_code)
                url = urljoin(checked.url, location)
                continue
            if response.status_code >= 400:
                raise FetchError(f"HTTP {response.status_code}", response.status_code)
            if response.status_code != 200:
                raise FetchError(f"unexpected HTTP {response.status_code}", response.status_code)
            if response.headers.get("content-encoding", "identity").lower() != "identity":
                raise FetchError("compressed body refused")
            content_type = response.headers.get("content-type", "")
            if not _is_json(content_type):
                raise FetchError(f"content type {content_type[:100]!r} is not JSON")
            raw = await _read_limited(response, max_bytes)
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise FetchError("body is not valid JSON") from exc
        if not isinstance(data, dict):
            raise FetchError("JSON body is not an object")
        problem = json_tree_problem(data)
        if problem:
            raise FetchError(problem)
        return data
    raise FetchError(f"more than {MAX_REDIRECTS} redirects")


def json_tree_problem(document: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What is wrong with a JSON document from outside, or None.

    Too deep a nest makes every later walk expensive; NUL characters and lone surrogates
    cannot be stored by PostgreSQL and appear in no real ActivityPub document.
    """
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > max_depth:
            return f"the document nests deeper than {max_depth} levels"
        if isinstance(value, dict):
            for key, item in value.items():
                stack.append((key, depth))
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            if "\x00" in value:
                return "the document contains a NUL character"
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                return "the document contains an unpaired surrogate"
    return None


async def fetch_json(
    url: str,
    *,
    signer: Signer | None = None,
    allow_private: bool = False,
    max_bytes: int = 1024 * 1024,
    timeout_s: float = 10.0,
    accept: str = ACCEPT,
    dialect: Dialect = CAVAGE,
) -> dict[str, Any]:
    """GET an ActivityPub object (or another JSON document, by `accept`) as a JSON object,
    checked, bounded and optionally signed in `dialect`.

    Redirects are followed (at most MAX_REDIRECTS), each target checked again; any
    failure raises FetchError (UnsafeURL for a refused URL).
    """
    backend = _PinnedBackend()
    try:
        # One deadline for the whole call, so a server trickling bytes cannot hold us.
        async with asyncio.timeout(timeout_s), _client(backend, timeout_s) as client:
            return await _get_json(
                client, backend, url, signer, allow_private, max_bytes, accept, dialect
            )
    except TimeoutError as exc:
        raise FetchError("timed out") from exc
    except httpx.TimeoutException as exc:
        raise FetchError("timed out") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


async def post_signed(
    url: str,
    body: bytes,
    key_id: str,
    private_pem: str,
    *,
    allow_private: bool = False,
    timeout_s: float = 10.0,
    content_type: str = "application/activity+json",
    dialect: Dialect = CAVAGE,
) -> httpx.Response:
    """POST a body signed in `dialect` to an inbox; the response carries at most 64 KiB of
    its body.

    Any HTTP status comes back as a response (the delivery code decides on retries);
    a refused URL, a timeout or a connection failure raises FetchError.
    """
    backend = _PinnedBackend()
    try:
        async with asyncio.timeout(timeout_s), _client(backend, timeout_s) as client:
            checked = await check_url(url, allow_private)
            backend.pin(checked)
            headers = {"Content-Type": content_type}
            headers.update(
                sign("POST", checked.url, headers, body, key_id, private_pem, dialect=dialect)
            )
            headers["Accept-Encoding"] = "identity"
            async with client.stream(
                "POST", checked.url, headers=headers, content=body
            ) as response:
                content = await _read_truncated(response)
                return httpx.Response(
                    response.status_code,
                    headers=[
                        (k, v)
                        for k, v in response.headers.multi_items()
                        if k.lower() not in ("content-length", "content-encoding")
                    ],
                    content=content,
                    request=response.request,
                )
    except TimeoutError as exc:
        raise FetchError("timed out") from exc
    except httpx.TimeoutException as exc:
        raise FetchError("timed out") from exc
    except httpx.HTTPError as exc:
        raise FetchError(f"{type(exc).__name__}: {exc}") from exc


async def _read_truncated(response: httpx.Response) -> bytes:
    # An inbox's answer only matters for its status; never hold more than a little.
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: MAX_RESPONSE_BYTES - size])
        size += len(chunks[-1])
        if size >= MAX_RESPONSE_BYTES:
            break
    return b"".join(chunks)
