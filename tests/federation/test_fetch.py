"""SSRF-safe fetching against a real HTTP server on loopback."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from personae.federation import fetch
from personae.federation.fetch import (
    FetchError,
    UnsafeURL,
    address_refusal,
    check_url,
    fetch_json,
    post_signed,
)
from personae.federation.signatures import (
    SignatureError,
    Signer,
    generate_key_pair,
    verify_request,
)

KEY_ID = "http://127.0.0.1/actor#main-key"
PRIVATE_PEM, PUBLIC_PEM = generate_key_pair()
ACTOR = {"id": "http://127.0.0.1/actor", "type": "Service"}
AP = "application/activity+json"


class Handler(BaseHTTPRequestHandler):
    """Routes by path; records what it received."""

    seen: list[dict[str, Any]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def send(self, status: int, body: bytes, content_type: str = AP, **extra: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        self.wfile.write(body)

    def verified(self, body: bytes) -> str | None:
        try:
            return verify_request(
                self.command, self.path, dict(self.headers.items()), body, PUBLIC_PEM
            )
        except SignatureError:
            return None

    def do_GET(self) -> None:
        # The client gives up on purpose in some tests (limits, timeouts).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.route_get()

    def route_get(self) -> None:
        self.seen.append({"path": self.path, "headers": dict(self.headers.items())})
        path = self.path
        if path == "/actor":
            self.send(200, json.dumps(ACTOR).encode())
        elif path == "/ld":
            ld = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
            self.send(200, json.dumps(ACTOR).encode(), ld)
        elif path.startswith("/redirect?to="):
            self.send(302, b"", "text/plain", Location=path.split("=", 1)[1])
        elif path == "/loop":
            self.send(302, b"", "text/plain", Location="/loop")
        elif path == "/big":
            self.send(200, b'{"a":"' + b"x" * 4096 + b'"}')
        elif path == "/big-stream":
            # No Content-Length: the body runs until the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", AP)
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"x" * 1024)
        elif path == "/html":
            self.send(200, b"<html></html>", "text/html")
        elif path == "/array":
            self.send(200, b"[1, 2]")
        elif path == "/broken":
            self.send(200, b'{"id": ')
        elif path == "/nul":
            self.send(200, b'{"id": "x", "name": "a\\u0000b"}')
        elif path == "/surrogate":
            self.send(200, b'{"name": "\\ud800"}')
        elif path == "/deep":
            self.send(200, b'{"a": ' * 40 + b"1" + b"}" * 40)
        elif path == "/gone":
            self.send(410, b"{}")
        elif path == "/slow":
            time.sleep(2)
            self.send(200, b"{}")
        elif path == "/signed":
            key_id = self.verified(b"")
            if key_id is None:
                self.send(401, b"{}")
            else:
                self.send(200, json.dumps({"verified": key_id}).encode())
        else:
            self.send(404, b"{}")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.seen.append({"path": self.path, "headers": dict(self.headers.items()), "body": body})
        key_id = self.verified(body)
        self.send(202 if key_id else 401, b"x" * 100_000, "text/plain")


class Server:
    """A ThreadingHTTPServer on a free loopback port."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        handler = type("BoundHandler", (Handler,), {"seen": self.seen})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def fresh(server: Server) -> Server:
    server.seen.clear()
    return server


