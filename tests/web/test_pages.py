"""The first web pages: forms and cookies, escaping, ownership, CSRF, static files."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from personae.llm.fake import FakeBackend
from personae.origin import origin_of
from personae.web.pages import STATIC_DIR
from tests.conftest import sign_up

SAME = {"Origin": "http://testserver"}
PASSWORD = "correct horse"


async def web_sign_up(client: httpx.AsyncClient, username: str) -> None:
    """Sign up through the HTML form (the client keeps the session cookie)."""
    form = {"username": username, "password": PASSWORD}
    r = await client.post("/signup", data=form, headers=SAME)
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/"


async def make_character(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **fields: Any
) -> dict[str, Any]:
    body = {"name": "Captain Mira", "first_mes": "Welcome aboard, {{user}}!", **fields}
    r = await client.post(
        "/api/v1/characters", headers=headers or {"Origin": "http://testserver"}, json=body
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def api_conversation(client: httpx.AsyncClient, headers: dict[str, str], ref: str) -> str:
    """Open a conversation through the JSON API; return its id."""
    r = await client.post("/api/v1/conversations", headers=headers, json={"character": ref})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def open_chat_page(client: httpx.AsyncClient, handle: str) -> str:
    """Press "Chat" on a character; return the conversation page's path."""
    r = await client.post(f"/chat/new?character={handle}", headers=SAME)
    assert r.status_code == 303, r.text
    path = r.headers["location"]
    assert re.fullmatch(r"/chat/[0-9a-f]{32}", path)
    return str(path)


