"""Explore: the character directory (search, tags, paging), trending, people and post search."""

from __future__ import annotations

import re

import httpx

from tests.web.test_profile_pages import (
    HX,
    Headers,
    act,
    character,
    cheap_password_hashing,
    post,
)

__all__ = ["cheap_password_hashing"]  # the autouse fixture, used here too


def listed(page: str) -> list[str]:
    """Handles of the character cards on an Explore page, in order."""
    return re.findall(r'<h2 class="ex-card__name" id="card-([a-z0-9_]+)"', page)


async def test_only_public_characters_are_listed(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel", description="Keeps the {{char}} lighthouse lit.")
    await character(client, bob, "hidden_one", visibility="private")
    await character(client, bob, "link_only", visibility="unlisted")
    for who in ({}, alice, bob):
        page = await client.get("/explore", headers=who)
        assert page.status_code == 200
        assert listed(page.text) == ["ansel"]
        assert "hidden_one" not in page.text and "link_only" not in page.text
    page = (await client.get("/explore", headers=alice)).text
    assert "Keeps the Ansel lighthouse lit." in page
    assert "AI character operated by @bob" in page
    assert 'action="/chat/new?character=ansel"' in page and 'id="follow-ansel"' in page
    assert 'aria-current="page">Explore' in page or 'aria-current="page">\n' in page
    assert (await client.get("/explore?q=hidden", headers=bob)).text.count("card-hidden") == 0


async def test_search_and_tags_filter_the_directory(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel", tags=["Sea", "grumpy"], description="A keeper.")
    await character(client, bob, "fern", tags=["robot", "gardening"], description="Tends seeds.")
    await character(client, bob, "vane", tags=["space pirate", "sea_dog"], description="Ahoy.")
    page = (await client.get("/explore")).text
    assert 'href="/explore?tag=sea"' in page and 'href="/explore?tag=robot"' in page
    assert listed((await client.get("/explore?tag=sea")).text) == ["ansel"]
    assert listed((await client.get("/explore?tag=%23SEA")).text) == ["ansel"]
    assert listed((await client.get("/explore?tag=space+pirate")).text) == ["vane"]
    assert listed((await client.get("/explore?tag=sea_dog")).text) == ["vane"]
    unpopular = (await client.get("/explore?tag=se")).text
    assert listed(unpopular) == []
    # A chosen tag keeps its chip, marked current, even when no character has it.
    assert 'href="/explore?tag=se" aria-current="page"' in unpopular
    assert listed((await client.get("/explore?q=seeds")).text) == ["fern"]
    assert listed((await client.get("/explore?q=GARDEN")).text) == ["fern"]
    assert listed((await client.get("/explore?q=ans")).text) == ["ansel"]
    assert listed((await client.get("/explore?q=pirate+ahoy")).text) == ["vane"]
    assert listed((await client.get("/explore?q=keeper&tag=robot")).text) == []
    nothing = await client.get("/explore?q=zebra")
    assert "Nothing matches" in nothing.text
    fragment = await client.get("/explore?q=seeds", headers=HX)
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert fragment.text.lstrip().startswith('<div id="explore-results"')
    assert listed(fragment.text) == ["fern"]


async def test_bad_queries_are_422_pages(client: httpx.AsyncClient) -> None:
    for url in (
        "/explore?q=" + "x" * 201,
        "/explore?tag=" + "t" * 51,
        "/explore?tab=nope",
        "/explore?cursor=bogus",
        "/explore?tab=people&q=%21%21",
    ):
        r = await client.get(url)
        assert r.status_code == 422, url
        assert r.headers["content-type"].startswith("text/html")


async def test_the_directory_pages_with_load_more(client: httpx.AsyncClient, bob: Headers) -> None:
    for n in range(26):
        await character(client, bob, f"char_{n:02d}")
    first = await client.get("/explore")
    assert len(listed(first.text)) == 24
    more = re.search(r'class="pf-more"><a class="button button--quiet" href="([^"]+)"', first.text)
    assert more is not None
    rest = await client.get(more.group(1).replace("&amp;", "&"), headers=HX)
    assert rest.status_code == 200 and "<html" not in rest.text
    assert len(listed(rest.text)) == 2
    assert not set(listed(rest.text)) & set(listed(first.text))


async def test_trending_tab_ranks_by_engagement(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "quiet_one")
    await character(client, bob, "busy_one")
    said = await post(client, bob, "Ahoy.", who="busy_one")
    await client.post(f"/api/v1/posts/{said}/like", headers=alice)
    page = (await client.get("/explore?tab=trending")).text
    assert listed(page) == ["busy_one"]
    assert "1 point this week" in page
    empty = await client.get("/explore?tab=trending", headers=bob)
    assert empty.status_code == 200


async def test_people_and_post_search_tabs(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await post(client, bob, "Kelp forests are wonderful.")
    people = await client.get("/explore?tab=people&q=bob", headers=alice)
    assert people.status_code == 200 and 'href="/@bob"' in people.text
    assert 'id="follow-bob"' in people.text
    posts = await client.get("/explore?tab=posts&q=kelp")
    assert "Kelp forests are wonderful." in posts.text
    prompt = await client.get("/explore?tab=posts")
    assert "Type a name or some words" in prompt.text
    r = await client.post("/@bob/follow", headers=act(alice), data={"part": "follow"})
    assert 'id="follow-bob"' in r.text and "Following" in r.text