# --- check_url ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.215.14/", "scheme"),
        ("ftp://93.184.215.14/", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("https://user:pw@93.184.215.14/", "credentials"),
        ("https://93.184.215.14:22/", "port 22"),
        ("https://93.184.215.14/" + "a" * 3000, "too long"),
        ("https://127.0.0.1/", "loopback"),
        ("https://localhost/", "loopback"),
        ("https://[::1]/", "loopback"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://10.1.2.3/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://[fc00::1]/", "private"),
        ("https://224.0.0.1/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
        ("https://100.64.0.1/", "not a globally routable"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),
        ("https://[::ffff:10.0.0.1]/", "private"),
        ("https://[2002:7f00:1::1]/", "loopback"),  # 6to4 around 127.0.0.1
        ("https://[2002:a00:1::1]/", "private"),  # 6to4 around 10.0.0.1
        ("https://[64:ff9b::a9fe:a9fe]/", "link-local"),  # NAT64 around 169.254.169.254
        ("https://[2001::1]/", "Teredo"),
    ],
)
async def test_check_url_refuses(url: str, reason: str) -> None:
    with pytest.raises(UnsafeURL) as info:
        await check_url(url, allow_private=False)
    assert reason in info.value.reason
    assert info.value.status_code == 422


def fake_dns(answers: dict[str, list[str]]) -> Callable[[str, int], Any]:
    async def resolve(host: str, port: int) -> list[str]:
        return answers[host]

    return resolve


async def test_check_url_accepts_public(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(
        fetch, "_resolve", fake_dns({"mastodon.example": ["93.184.215.14", "2606:4700::1111"]})
    )
    checked = await check_url("https://mastodon.example/users/a?x=1", allow_private=False)
    assert checked.host == "mastodon.example"
    assert checked.port == 443
    assert checked.addresses == ("93.184.215.14", "2606:4700::1111")
    assert (await check_url("https://mastodon.example:8443/", False)).port == 8443


async def test_check_url_refuses_any_private_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetch, "_resolve", fake_dns({"mixed.example": ["8.8.8.8", "10.0.0.5"]}))
    with pytest.raises(UnsafeURL, match="private"):
        await check_url("https://mixed.example/", allow_private=False)


async def test_check_url_unresolvable() -> None:
    with pytest.raises(UnsafeURL, match="cannot resolve"):
        await check_url("https://no-such-host.invalid/", allow_private=False)


def test_address_refusal_public() -> None:
    import ipaddress

    assert address_refusal(ipaddress.ip_address("8.8.8.8")) is None
    assert address_refusal(ipaddress.ip_address("2606:4700::1111")) is None
    assert address_refusal(ipaddress.ip_address("::ffff:8.8.8.8")) is None


# --- fetch_json -----------------------------------------------------------------------


async def test_loopback_refused_without_setting(fresh: Server) -> None:
    with pytest.raises(UnsafeURL):
        await fetch_json(f"{fresh.url}/actor")
    with pytest.raises(UnsafeURL, match="loopback"):
        await check_url(f"https://127.0.0.1:{fresh.port}/actor", allow_private=False)
    assert fresh.seen == []


async def test_loopback_allowed_with_setting(fresh: Server) -> None:
    assert await fetch_json(f"{fresh.url}/actor", allow_private=True) == ACTOR
    assert await fetch_json(f"{fresh.url}/ld", allow_private=True) == ACTOR
    headers = fresh.seen[0]["headers"]
    assert headers["Accept"].startswith("application/activity+json")
    assert "Signature" not in headers


async def test_connection_goes_to_the_checked_address(
    fresh: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `.invalid` never resolves in real DNS: reaching the server proves we dialled the
    # address check_url approved, while Host still names the host.
    monkeypatch.setattr(fetch, "_resolve", fake_dns({"actor.invalid": ["127.0.0.1"]}))
    url = f"http://actor.invalid:{fresh.port}/actor"
    assert await fetch_json(url, allow_private=True) == ACTOR
    assert fresh.seen[0]["headers"]["Host"] == f"actor.invalid:{fresh.port}"


async def test_redirect_is_followed_and_checked(fresh: Server) -> None:
    url = f"{fresh.url}/redirect?to=/actor"
    assert await fetch_json(url, allow_private=True) == ACTOR
    assert [seen["path"] for seen in fresh.seen] == ["/redirect?to=/actor", "/actor"]


@pytest.mark.parametrize(
    "target",
    ["https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/", "https://[::1]/actor"],
)
async def test_redirect_to_private_address_is_refused(
    fresh: Server, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    # Our loopback server stands in for a public one; every other URL gets the real
    # public-only check, as in production.
    real = fetch.check_url

    async def policy(url: str, allow_private: bool) -> fetch.CheckedURL:
        return await real(url, url.startswith(fresh.url))

    monkeypatch.setattr(fetch, "check_url", policy)
    with pytest.raises(UnsafeURL):
        await fetch_json(f"{fresh.url}/redirect?to={target}", allow_private=False)
    assert len(fresh.seen) == 1


async def test_redirect_loop_is_cut(fresh: Server) -> None:
    with pytest.raises(FetchError, match="more than 3 redirects"):
        await fetch_json(f"{fresh.url}/loop", allow_private=True)
    assert len(fresh.seen) == 4


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_oversized_body_is_refused(fresh: Server, path: str) -> None:
    with pytest.raises(FetchError, match="limit"):
        await fetch_json(f"{fresh.url}{path}", allow_private=True, max_bytes=2048)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/html", "not JSON"),
        ("/broken", "not valid JSON"),
        ("/array", "not an object"),
        ("/gone", "HTTP 410"),
        ("/nul", "NUL"),
        ("/surrogate", "surrogate"),
        ("/deep", "nests deeper"),
    ],
)
async def test_bad_answers_are_refused(fresh: Server, path: str, reason: str) -> None:
    with pytest.raises(FetchError) as info:
        await fetch_json(f"{fresh.url}{path}", allow_private=True)
    assert reason in info.value.reason
    if path == "/gone":
        assert info.value.status == 410


async def test_whole_fetch_times_out(fresh: Server) -> None:
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        await fetch_json(f"{fresh.url}/slow", allow_private=True, timeout_s=0.3)
    assert time.monotonic() - started < 1.5


async def test_signed_get_verifies_on_the_server(fresh: Server) -> None:
    signer = Signer(key_id=KEY_ID, private_key_pem=PRIVATE_PEM)
    answer = await fetch_json(f"{fresh.url}/signed", signer=signer, allow_private=True)
    assert answer == {"verified": KEY_ID}
    with pytest.raises(FetchError, match="HTTP 401"):
        await fetch_json(f"{fresh.url}/signed", allow_private=True)


# --- post_signed ----------------------------------------------------------------------


async def test_post_signed_verifies_on_the_server(fresh: Server) -> None:
    body = json.dumps({"type": "Create", "id": "http://127.0.0.1/activities/1"}).encode()
    response = await post_signed(
        f"{fresh.url}/inbox", body, KEY_ID, PRIVATE_PEM, allow_private=True
    )
    assert response.status_code == 202
    # The inbox's long answer is cut: we only need its status.
    assert len(response.content) == fetch.MAX_RESPONSE_BYTES
    seen = fresh.seen[0]
    assert seen["body"] == body
    assert seen["headers"]["Content-Type"] == "application/activity+json"
    assert seen["headers"]["Digest"].startswith("SHA-256=")


async def test_post_signed_with_wrong_key_gets_401(fresh: Server) -> None:
    other_private, _ = generate_key_pair()
    response = await post_signed(
        f"{fresh.url}/inbox", b"{}", KEY_ID, other_private, allow_private=True
    )
    assert response.status_code == 401


async def test_post_signed_refuses_private_address(fresh: Server) -> None:
    with pytest.raises(UnsafeURL):
        await post_signed(f"{fresh.url}/inbox", b"{}", KEY_ID, PRIVATE_PEM)
    assert fresh.seen == []
