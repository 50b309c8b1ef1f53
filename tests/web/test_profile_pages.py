"""Profile pages: header, tabs, follower lists, and the follow/block/mute/report buttons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from tests.web.test_pages import SAME

API = "/api/v1"
HX = {"HX-Request": "true"}
Headers = dict[str, str]


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2's slow defaults are not what these tests are about."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def character(
    client: httpx.AsyncClient, owner: Headers, handle: str, visibility: str = "public", **card: Any
) -> dict[str, Any]:
    """Create a character with a given handle through the API."""
    body = {"name": handle.replace("_", " ").title(), "handle": handle, "visibility": visibility}
    r = await client.post(f"{API}/characters", headers=owner, json={**body, **card})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def post(client: httpx.AsyncClient, headers: Headers, text: str, who: str = "") -> str:
    """Publish a post (as a character with `who`); return its id."""
    params = {"as": who} if who else {}
    r = await client.post(f"{API}/posts", headers=headers, params=params, json={"text": text})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def act(headers: Headers, htmx: bool = True) -> Headers:
    """Headers of a same-origin form post by a signed-in person (from htmx or not)."""
    return {**headers, **SAME, **(HX if htmx else {})}


async def test_a_character_profile_discloses_its_operator_and_offers_chat(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel", tags=["Sea", "grumpy"], description="A keeper.")
    await post(client, bob, "The lamp is lit.", who="ansel")
    r = await client.get("/@ansel", headers=alice)
    assert r.status_code == 200
    page = r.text
    assert '<a href="/@bob">AI character operated by @bob</a>' in page
    assert "An AI model writes this character" in page
    assert 'action="/chat/new?character=ansel"' in page
    assert 'action="/@ansel/follow"' in page and 'aria-pressed="false"' in page
    assert 'href="/@ansel/followers"' in page and 'href="/@ansel/following"' in page
    assert 'href="/explore?tag=Sea"' in page
    assert "The lamp is lit." in page
    assert 'action="/@ansel/block"' in page and 'href="/@ansel/report"' in page

    anonymous = await client.get("/@ansel")
    assert "Log in to follow" in anonymous.text and "Log in to chat" in anonymous.text
    assert 'action="/@ansel/follow"' not in anonymous.text

    own = await client.get("/@ansel", headers=bob)
    assert "Edit profile" in own.text and 'action="/@ansel/block"' not in own.text
    person = await client.get("/@bob", headers=alice)
    assert "AI character" not in person.text and "Chat</button>" not in person.text


async def test_follow_and_unfollow_answer_htmx_with_the_action_bar(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel")
    r = await client.post("/@ansel/follow", headers=act(alice), data={"part": "bar"})
    assert r.status_code == 200
    assert "<html" not in r.text and 'id="actions-ansel"' in r.text
    assert 'aria-pressed="true"' in r.text and "Following" in r.text
    assert "You follow @ansel now." in r.text
    profile = (await client.get(f"{API}/actors/ansel", headers=alice)).json()
    assert profile["relationship"]["following"] and profile["followers_count"] == 1

    followers = await client.get("/@ansel/followers")
    assert followers.status_code == 200 and 'href="/@alice"' in followers.text
    following = await client.get("/@alice/following")
    assert following.status_code == 200 and 'href="/@ansel"' in following.text

    card = await client.post("/@ansel/unfollow", headers=act(alice), data={"part": "follow"})
    assert card.status_code == 200 and 'id="follow-ansel"' in card.text
    assert 'aria-pressed="false"' in card.text
    r = await client.get(f"{API}/actors/ansel", headers=alice)
    assert not r.json()["relationship"]["following"]


async def test_without_javascript_actions_redirect_back(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    r = await client.post("/@bob/follow", headers=act(alice, htmx=False), data={"next": "/explore"})
    assert r.status_code == 303 and r.headers["location"] == "/explore"
    r = await client.post(
        "/@bob/mute", headers=act(alice, htmx=False), data={"next": "https://evil.example/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/@bob"
    r = await client.post("/@bob/mute", headers=act(alice, htmx=False), data={"next": "//evil"})
    assert r.headers["location"] == "/@bob"


async def test_a_locked_account_shows_requested_and_the_request_can_be_withdrawn(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    r = await client.patch(f"{API}/profile", headers=bob, json={"locked": True})
    assert r.status_code == 200
    r = await client.post("/@bob/follow", headers=act(alice))
    assert "Requested" in r.text and 'aria-pressed="true"' in r.text
    assert "approves followers" in r.text
    page = await client.get("/@bob", headers=alice)
    assert "Requested" in page.text
    r = await client.post("/@bob/unfollow", headers=act(alice))
    assert "Requested" not in r.text and 'aria-pressed="false"' in r.text


async def test_mute_and_unmute_toggle_pressed(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    r = await client.post("/@bob/mute", headers=act(alice))
    assert r.status_code == 200 and "Muted" in r.text
    assert 'action="/@bob/unmute"' in r.text
    r = await client.post("/@bob/unmute", headers=act(alice))
    assert 'action="/@bob/mute"' in r.text and "You unmuted @bob." in r.text


async def test_blocking_shows_the_blocker_an_unblock_page_and_the_blocked_a_404(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    await character(client, bob, "ansel")
    r = await client.post("/@ansel/block", headers=act(alice))
    assert r.status_code == 200 and 'action="/@ansel/unblock"' in r.text
    assert 'aria-pressed="true"' in r.text and "You blocked @ansel" in r.text
    page = await client.get("/@ansel", headers=alice)
    assert page.status_code == 200
    assert "You blocked @ansel" in page.text and 'action="/@ansel/unblock"' in page.text
    assert "Log in" not in page.text.split("<main", 1)[1]
    explore = await client.get("/explore", headers=alice)
    assert 'href="/@ansel"' not in explore.text
    assert 'href="/@ansel"' in (await client.get("/explore", headers=bob)).text

    r = await client.post(
        "/@ansel/unblock", headers=act(alice, htmx=False), data={"next": "/@ansel"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/@ansel"
    page = await client.get("/@ansel", headers=alice)
    assert 'action="/@ansel/follow"' in page.text

    # Between two people: the blocked person sees nothing of the blocker (a 404).
    await client.post("/@bob/block", headers=act(alice))
    gone = await client.get("/@alice", headers=bob)
    assert gone.status_code == 404 and "Not found" in gone.text
    assert (await client.get("/@alice/followers", headers=bob)).status_code == 404


async def test_reports_need_a_reason_and_are_not_sent_twice(
    client: httpx.AsyncClient, alice: Headers, bob: Headers, db_kind: str
) -> None:
    form = await client.get("/@bob/report", headers=alice)
    assert form.status_code == 200 and 'name="reason"' in form.text
    r = await client.post("/@bob/report", headers=act(alice, htmx=False), data={"comment": "x"})
    assert r.status_code == 422 and "Choose a reason" in r.text
    r = await client.post(
        "/@bob/report", headers=act(alice, htmx=False), data={"reason": "nonsense"}
    )
    assert r.status_code == 422
    r = await client.post(
        "/@bob/report", headers=act(alice), data={"reason": "spam", "comment": "Sells boats."}
    )
    assert r.status_code == 200 and "Thank you" in r.text and "<html" not in r.text
    queue = (await client.get(f"{API}/reports", headers=alice)).json()
    assert [(i["reason"], i["comment"]) for i in queue["items"]] == [("spam", "Sells boats.")]
    again = await client.post("/@bob/report", headers=act(alice), data={"reason": "spam"})
    assert again.status_code == 200 and "already reported" in again.text
    own = await client.post(
        "/@alice/report", headers=act(alice, htmx=False), data={"reason": "spam"}
    )
    assert own.status_code == 422


async def test_bad_requests_are_pages_with_the_right_status(
    client: httpx.AsyncClient, alice: Headers, bob: Headers
) -> None:
    assert (await client.get("/@nobody")).status_code == 404
    assert (await client.get("/@nobody/followers")).status_code == 404
    assert (await client.post("/@nobody/follow", headers=act(alice))).status_code == 404
    cross = await client.post("/@bob/follow", headers={**alice, "Origin": "https://evil.example"})
    assert cross.status_code == 403 and "another site" in cross.text
    assert (await client.post("/@bob/explode", headers=act(alice))).status_code == 422
    bad = await client.get("/@bob/followers?cursor=nope")
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    anonymous = await client.post("/@bob/follow", headers=SAME)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/"
    itself = await client.post("/@alice/follow", headers=act(alice))
    assert itself.status_code == 422


async def test_posts_page_with_htmx_load_more(client: httpx.AsyncClient, bob: Headers) -> None:
    for n in range(22):
        await post(client, bob, f"Note number {n}.")
    first = await client.get("/@bob")
    assert "Note number 21." in first.text and "Note number 0." not in first.text
    assert 'hx-trigger="revealed, click"' in first.text
    start = first.text.index('class="pf-more"')
    url = first.text[start:].split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    more = await client.get(url, headers=HX)
    assert more.status_code == 200 and "<html" not in more.text
    assert "Note number 0." in more.text and "<li>" in more.text
    replies = await client.get("/@bob?replies=1")
    assert 'aria-current="page">Posts and replies' in replies.text
