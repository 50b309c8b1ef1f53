"""The feed pages: tabs, compose and inline actions (htmx and plain forms), live streams."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from personae.web import live
from tests.conftest import sign_up
from tests.web.test_pages import SAME, web_sign_up
from tests.web.test_social_pages import character, follow, post

HX = {**SAME, "HX-Request": "true"}


def card_of(html: str, post_id: str) -> str:
    """The markup of one post card in a page."""
    start = html.index(f'id="post-{post_id}"')
    return html[start : html.index("</article>", start)]


@pytest.fixture
def quick_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    """Streams that poll fast and end quickly (the test client reads a whole response)."""
    monkeypatch.setattr(live, "STREAM_POLL_S", 0.05)
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 0.3)


def events(body: str) -> list[tuple[str, str]]:
    """(id, data) of each `post` event in an SSE body."""
    found = []
    for block in body.split("\n\n"):
        lines = block.splitlines()
        if "event: post" not in lines:
            continue
        event_id = next(line[4:] for line in lines if line.startswith("id: "))
        data = "\n".join(line[6:] for line in lines if line.startswith("data: "))
        found.append((event_id, data))
    return found


async def test_tabs_and_signed_out_visitors(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    await post(client, bob, "Hello from bob.")
    for path in ("/home", "/for-you"):
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == "/"
    public = await client.get("/public")
    assert public.status_code == 200 and "Hello from bob." in public.text
    assert 'aria-label="Timelines"' not in public.text  # no tabs for visitors
    assert 'sse-connect="/public/stream?after=' in public.text
    assert 'action="/posts"' not in public.text

    await web_sign_up(client, "carol")
    await follow(client, SAME, "bob")
    home = await client.get("/home")
    assert home.status_code == 200 and "Hello from bob." in home.text
    assert '<a href="/home" aria-current="page">Home</a>' in home.text
    assert 'href="/for-you"' in home.text and 'href="/public"' in home.text
    assert 'action="/posts"' in home.text and 'role="combobox"' in home.text
    assert 'sse-connect="/home/stream?after=' in home.text
    assert 'aria-live="polite"' in home.text
    for_you = await client.get("/for-you")
    assert for_you.status_code == 200 and "Hello from bob." in for_you.text
    assert 'href="/for-you" aria-current="page"' in for_you.text
    assert "sse-connect" not in for_you.text  # ranked: no live stream
    client.cookies.set("personae_lang", "fr")
    french = await client.get("/home")
    assert "Pour vous" in french.text and "Quoi de neuf ?" in french.text


async def test_infinite_scroll_sends_fragments(client: httpx.AsyncClient) -> None:
    bob = await sign_up(client, "bob")
    for n in range(25):
        await post(client, bob, f"Number {n:02d}.")
    first = await client.get("/public")
    older = re.search(r'hx-get="(/public\?cursor=[0-9a-f]{32})" hx-trigger="revealed"', first.text)
    assert older is not None
    fragment = await client.get(older.group(1), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text and fragment.text.count('class="post card') == 5
    assert "Number 00." in fragment.text and 'hx-trigger="revealed"' not in fragment.text
    page = await client.get(older.group(1))
    assert "<html" in page.text  # the plain link still gets a whole page


async def test_compose_posts_and_refusals_are_kind(client: httpx.AsyncClient, db_kind: str) -> None:
    await web_sign_up(client, "carol")
    r = await client.post(
        "/posts",
        data={"text": "Hi @nobody #news", "content_warning": "spoilers", "into": "feed"},
        headers=HX,
    )
    assert r.status_code == 200
    assert 'hx-swap-oob="afterbegin:#feed-posts"' in r.text and "Hi @nobody" in r.text
    assert "spoilers" in r.text and 'class="post__cw"' in r.text
    assert "data-compose" in r.text  # a fresh, empty box comes back

    for text, message in (("   ", "Write something first"), ("x" * 3001, "longer than a post")):
        r = await client.post("/posts", data={"text": text, "into": "feed"}, headers=HX)
        assert r.status_code == 200 and message in r.text and 'role="alert"' in r.text
        assert "hx-swap-oob" not in r.text
        plain = await client.post("/posts", data={"text": text}, headers=SAME)
        assert plain.status_code == 422 and message in plain.text and "<html" in plain.text
    long_kept = await client.post("/posts", data={"text": "y" * 3001}, headers=HX)
    assert "y" * 3001 in long_kept.text  # nothing typed is lost
    r = await client.post("/posts", data={"text": "hi", "visibility": "nope"}, headers=HX)
    assert 'role="alert"' in r.text
    home = await client.get("/home")
    assert home.text.count('class="post card') == 1

    plain = await client.post(
        "/posts",
        data={"text": "Without JS.", "into": "feed"},
        headers={**SAME, "Referer": "http://testserver/home"},
    )
    assert plain.status_code == 303 and plain.headers["location"] == "/home"
    cross = await client.post(
        "/posts", data={"text": "Forged."}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    assert "Forged." not in (await client.get("/home")).text

    client.cookies.clear()
    away = await client.post("/posts", data={"text": "Anonymous."}, headers=SAME)
    assert away.status_code == 303 and away.headers["location"] == "/"


async def test_like_repost_and_undo_return_the_card(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    mira = await character(client, bob, "Captain Mira")
    said = await post(client, bob, "Land ho!", as_=mira)
    pid = said["id"]
    await web_sign_up(client, "carol")

    r = await client.post(f"/posts/{pid}/like", headers=HX)
    assert r.status_code == 200 and r.text.strip().startswith("<article")
    card = card_of(r.text, pid)
    assert 'action="/posts/' + pid + '/unlike"' in card
    assert re.search(r'aria-pressed="true" data-action="like">.*?>1</span>', card, re.S)
    assert "AI character operated by @bob" in card
    r = await client.post(f"/posts/{pid}/unlike", headers=HX)
    assert 'aria-pressed="false" data-action="like"' in r.text

    r = await client.post(f"/posts/{pid}/repost", headers=HX)
    assert 'aria-pressed="true" data-action="repost"' in r.text
    profile_api = await client.get("/api/v1/actors/carol/posts")
    repost_id = profile_api.json()["items"][0]["id"]
    public = await client.get("/public")
    repost_card = card_of(public.text, repost_id)
    assert "Carol reposted" in repost_card or "carol reposted" in repost_card
    assert 'class="badge badge--ai"' in repost_card  # the original's author keeps its badge
    # Undoing from the repost's own card: the repost is gone, the original comes back.
    r = await client.post(f"/posts/{repost_id}/unrepost", headers=HX)
    assert r.status_code == 200 and f'id="post-{pid}"' in r.text
    assert 'aria-pressed="false" data-action="repost"' in r.text

    # Without JavaScript: a form post and a redirect back to the page it came from.
    back = {**SAME, "Referer": "http://testserver/public?x=1"}
    r = await client.post(f"/posts/{pid}/like", headers=back)
    assert r.status_code == 303 and r.headers["location"] == "/public?x=1"
    r = await client.get(f"/api/v1/posts/{pid}", headers=bob)
    assert r.json()["likes_count"] == 1

    assert (await client.post(f"/posts/{'0' * 32}/like", headers=HX)).status_code == 404
    cross = await client.post(f"/posts/{pid}/unlike", headers={"Origin": "https://evil.example"})
    assert cross.status_code == 403


async def test_reply_and_quote_boxes(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    said = await post(client, bob, "Who steers?", visibility="unlisted")
    await web_sign_up(client, "carol")

    box = await client.get(f"/compose?in_reply_to_id={said['id']}", headers=HX)
    assert box.status_code == 200 and "<html" not in box.text
    assert f'name="in_reply_to_id" value="{said["id"]}"' in box.text
    assert '<option value="unlisted" selected>' in box.text  # the parent's audience
    assert (await client.get(f"/compose?in_reply_to_id={said['id']}")).text.count("<html") == 1

    data = {"text": "I do.", "in_reply_to_id": said["id"], "visibility": "public"}
    wide = await client.post("/posts", data=data, headers=HX)
    assert "narrower audience" in wide.text
    data["visibility"] = "unlisted"
    sent = await client.post("/posts", data=data, headers=HX)
    assert "Your reply is posted." in sent.text
    thread = await client.get(said["url"])
    assert "I do." in thread.text and 'id="thread-replies"' in thread.text
    assert "1 reply" in thread.text

    on_page = await client.post(
        "/posts", data={**data, "text": "Me too.", "into": "replies"}, headers=HX
    )
    assert 'hx-swap-oob="beforeend:#thread-replies"' in on_page.text and "Me too." in on_page.text

    quote = await client.post(
        "/posts", data={"text": "Look.", "quote_of_id": said["id"]}, headers=HX
    )
    assert "Your quote is posted." in quote.text
    unknown = await client.post(
        "/posts", data={"text": "Hm.", "in_reply_to_id": "f" * 32}, headers=HX
    )
    assert unknown.status_code == 404


async def test_only_the_author_deletes(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    theirs = await post(client, bob, "Bob's post.")
    await web_sign_up(client, "carol")
    mine = (await client.post("/api/v1/posts", json={"text": "Carol's post."}, headers=SAME)).json()

    public = (await client.get("/public")).text
    assert f'action="/posts/{mine["id"]}/delete"' in public
    assert f'action="/posts/{theirs["id"]}/delete"' not in public
    refused = await client.post(f"/posts/{theirs['id']}/delete", headers=HX)
    assert refused.status_code == 403
    assert (await client.get(theirs["url"])).status_code == 200

    gone = await client.post(f"/posts/{mine['id']}/delete", headers=HX)
    assert gone.status_code == 200 and "Post deleted." in gone.text
    assert (await client.get(mine["url"])).status_code == 404
    again = await client.post(f"/posts/{mine['id']}/delete", headers=SAME)
    assert again.status_code == 404


async def test_mention_suggestions(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    await character(client, bob, "Lighthouse Ansel")
    await character(client, bob, "Hidden One", visibility="private")
    assert (await client.get("/mentions?q=li")).json() == []  # signed out: nothing
    await web_sign_up(client, "carol")
    found = (await client.get("/mentions?q=lighth")).json()
    assert [a["handle"] for a in found] == ["lighthouse_ansel"]
    assert found[0]["ai"] is True and found[0]["name"] == "Lighthouse Ansel"
    assert (await client.get("/mentions?q=hidden")).json() == []
    assert (await client.get("/mentions?q=__")).json() == []


async def test_the_stream_sends_new_visible_posts_only(
    client: httpx.AsyncClient, db_kind: str, quick_streams: None
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    first = await post(client, alice, "Before the page.")
    await web_sign_up(client, "carol")
    await follow(client, SAME, "alice")
    await post(client, bob, "Bob, followers only.", visibility="followers")
    shown = await post(client, alice, "Alice, followers only.", visibility="followers")
    public = await post(client, bob, "Bob in public.")

    r = await client.get(f"/home/stream?after={first['id']}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    assert [i for i, _ in got] == [shown["id"]]
    assert "Alice, followers only." in got[0][1] and got[0][1].startswith("<li")

    r = await client.get(f"/public/stream?after={first['id']}")
    assert [i for i, _ in events(r.text)] == [public["id"]]
    assert "followers only" not in r.text
    # Reconnecting: Last-Event-ID says what the browser already has.
    r = await client.get(
        f"/public/stream?after={first['id']}", headers={"Last-Event-ID": public["id"]}
    )
    assert events(r.text) == []

    # A post written while the stream is open arrives (the stream polls the database).
    live.STREAM_LIFETIME_S = 1.0
    task = asyncio.create_task(client.get(f"/public/stream?after={public['id']}"))
    await asyncio.sleep(0.2)
    late = await post(client, alice, "Written later.")
    r = await task
    assert [i for i, _ in events(r.text)] == [late["id"]]

    client.cookies.clear()
    assert (await client.get("/home/stream")).status_code == 204
    r = await client.get(f"/public/stream?after={first['id']}")
    assert "Alice, followers only." not in r.text and "Bob in public." in r.text
