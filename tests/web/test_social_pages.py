"""The network's pages: AI labels everywhere, the API's visibility, escaping, paging."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import sign_up
from tests.web.test_pages import SAME, web_sign_up

AI_BADGE = 'class="badge badge--ai"'


async def character(
    client: httpx.AsyncClient, owner: dict[str, str], name: str, visibility: str = "public"
) -> str:
    """Create a character through the API; return its handle."""
    body = {"name": name, "visibility": visibility}
    r = await client.post("/api/v1/characters", headers=owner, json=body)
    assert r.status_code == 201, r.text
    return str(r.json()["handle"])


async def post(
    client: httpx.AsyncClient, headers: dict[str, str], text: str, as_: str = "", **fields: Any
) -> dict[str, Any]:
    """Publish a post through the API (as a character when `as_` is given)."""
    url = f"/api/v1/posts?as={as_}" if as_ else "/api/v1/posts"
    r = await client.post(url, headers=headers, json={"text": text, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def follow(client: httpx.AsyncClient, headers: dict[str, str], handle: str) -> None:
    """Follow an actor through the API."""
    r = await client.post(f"/api/v1/actors/{handle}/follow", headers=headers)
    assert r.status_code == 200, r.text


def is_not_found_page(r: httpx.Response) -> bool:
    """A 404 answered as an HTML page."""
    return (
        r.status_code == 404
        and r.headers["content-type"].startswith("text/html")
        and "Not found" in r.text
    )


async def test_character_pages_carry_the_ai_label_and_people_pages_do_not(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    mira = await character(client, bob, "Captain Mira")
    said = await post(client, bob, "Welcome aboard, everyone.", as_=mira)
    await post(client, bob, "A note from the human.")

    profile = await client.get(f"/@{mira}")
    assert profile.status_code == 200
    assert "Captain Mira" in profile.text and f"@{mira}" in profile.text
    assert AI_BADGE in profile.text
    assert '<a href="/@bob">AI character operated by @bob</a>' in profile.text
    assert "Welcome aboard, everyone." in profile.text
    assert "Content-Security-Policy" in profile.headers

    page = await client.get(said["url"])
    assert page.status_code == 200
    assert "Welcome aboard, everyone." in page.text
    assert AI_BADGE in page.text and "AI character operated by @bob" in page.text

    person = await client.get("/@bob")
    assert person.status_code == 200 and "A note from the human." in person.text
    assert AI_BADGE not in person.text and "AI character" not in person.text


async def test_a_human_repost_shows_the_badge_of_the_original_author(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, bob, "Captain Mira")
    said = await post(client, bob, "Storm ahead, hold on.", as_=mira)
    r = await client.post(f"/api/v1/posts/{said['id']}/repost", headers=carol)
    assert r.status_code == 201, r.text
    repost_id = r.json()["id"]

    page = await client.get("/@carol")
    assert page.status_code == 200
    card = page.text.split(f'id="post-{repost_id}"', 1)[1]
    assert "reposted" in card and "Storm ahead, hold on." in card
    assert AI_BADGE in card and "AI character operated by @bob" in card
    # Only the original's author is labelled: carol is a person.
    assert card.count(AI_BADGE) == 1

    # The repost's own address leads to the original's page.
    moved = await client.get(f"/@carol/{repost_id}")
    assert moved.status_code == 302 and moved.headers["location"] == said["url"]


async def test_a_wrong_handle_in_a_post_address_redirects_and_unknown_posts_are_404(
    client: httpx.AsyncClient,
) -> None:
    bob = await sign_up(client, "bob")
    said = await post(client, bob, "Mine.")
    await sign_up(client, "carol")
    moved = await client.get(f"/@carol/{said['id']}?cursor=")
    assert moved.status_code == 302 and moved.headers["location"] == f"{said['url']}?cursor="
    assert is_not_found_page(await client.get(f"/@bob/{'0' * 32}"))
    assert is_not_found_page(await client.get("/@bob/not-an-id"))
    assert is_not_found_page(await client.get("/@nobody"))
    upper = await client.get("/@BOB")
    assert upper.status_code == 302 and upper.headers["location"] == "/@bob"


async def test_followers_only_and_direct_posts_follow_the_api_rules(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await follow(client, bob, "alice")
    circle = await post(client, alice, "Only for my followers.", visibility="followers")
    secret = await post(client, alice, "Psst @bob, a secret.", visibility="direct")

    for url in (circle["url"], secret["url"]):
        assert is_not_found_page(await client.get(url))
        assert is_not_found_page(await client.get(url, headers=carol))
        r = await client.get(f"/api/v1/posts/{url.rsplit('/', 1)[1]}", headers=carol)
        assert r.status_code == 404  # the same answer as the API
    shown = await client.get(circle["url"], headers=bob)
    assert shown.status_code == 200 and "Only for my followers." in shown.text
    assert "followers only" in shown.text
    shown = await client.get(secret["url"], headers=bob)
    assert shown.status_code == 200 and "a secret." in shown.text

    for headers in ({}, carol):
        profile = await client.get("/@alice?replies=1", headers=headers)
        assert profile.status_code == 200
        assert "Only for my followers." not in profile.text and "a secret" not in profile.text
    profile = await client.get("/@alice", headers=bob)
    assert "Only for my followers." in profile.text and "a secret." in profile.text


async def test_pages_read_the_session_cookie(client: httpx.AsyncClient, db_kind: str) -> None:
    alice = await sign_up(client, "alice")
    circle = await post(client, alice, "Followers see this.", visibility="followers")
    await web_sign_up(client, "dave")
    assert is_not_found_page(await client.get(circle["url"]))
    r = await client.post("/api/v1/actors/alice/follow", headers=SAME)
    assert r.status_code == 200, r.text
    page = await client.get(circle["url"])
    assert page.status_code == 200 and "Followers see this." in page.text
    assert 'href="/@dave"' in page.text  # the header's "Your profile" link

    home = await client.get("/home")
    assert home.status_code == 200 and "Followers see this." in home.text
    client.cookies.clear()
    away = await client.get("/home")
    assert away.status_code == 303 and away.headers["location"] == "/"


async def test_a_private_character_is_not_found_except_by_its_owner(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    hidden = await character(client, bob, "Secret Agent", visibility="private")
    assert is_not_found_page(await client.get(f"/@{hidden}"))
    assert is_not_found_page(await client.get(f"/@{hidden}", headers=carol))
    own = await client.get(f"/@{hidden}", headers=bob)
    assert own.status_code == 200 and "only you see it" in own.text


async def test_a_character_made_private_leaves_quotes_unavailable(
    client: httpx.AsyncClient,
) -> None:
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, bob, "Captain Mira")
    said = await post(client, bob, "Land ho!", as_=mira)
    quote = await post(client, carol, "Look at this.", quote_of_id=said["id"])
    page = await client.get(quote["url"])
    assert "Land ho!" in page.text and "AI character operated by @bob" in page.text

    r = await client.patch(
        f"/api/v1/characters/{mira}", headers=bob, json={"visibility": "private"}
    )
    assert r.status_code == 200, r.text
    page = await client.get(quote["url"])
    assert page.status_code == 200 and "Look at this." in page.text
    assert "The quoted post is unavailable." in page.text and "Land ho!" not in page.text
    assert is_not_found_page(await client.get(said["url"]))


async def test_text_is_escaped_and_content_warnings_hide_it(client: httpx.AsyncClient) -> None:
    bob = await sign_up(client, "bob")
    evil = await post(
        client, bob, "<script>alert(1)</script> #Cats", content_warning="<b>spoiler</b>"
    )
    page = await client.get(evil["url"])
    assert page.status_code == 200
    assert "<script>alert" not in page.text and "<b>spoiler" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    details = re.search(r"<details class=\"post__cw\">(.*?)</details>", page.text, re.S)
    assert details is not None
    assert "&lt;b&gt;spoiler&lt;/b&gt;" in details.group(1).split("</summary>")[0]
    assert "alert(1)" in details.group(1).split("</summary>")[1]
    assert 'href="/tags/cats"' in page.text

    tag = await client.get("/tags/cats")
    assert tag.status_code == 200 and "#cats" in tag.text and evil["id"] in tag.text
    assert (await client.get("/tags/dogs")).text.count('class="post card') == 0


async def test_the_public_page_lists_public_posts_only(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    mira = await character(client, bob, "Captain Mira")
    shown = await post(client, bob, "For everyone.")
    await post(client, bob, "Quietly public.", visibility="unlisted")
    await post(client, bob, "Followers only.", visibility="followers")
    await post(client, bob, "A reply.", in_reply_to_id=shown["id"])
    await post(client, bob, "From the bridge.", as_=mira)

    page = await client.get("/public")
    assert page.status_code == 200
    assert "For everyone." in page.text and "From the bridge." in page.text
    assert "Quietly public." not in page.text and "Followers only." not in page.text
    assert "A reply." not in page.text
    # One post by an AI character (the aside beside the feed lists characters too).
    assert page.text.split("<aside")[0].count(AI_BADGE) == 1

    home = await client.get("/")
    assert 'href="/public"' in home.text


async def test_a_thread_shows_ancestors_above_and_replies_below(
    client: httpx.AsyncClient, db_kind: str
) -> None:
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, bob, "Captain Mira")
    root = await post(client, bob, "Who steers?", as_=mira)
    middle = await post(client, carol, "I do.", in_reply_to_id=root["id"])
    leaf = await post(client, bob, "Aye.", as_=mira, in_reply_to_id=middle["id"])

    page = (await client.get(middle["url"])).text
    assert page.index("Who steers?") < page.index("I do.") < page.index("Aye.")
    assert page.count(AI_BADGE) == 2  # both of Mira's posts, not carol's
    assert "1 reply" in page
    profile = await client.get("/@carol")
    assert "I do." not in profile.text
    with_replies = await client.get("/@carol?replies=1")
    assert "I do." in with_replies.text
    assert leaf["url"] in (await client.get(root["url"])).text


async def test_older_links_page_through_timelines(client: httpx.AsyncClient, db_kind: str) -> None:
    bob = await sign_up(client, "bob")
    for n in range(23):
        await post(client, bob, f"Post number {n:02d}.")
    await post(client, bob, "Not on the public page.", visibility="unlisted")

    first = await client.get("/public")
    assert first.text.count('class="post card') == 20
    assert "Post number 22." in first.text and "Post number 02." not in first.text
    older = re.search(r'href="(/public\?cursor=[0-9a-f]{32})" rel="next"', first.text)
    assert older is not None
    second = await client.get(older.group(1))
    assert second.status_code == 200 and second.text.count('class="post card') == 3
    assert "Post number 00." in second.text and 'rel="next"' not in second.text

    profile = await client.get("/@bob?replies=1")
    older = re.search(r'href="(/@bob\?replies=1&amp;cursor=[0-9a-f]{32})" rel="next"', profile.text)
    assert older is not None
    rest = await client.get(older.group(1).replace("&amp;", "&"))
    assert rest.text.count('class="post card') == 4 and "Post number 00." in rest.text

    bad = await client.get("/public?cursor=nonsense")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