async def test_sign_up_form_sets_the_cookie_and_home_shows_the_user(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/")
    assert r.status_code == 200 and 'action="/signup"' in r.text and 'action="/login"' in r.text
    await web_sign_up(client, "carol")
    assert client.cookies.get("personae_session")
    start = await client.get("/")
    assert start.status_code == 303 and start.headers["location"] == "/home"
    home = await client.get("/home")
    assert home.status_code == 200
    assert "@carol" in home.text and 'action="/logout"' in home.text
    assert 'action="/login"' not in home.text
    assert "Content-Security-Policy" in home.headers
    assert (await client.get("/api/v1/me")).json()["username"] == "carol"


async def test_wrong_password_rerenders_the_form_with_an_error(client: httpx.AsyncClient) -> None:
    await sign_up(client, "dave")
    form = {"username": "dave", "password": "wrong password"}
    r = await client.post("/login", data=form, headers=SAME)
    assert r.status_code == 401
    assert "wrong username or password" in r.text
    assert 'value="dave"' in r.text
    assert "personae_session" not in r.cookies


async def test_sign_up_errors_rerender_the_form(client: httpx.AsyncClient) -> None:
    await sign_up(client, "erin")
    taken = {"username": "erin", "password": PASSWORD}
    r = await client.post("/signup", data=taken, headers=SAME)
    assert r.status_code == 409 and "is taken" in r.text
    short = {"username": "frank", "password": "short"}
    r = await client.post("/signup", data=short, headers=SAME)
    assert r.status_code == 422 and "password must be" in r.text


async def test_log_in_and_out(client: httpx.AsyncClient) -> None:
    await sign_up(client, "gina")
    form = {"username": "Gina", "password": PASSWORD}
    r = await client.post("/login", data=form, headers=SAME)
    assert r.status_code == 303 and "personae_session" in r.cookies
    assert "@gina" in (await client.get("/home")).text
    token = client.cookies["personae_session"]
    r = await client.post("/logout", headers=SAME)
    assert r.status_code == 303
    assert not client.cookies.get("personae_session")
    stale = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/me", headers=stale)).status_code == 401


async def test_a_stale_cookie_means_signed_out(client: httpx.AsyncClient) -> None:
    client.cookies.set("personae_session", "no-such-token")
    r = await client.get("/")
    assert r.status_code == 200 and 'action="/login"' in r.text
    assert "personae_session" in r.headers.get("set-cookie", "")
    r = await client.get("/chat/0123456789abcdef0123456789abcdef")
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_the_chat_page_escapes_the_greeting(client: httpx.AsyncClient) -> None:
    await web_sign_up(client, "hank")
    evil = '<script>alert("pwned")</script> & welcome, {{user}}'
    character = await make_character(client, name="<b>Mallory</b>", first_mes=evil)
    studio = (await client.get("/studio")).text
    assert "<b>Mallory</b>" not in studio and "&lt;b&gt;Mallory&lt;/b&gt;" in studio
    page = await client.get(await open_chat_page(client, character["handle"]))
    assert page.status_code == 200
    html = page.text
    assert "<script>alert" not in html and "<b>Mallory" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt; &amp; welcome, hank" in html
    scripts = re.findall(r"<script\b[^>]*>", html)
    # Only our own files run (and JSON data blocks, which never run): nothing inline.
    assert any('src="/static/js/chat.js?v=' in m for m in scripts)
    assert all('src="/static/' in m or 'type="application/json"' in m for m in scripts)
    assert '<span class="badge"' in html and ">AI</span>" in html
    chats = (await client.get("/chats")).text
    assert "&lt;b&gt;Mallory&lt;/b&gt;" in chats and "<b>Mallory" not in chats


async def test_the_chat_page_shows_swipes_and_regenerate(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend
) -> None:
    character = await make_character(
        client, alice, backend="fake", alternate_greetings=["Ahoy, {{user}}."]
    )
    cid = await api_conversation(client, alice, character["id"])
    html = (await client.get(f"/chat/{cid}", headers=alice)).text
    assert "1 / 2" in html and 'data-action="next"' in html
    assert 'data-action="regenerate"' not in html  # a greeting is swiped, not regenerated
    fake_backend.enqueue("Tea is ready.")
    body = {"content": "hello", "stream": False}
    r = await client.post(f"/api/v1/conversations/{cid}/messages", headers=alice, json=body)
    assert r.status_code == 200, r.text
    html = (await client.get(f"/chat/{cid}", headers=alice)).text
    assert "Tea is ready." in html and html.count('data-action="regenerate"') == 1


async def test_another_users_chat_page_is_404(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    character = await make_character(client, alice)
    cid = await api_conversation(client, alice, character["id"])
    assert (await client.get(f"/chat/{cid}", headers=alice)).status_code == 200
    await web_sign_up(client, "ivan")
    r = await client.get(f"/chat/{cid}")
    assert r.status_code == 404 and "Not found" in r.text and "Welcome aboard" not in r.text
    assert (await client.get("/chat/nope")).status_code == 404
    # Alice's character is private, so Ivan cannot open a chat with it either.
    r = await client.post(f"/chat/new?character={character['handle']}", headers=SAME)
    assert r.status_code == 404


@pytest.mark.parametrize("path", ["/login", "/signup", "/logout", "/chat/new?character=x"])
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": "https://evil.example"},
        {"Origin": "null", "Referer": "http://testserver/"},
        {"Origin": "http://testserver:8080"},
        {"Referer": "https://evil.example/http://testserver/"},
    ],
)
async def test_form_posts_from_elsewhere_are_refused(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    r = await client.post(path, data={"username": "mallory", "password": PASSWORD}, headers=headers)
    assert r.status_code == 403
    assert "another site" in r.text
    assert "personae_session" not in r.cookies


async def test_a_same_origin_referer_is_enough(client: httpx.AsyncClient) -> None:
    form = {"username": "judy", "password": PASSWORD}
    r = await client.post("/signup", data=form, headers={"Referer": "http://testserver/"})
    assert r.status_code == 303


async def test_signed_out_form_posts_go_home(client: httpx.AsyncClient) -> None:
    r = await client.post("/studio/new", data={"name": "Nova"}, headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = await client.post("/chat/new?character=nova", headers=SAME)
    assert r.status_code == 303 and r.headers["location"] == "/"


async def test_static_js_and_css_are_served(client: httpx.AsyncClient) -> None:
    home = (await client.get("/")).text
    css = re.search(r'href="(/static/css/bundle\.css\?v=\w+)"', home)
    assert css is not None
    r = await client.get(css.group(1))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/css")
    assert "prefers-color-scheme: dark" in r.text
    r = await client.get("/static/js/chat.js")
    assert r.status_code == 200
    assert "javascript" in r.headers["content-type"]
    assert "getReader()" in r.text


def test_our_scripts_never_write_html() -> None:
    scripts = sorted((STATIC_DIR / "js").glob("*.js"))
    assert any(path.name == "chat.js" for path in scripts)
    for path in scripts:
        source = path.read_text()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
            assert sink not in source, f"{path.name} uses {sink}"


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Example.COM:80/path?q=1", "http://example.com"),
        ("https://example.com:443", "https://example.com"),
        ("https://example.com:8443/", "https://example.com:8443"),
        ("http://[::1]:8000/", "http://[::1]:8000"),
        ("null", None),
        ("javascript:alert(1)", None),
        ("http://host:notaport/", None),
        ("", None),
    ],
)
def test_origin_of(url: str, origin: str | None) -> None:
    assert origin_of(url) == origin


async def test_language_switch_sets_a_cookie_and_goes_back(client: httpx.AsyncClient) -> None:
    origin = {"Origin": str(client.base_url), "Referer": f"{client.base_url}/public?x=1"}
    r = await client.post("/prefs/language", data={"language": "fr"}, headers=origin)
    assert r.status_code == 303 and r.headers["location"] == "/public?x=1"
    page = await client.get("/public")
    assert '<html lang="fr"' in page.text and "Explorer" in page.text
    assert page.headers["content-language"] == "fr"
    bad = await client.post("/prefs/language", data={"language": "xx"}, headers=origin)
    assert bad.status_code == 422 and "Langue inconnue" in bad.text  # the page is in French
    away = {"Origin": str(client.base_url), "Referer": "https://elsewhere.example/phish"}
    r = await client.post("/prefs/theme", data={"theme": "dark"}, headers=away)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'data-theme="dark"' in (await client.get("/public")).text
    bad = await client.post("/prefs/theme", data={"theme": "neon"}, headers=origin)
    assert bad.status_code == 422
    cross = await client.post(
        "/prefs/theme", data={"theme": "light"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
