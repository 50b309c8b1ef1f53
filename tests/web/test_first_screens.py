"""First screens: a new account's Home, the aside, the compose limit, one card per post,
blocking with a confirmation, private characters, and a thread's live replies."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from personae.web import live
from tests.conftest import sign_up
from tests.web.test_feed_pages import events
from tests.web.test_pages import PASSWORD, SAME
from tests.web.test_social_pages import character, post

HX = {**SAME, "HX-Request": "true"}


async def web_log_in(client: httpx.AsyncClient, username: str) -> None:
    """Log in through the HTML form (the client keeps the session cookie)."""
    r = await client.post("/login", data={"username": username, "password": PASSWORD}, headers=SAME)
    assert r.status_code == 303, r.text


def main_of(html: str) -> str:
    """The main column of a page (without the aside beside it)."""
    return html[html.index('<main id="main"') : html.index("</main>")]


def aside_of(html: str) -> str:
    """The aside of a page ("" when it has none)."""
    if "<aside" not in html:
        return ""
    return html[html.index("<aside") : html.index("</aside>")]


async def test_a_new_account_meets_a_living_home(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    dana = await sign_up(client, "dana")
    mira = await character(client, bob, "Captain Mira")
    said = await post(client, bob, "The stars are out tonight #sky", as_=mira)
    r = await client.post(f"/api/v1/posts/{said['id']}/like", headers=dana)
    assert r.status_code == 200, r.text
    await post(client, dana, "Dana says hello to everyone. #sky")
    await post(client, bob, "Bob, followers only.", visibility="followers")

    await sign_up(client, "carol", PASSWORD)
    await web_log_in(client, "carol")
    home = await client.get("/home")
    assert home.status_code == 200
    main = main_of(home.text)
    # What one can do here, with links; the community's public posts instead of nothing.
    assert "Welcome to personae" in main
    for link in ('href="/studio/new"', 'href="/explore"', 'href="/chats"'):
        assert link in main
    assert "The stars are out tonight" in main and "Dana says hello" in main
    assert "Bob, followers only." not in home.text
    assert "Nothing here yet" not in main
    assert 'sse-connect="/public/stream?after=' in main
    # Suggestions: the trending character first, people to follow, each with a button.
    assert f'id="welcome-{mira}"' in main and 'id="welcome-dana"' in main
    assert 'name="slot" value="welcome"' in main
    aside = aside_of(home.text)
    assert f'id="aside-{mira}"' in aside and 'id="aside-bob"' in aside
    assert "#sky" in aside and "2 posts" in aside and "Trending tags" in aside
    assert "carol" not in aside.replace("Carol", "")  # never oneself

    # Following from a suggestion swaps just that button, named by its slot.
    r = await client.post(
        f"/@{mira}/follow", data={"part": "follow", "slot": "welcome", "next": "/home"}, headers=HX
    )
    assert r.status_code == 200 and f'id="welcome-{mira}"' in r.text and "Following" in r.text
    # Now the Home is the usual one: followed posts, no welcome, the home stream.
    home = await client.get("/home")
    main = main_of(home.text)
    assert "Welcome to personae" not in main and "The stars are out tonight" in main
    assert "Dana says hello" not in main
    assert 'sse-connect="/home/stream?after=' in main
    assert f'id="aside-{mira}"' not in aside_of(home.text)  # followed: no longer suggested


async def test_the_aside_beside_public_and_tag_pages(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    mira = await character(client, bob, "Captain Mira")
    await post(client, bob, "Night watch #sky #sea", as_=mira)
    await post(client, bob, "Morning #sky")
    for path in ("/public", "/tags/sky"):
        page = await client.get(path)
        aside = aside_of(page.text)
        assert 'aria-label="Suggestions"' in aside, path
        assert aside.index("#sky") < aside.index("#sea")  # most used first
        assert f"/@{mira}" in aside and 'href="/"' in aside  # visitors: log in to follow
    client.cookies.set("personae_lang", "fr")
    french = await client.get("/public")
    assert "Mots-clés tendance" in french.text and "2 publications" in french.text


async def test_compose_counts_and_refuses_without_cutting(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    await sign_up(client, "carol", PASSWORD)
    await web_log_in(client, "carol")
    home = await client.get("/home")
    # No maxlength: a browser would cut a long paste without a word.
    assert 'maxlength="3000"' not in home.text and 'data-max="3000"' in home.text
    assert 'data-over-note="compose-over"' in home.text and 'id="compose-over"' in home.text
    long = "word " * 700  # 3500 characters
    plain = await client.post("/posts", data={"text": long}, headers=SAME)
    assert plain.status_code == 422 and long.strip() in plain.text
    assert 'aria-invalid="true"' in plain.text and "longer than a post" in plain.text
    pasted = "A very long paste. " * 1500  # 28500 characters: still kept whole
    plain = await client.post("/posts", data={"text": pasted}, headers=SAME)
    assert plain.status_code == 422 and pasted.strip() in plain.text
    # Line breaks count once, as the counter counts them (browsers send CRLF).
    exact = await client.post("/posts", data={"text": "ab\r\n" * 1000}, headers=HX)
    assert exact.status_code == 200 and 'role="alert"' not in exact.text


async def test_a_repost_is_not_shown_beside_its_original(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    original = await post(client, bob, "Worth sharing.")
    await post(client, bob, "Something else.")
    r = await client.post(f"/api/v1/posts/{original['id']}/repost", headers=carol)
    assert r.status_code == 201, r.text
    repost = r.json()
    page = (await client.get("/public")).text
    assert page.count("Worth sharing.") == 1  # one card, saying who reposted
    assert f'id="post-{repost["id"]}"' in page and f'id="post-{original["id"]}"' not in page
    assert "carol reposted" in page
    assert f'data-post="{original["id"]}"' in page  # for the page's script, across pages


async def test_block_asks_first_and_names_whose_posts_go(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    await post(client, bob, "Bob was here.")
    await sign_up(client, "carol", PASSWORD)
    await web_log_in(client, "carol")
    profile = (await client.get("/@bob")).text
    bob_id = (await client.get("/api/v1/actors/bob", headers=bob)).json()["id"]
    assert 'hx-confirm="Block @bob? Neither of you' in profile
    assert f'data-hides="{bob_id}"' in profile and f'data-actors="{bob_id}"' in profile
    assert "js/feed.js" in profile  # the script that takes the posts away
    r = await client.post("/@bob/block", data={"part": "bar", "next": "/@bob"}, headers=HX)
    assert r.status_code == 200 and "You blocked @bob" in r.text
    assert "Bob was here." not in (await client.get("/public")).text


async def test_no_follow_button_for_ones_own_private_character(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    carol = await sign_up(client, "carol", PASSWORD)
    secret = await character(client, carol, "Secret Sam", visibility="private")
    shown = await character(client, carol, "Open Olga")
    await web_log_in(client, "carol")
    private_page = await client.get(f"/@{secret}")
    assert private_page.status_code == 200
    assert ">Follow<" not in private_page.text and "Edit profile" in private_page.text
    public_page = await client.get(f"/@{shown}")
    assert ">Follow<" in public_page.text


async def test_a_thread_streams_new_replies(
    client: httpx.AsyncClient, db_kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "STREAM_POLL_S", 0.05)
    monkeypatch.setattr(live, "STREAM_LIFETIME_S", 1.0)
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, bob, "Captain Mira")
    root = await post(client, bob, "Who steers?")
    first = await post(client, carol, "I do.", in_reply_to_id=root["id"])
    page = (await client.get(root["url"])).text
    assert f'sse-connect="{root["url"]}/stream?after={first["id"]}"' in page
    assert 'hx-swap="beforeend"' in page

    task = asyncio.create_task(client.get(f"{root['url']}/stream?after={first['id']}"))
    await asyncio.sleep(0.2)
    late = await post(client, bob, "Aye.", as_=mira, in_reply_to_id=first["id"])
    await post(client, bob, "Elsewhere.")  # not in the thread
    r = await task
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    assert [i for i, _ in got] == [late["id"]] and "Aye." in got[0][1]
    assert got[0][1].startswith('<li class="posts__new">')

    hidden = await post(client, bob, "Only followers.", visibility="followers")
    assert (await client.get(f"{hidden['url']}/stream")).status_code == 404
