"""Notifications page: kinds and filters, marking read, follow requests inline, the badge."""

from __future__ import annotations

import httpx

from tests.web.test_pages import SAME
from tests.web.test_profile_pages import (
    HX,
    Headers,
    act,
    character,
    cheap_password_hashing,
    post,
)

__all__ = ["cheap_password_hashing"]  # the autouse fixture, used here too
API = "/api/v1"


async def test_notifications_list_kinds_link_posts_and_mark_read(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel")
    said = await post(client, alice, "Anyone awake?")
    await client.post(f"{API}/posts/{said}/like", headers=bob)
    await client.post(f"{API}/posts/{said}/like?as=ansel", headers=bob)
    await client.post(f"{API}/actors/alice/follow", headers=bob)
    assert (await client.get("/notifications/unread", headers=alice)).text == "3"

    page = await client.get("/notifications", headers=alice)
    assert page.status_code == 200
    text = page.text
    assert 'aria-current="page"' in text and "Notifications" in text
    assert text.count("liked your post") == 2 and "followed you" in text
    assert f'href="/@alice/{said}"' in text and "Anyone awake?" in text
    assert "AI character operated by @bob" in text  # the character's like carries its label
    assert text.count("nt--unread") == 3
    assert (await client.get("/notifications/unread", headers=alice)).text == ""
    again = await client.get("/notifications", headers=alice)
    assert "nt--unread" not in again.text

    likes = await client.get("/notifications?show=likes", headers=alice)
    assert likes.text.count("liked your post") == 2 and "followed you" not in likes.text
    follows = await client.get("/notifications?show=follows", headers=alice)
    assert "followed you" in follows.text and "liked your post" not in follows.text
    assert (await client.get("/notifications?show=nope", headers=alice)).status_code == 422
    bad = await client.get("/notifications?cursor=xyz", headers=alice)
    assert bad.status_code == 422


async def test_a_filtered_view_leaves_other_kinds_unread(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    said = await post(client, alice, "Hello.")
    await client.post(f"{API}/posts/{said}/like", headers=bob)
    await client.get("/notifications?show=follows", headers=alice)
    assert (await client.get("/notifications/unread", headers=alice)).text == "1"
    r = await client.post("/notifications/read", headers={**alice, **SAME})
    assert r.status_code == 303 and r.headers["location"] == "/notifications"
    assert (await client.get("/notifications/unread", headers=alice)).text == ""


async def test_follow_requests_are_answered_inline(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await client.patch(f"{API}/profile", headers=alice, json={"locked": True})
    await client.post(f"{API}/actors/alice/follow", headers=bob)
    page = await client.get("/notifications?show=follows", headers=alice)
    assert "asked to follow you" in page.text
    assert 'action="/notifications/requests/bob/accept"' in page.text
    assert "waiting for you to answer" in page.text
    r = await client.post("/notifications/requests/bob/accept", headers=act(alice))
    assert r.status_code == 200 and "<html" not in r.text and "follows you now" in r.text
    profile = (await client.get(f"{API}/actors/alice", headers=bob)).json()
    assert profile["relationship"]["following"]
    # A second click (or a second tab) answers as the first did and changes nothing.
    again = await client.post("/notifications/requests/bob/accept", headers=act(alice))
    assert again.status_code == 200 and "follows you now" in again.text
    followers = (await client.get(f"{API}/actors/alice", headers=bob)).json()["followers_count"]
    assert followers == 1

    await sign_up_carol_and_request(client)
    r = await client.post(
        "/notifications/requests/carol/reject", headers={**alice, **SAME}, data={}
    )
    assert r.status_code == 303 and r.headers["location"] == "/notifications"
    assert "asked to follow you" not in (await client.get("/notifications", headers=alice)).text
    cross = await client.post("/notifications/requests/bob/accept", headers=alice)
    assert cross.status_code == 403


async def sign_up_carol_and_request(client: httpx.AsyncClient) -> None:
    """A third person asks to follow alice."""
    from tests.conftest import sign_up

    carol = await sign_up(client, "carol")
    r = await client.post(f"{API}/actors/alice/follow", headers=carol)
    assert r.json()["state"] == "pending"


async def test_signed_out_visitors_and_htmx_paging(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    r = await client.get("/notifications")
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert (await client.get("/notifications/unread")).text == ""
    said = await post(client, alice, "Numbers.")
    for n in range(22):
        await post(client, bob, f"@alice reply {n}", who="")
    first = await client.get("/notifications", headers=alice)
    assert first.text.count("mentioned you") == 20 and 'class="pf-more"' in first.text
    url = first.text.split('class="pf-more"><a class="button button--quiet" href="', 1)[1]
    url = url.split('"', 1)[0].replace("&amp;", "&")
    rest = await client.get(url, headers={**alice, **HX})
    assert rest.status_code == 200 and "<html" not in rest.text
    assert rest.text.count("mentioned you") == 2
    assert said
