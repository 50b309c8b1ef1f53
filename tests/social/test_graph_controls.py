"""The social graph and people's controls, through the HTTP API, on SQLite and PostgreSQL.

Actors and profiles, follows and requests, blocks (including blocks of characters),
mutes, the AI preferences, reports with the admins' queue, and notifications.
"""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from PIL import Image

from tests.conftest import sign_up

API = "/api/v1"
Headers = dict[str, str]
Json = dict[str, Any]


# ---------------------------------------------------------------------------- helpers


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sign-ups hash passwords with argon2's slow defaults; these tests need many accounts."""
    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


def png(color: tuple[int, int, int] = (10, 20, 30), size: tuple[int, int] = (3, 2)) -> bytes:
    """A real, small PNG image."""
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "PNG")
    return out.getvalue()


def as_(handle: str | None) -> dict[str, str]:
    """Query parameters acting as a character (none when `handle` is None)."""
    return {"as": handle} if handle else {}


def error_code(r: httpx.Response) -> str:
    """The machine-readable code of an error answer."""
    return str(r.json()["error"]["code"])


async def character(
    client: httpx.AsyncClient,
    headers: Headers,
    handle: str,
    name: str | None = None,
    visibility: str = "public",
) -> Json:
    """Create a character with a given handle."""
    r = await client.post(
        f"{API}/characters",
        headers=headers,
        json={"name": name or handle.title(), "handle": handle, "visibility": visibility},
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


async def write(
    client: httpx.AsyncClient, headers: Headers, text: str, who: str | None = None, **extra: Any
) -> httpx.Response:
    """Try to publish a post (as a character with `who`)."""
    return await client.post(
        f"{API}/posts", headers=headers, params=as_(who), json={"text": text, **extra}
    )


async def post(
    client: httpx.AsyncClient, headers: Headers, text: str, who: str | None = None, **extra: Any
) -> Json:
    """Publish a post that must succeed."""
    r = await write(client, headers, text, who, **extra)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def actor(
    client: httpx.AsyncClient, headers: Headers, handle: str, who: str | None = None
) -> httpx.Response:
    """GET an actor's profile."""
    return await client.get(f"{API}/actors/{handle}", headers=headers, params=as_(who))


async def profile(client: httpx.AsyncClient, handle: str, headers: Headers | None = None) -> Json:
    """An actor's profile that must be visible (anonymously unless headers are given)."""
    r = await actor(client, headers or {}, handle)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def ids(
    client: httpx.AsyncClient, url: str, headers: Headers, who: str | None = None, **params: Any
) -> list[str]:
    """Ids of the items of a listing, which must answer 200."""
    r = await client.get(f"{API}{url}", headers=headers, params={**as_(who), **params})
    assert r.status_code == 200, r.text
    return [str(item["id"]) for item in r.json()["items"]]


async def handles(
    client: httpx.AsyncClient, url: str, headers: Headers, who: str | None = None, **params: Any
) -> list[str]:
    """Handles of the actors of a listing, which must answer 200."""
    r = await client.get(f"{API}{url}", headers=headers, params={**as_(who), **params})
    assert r.status_code == 200, r.text
    return [str(item["handle"]) for item in r.json()["items"]]


async def notes(
    client: httpx.AsyncClient, headers: Headers, who: str | None = None, **params: Any
) -> list[Json]:
    """The notifications of the caller (or of its character), newest first."""
    r = await client.get(
        f"{API}/notifications", headers=headers, params={**as_(who), "limit": 40, **params}
    )
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def kinds_from(items: list[Json], handle: str) -> list[str]:
    """Kinds of the notifications caused by one actor."""
    return sorted(n["kind"] for n in items if n["actor"] and n["actor"]["handle"] == handle)


async def status(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: Headers,
    who: str | None = None,
    json: Any = None,
) -> int:
    """The status code of a request."""
    r = await client.request(method, f"{API}{url}", headers=headers, params=as_(who), json=json)
    return r.status_code


async def surfaces(
    client: httpx.AsyncClient, headers: Headers, word: str, who: str | None = None
) -> dict[str, set[str]]:
    """Post ids the caller sees on home, public, for-you, a tag and post search."""
    return {
        "home": set(await ids(client, "/timelines/home", headers, who, limit=40)),
        "public": set(await ids(client, "/timelines/public", headers, who, limit=40)),
        "for_you": set(await ids(client, "/timelines/for-you", headers, who, limit=40)),
        "tag": set(await ids(client, f"/timelines/tag/{word}", headers, who, limit=40)),
        "search": set(await ids(client, "/search", headers, who, q=word, limit=40)),
    }


# ---------------------------------------------------------------------------- 1. actors


async def test_accounts_and_characters_are_actors_in_one_namespace(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    person = await profile(client, "alice")
    assert person["kind"] == "person" and person["is_ai"] is False
    assert person["ai_label"] is None and person["operator"] is None

    await character(client, bob, "nova", name="Nova Star")
    nova = await profile(client, "nova")
    assert nova["kind"] == "character" and nova["is_ai"] is True
    assert nova["display_name"] == "Nova Star"
    assert nova["operator"]["handle"] == "bob"
    assert nova["ai_label"] == "AI character operated by @bob"

    # One namespace: a character cannot take a username, nor an account a handle.
    r = await client.post(
        f"{API}/characters", headers=bob, json={"name": "Fake Alice", "handle": "alice"}
    )
    assert r.status_code == 409
    r = await client.post(f"{API}/accounts", json={"username": "nova", "password": "correct horse"})
    assert r.status_code == 409
    r = await client.patch(f"{API}/characters/nova", headers=bob, json={"handle": "alice"})
    assert r.status_code == 409
    assert (await profile(client, "alice"))["kind"] == "person"


async def test_private_character_and_visibility_changes(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    await character(client, bob, "secret", visibility="private")
    assert (await actor(client, {}, "secret")).status_code == 404
    assert (await actor(client, alice, "secret")).status_code == 404
    own = await actor(client, bob, "secret")
    assert own.status_code == 200 and own.json()["private"] is True
    # A private character cannot publish.
    r = await write(client, bob, "hello", "secret")
    assert r.status_code == 422 and error_code(r) == "character_private"

    await character(client, bob, "nova", name="Nova")
    hello = await post(client, bob, "hello from nova #stars", "nova")
    assert hello["author"]["handle"] == "nova" and hello["is_ai"] is True
    assert hello["id"] in await ids(client, "/timelines/public", alice)
    assert "nova" in await handles(client, "/search", alice, q="nova", type="actors")

    r = await client.patch(f"{API}/characters/nova", headers=bob, json={"visibility": "private"})
    assert r.status_code == 200
    for headers in ({}, alice):
        assert (await actor(client, headers, "nova")).status_code == 404
        assert (await client.get(f"{API}/posts/{hello['id']}", headers=headers)).status_code == 404
        assert hello["id"] not in await ids(client, "/timelines/public", headers)
        assert hello["id"] not in await ids(client, "/timelines/tag/stars", headers)
        assert "nova" not in await handles(client, "/search", headers, q="nova", type="actors")
    # Its operator still sees it (and its posts).
    assert (await actor(client, bob, "nova")).status_code == 200
    assert (await client.get(f"{API}/posts/{hello['id']}", headers=bob)).status_code == 200

    r = await client.patch(f"{API}/characters/nova", headers=bob, json={"visibility": "unlisted"})
    assert r.status_code == 200
    assert (await actor(client, alice, "nova")).status_code == 200
    assert (await client.get(f"{API}/posts/{hello['id']}", headers=alice)).status_code == 200
    assert hello["id"] in await ids(client, "/timelines/public", alice)
    # Unlisted characters are not offered by actor search.
    assert "nova" not in await handles(client, "/search", alice, q="nova", type="actors")


async def test_rename_and_delete_character_follow_the_actor(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    await character(client, bob, "nova", name="Nova")
    hello = await post(client, bob, "hello from nova", "nova")

    r = await client.patch(f"{API}/characters/nova", headers=bob, json={"name": "Nova Prime"})
    assert r.status_code == 200
    assert (await profile(client, "nova"))["display_name"] == "Nova Prime"
    got = await client.get(f"{API}/posts/{hello['id']}", headers=alice)
    assert got.json()["author"]["display_name"] == "Nova Prime"

    r = await client.patch(f"{API}/characters/nova", headers=bob, json={"handle": "nova_two"})
    assert r.status_code == 200
    assert (await actor(client, alice, "nova")).status_code == 404
    assert (await profile(client, "nova_two"))["display_name"] == "Nova Prime"

    assert (await client.delete(f"{API}/characters/nova_two", headers=bob)).status_code == 204
    for headers in ({}, alice, bob):
        assert (await actor(client, headers, "nova_two")).status_code == 404
        assert (await client.get(f"{API}/posts/{hello['id']}", headers=headers)).status_code == 404
        assert hello["id"] not in await ids(client, "/timelines/public", headers)
    # The handle is free again: for a new character or for an account.
    await sign_up(client, "nova_two")


async def test_deleting_a_character_keeps_counters_right(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    words = await post(client, alice, "alice writes")
    await character(client, bob, "nova")
    assert (await status(client, "POST", "/actors/alice/follow", bob, "nova")) == 200
    assert (await status(client, "POST", f"/posts/{words['id']}/like", bob, "nova")) == 200
    await post(client, bob, "a reply", "nova", in_reply_to_id=words["id"])
    assert (await profile(client, "alice"))["followers_count"] == 1
    assert (await client.delete(f"{API}/characters/nova", headers=bob)).status_code == 204
    # The rows are gone ...
    assert await handles(client, "/actors/alice/followers", alice) == []
    thread = await client.get(f"{API}/posts/{words['id']}/thread", headers=alice)
    assert thread.json()["descendants"] == []
    # ... and so should be what they counted.
    after = (await client.get(f"{API}/posts/{words['id']}", headers=alice)).json()
    assert (after["likes_count"], after["replies_count"]) == (0, 0)
    assert (await profile(client, "alice"))["followers_count"] == 0


async def test_profile_edit_and_validation(db_kind: str, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    me = await client.get(f"{API}/profile", headers=alice)
    assert me.status_code == 200 and me.json()["handle"] == "alice"
    assert (await client.get(f"{API}/profile")).status_code == 401

    change = {
        "display_name": "Alice A.",
        "bio": "I garden.",
        "fields": [{"name": "site", "value": "https://example.org"}],
        "locked": False,
    }
    r = await client.patch(f"{API}/profile", headers=alice, json=change)
    assert r.status_code == 200, r.text
    seen = await profile(client, "alice")
    assert seen["display_name"] == "Alice A." and seen["bio"] == "I garden."
    assert seen["fields"] == [{"name": "site", "value": "https://example.org"}]

    bad: list[Json] = [
        {"bio": "x" * 2001},
        {"fields": [{"name": f"f{i}", "value": "v"} for i in range(5)]},
        {"fields": [{"name": "site"}]},
        {"fields": [{"name": "", "value": "v"}]},
        {"fields": [{"name": "a", "value": "v", "extra": 1}]},
        {"color": "red"},
        {"display_name": ""},
        {"display_name": "y" * 101},
        {"locked": "perhaps"},
        {"bio": "changed", "fields": [{"name": "x"}]},
    ]
    for body in bad:
        r = await client.patch(f"{API}/profile", headers=alice, json=body)
        assert r.status_code == 422, (body, r.text)
    assert await profile(client, "alice") == seen

    # A character's profile through `as`: bio and fields yes, display name no.
    await character(client, bob, "nova", name="Nova")
    r = await client.patch(
        f"{API}/profile",
        headers=bob,
        params=as_("nova"),
        json={"bio": "I am Nova.", "fields": [{"name": "kind", "value": "AI"}]},
    )
    assert r.status_code == 200 and r.json()["handle"] == "nova"
    r = await client.patch(
        f"{API}/profile", headers=bob, params=as_("nova"), json={"display_name": "X", "bio": "new"}
    )
    assert r.status_code == 422 and error_code(r) == "rename_character"
    assert "rename the character" in r.json()["error"]["message"]
    nova = await profile(client, "nova")
    assert nova["bio"] == "I am Nova." and nova["display_name"] == "Nova"
    assert nova["fields"] == [{"name": "kind", "value": "AI"}]
    own = await client.get(f"{API}/profile", headers=bob, params=as_("nova"))
    assert own.json()["handle"] == "nova"
    # Someone else's character cannot be acted as.
    r = await client.patch(f"{API}/profile", headers=alice, params=as_("nova"), json={"bio": "x"})
    assert r.status_code == 404
    # The operator's display name is what characters show as their operator.
    await client.patch(f"{API}/profile", headers=bob, json={"display_name": "Bobby"})
    assert (await profile(client, "nova"))["operator"]["display_name"] == "Bobby"
    assert (await profile(client, "bob"))["bio"] == ""


async def test_avatar_and_header_upload(db_kind: str, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    assert (await client.get(f"{API}/actors/alice/avatar")).status_code == 404
    red, blue, green = png((200, 0, 0)), png((0, 0, 200)), png((0, 200, 0))

    r = await client.put(
        f"{API}/profile/avatar", headers=alice, files={"file": ("a.png", red, "image/png")}
    )
    assert r.status_code == 200, r.text
    got = await client.get(f"{API}/actors/alice/avatar")
    assert got.status_code == 200 and got.content == red
    assert got.headers["content-type"] == "image/png"

    r = await client.put(
        f"{API}/profile/header", headers=alice, files={"file": ("h.png", blue, "image/png")}
    )
    assert r.status_code == 200
    assert (await client.get(f"{API}/actors/alice/header")).content == blue

    for junk in (b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"garbage" * 10):
        r = await client.put(
            f"{API}/profile/avatar", headers=alice, files={"file": ("x.png", junk, "image/png")}
        )
        assert 400 <= r.status_code < 500, r.text
    assert (await client.get(f"{API}/actors/alice/avatar")).content == red
    assert (await client.put(f"{API}/profile/avatar", headers=alice)).status_code == 422

    # A character's avatar, set through `as`, is the character's card avatar.
    await character(client, bob, "nova")
    r = await client.put(
        f"{API}/profile/avatar",
        headers=bob,
        params=as_("nova"),
        files={"file": ("n.png", green, "image/png")},
    )
    assert r.status_code == 200, r.text
    assert (await client.get(f"{API}/actors/nova/avatar")).content == green
    assert (await client.get(f"{API}/characters/nova/avatar")).content == green
    assert (await client.get(f"{API}/actors/bob/avatar")).status_code == 404
    r = await client.put(
        f"{API}/profile/header",
        headers=bob,
        params=as_("nova"),
        files={"file": ("n.png", blue, "image/png")},
    )
    assert r.status_code == 200
    assert (await client.get(f"{API}/actors/nova/header")).content == blue
    assert (await client.get(f"{API}/actors/bob/header")).status_code == 404


# ---------------------------------------------------------------------------- 2. follows


async def test_follow_unfollow_counts_and_idempotence(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")

    for _ in range(2):  # following twice changes nothing the second time
        r = await client.post(f"{API}/actors/bob/follow", headers=carol)
        assert r.status_code == 200 and r.json()["state"] == "accepted"
        assert r.json()["actor"]["relationship"]["following"] is True
    assert (await profile(client, "bob"))["followers_count"] == 1
    assert (await profile(client, "carol"))["following_count"] == 1
    assert (await actor(client, bob, "carol")).json()["relationship"]["followed_by"] is True
    assert kinds_from(await notes(client, bob), "carol") == ["follow"]
    assert await handles(client, "/actors/bob/followers", {}) == ["carol"]
    assert await handles(client, "/actors/carol/following", {}) == ["bob"]

    for _ in range(2):
        r = await client.delete(f"{API}/actors/bob/follow", headers=carol)
        assert r.status_code == 200 and r.json()["relationship"]["following"] is False
    assert (await profile(client, "bob"))["followers_count"] == 0
    assert (await profile(client, "carol"))["following_count"] == 0
    assert await handles(client, "/actors/bob/followers", {}) == []

    r = await client.post(f"{API}/actors/carol/follow", headers=carol)
    assert r.status_code == 422 and error_code(r) == "self_follow"
    assert (await status(client, "POST", "/actors/nobody/follow", carol)) == 404
    assert (await status(client, "POST", "/actors/bob/follow", {})) == 401

    # A private character cannot be followed: it does not exist for others.
    await character(client, bob, "secret", visibility="private")
    assert (await status(client, "POST", "/actors/secret/follow", carol)) == 404
    assert (await profile(client, "carol"))["following_count"] == 0
    # A character can follow, and be followed.
    await character(client, bob, "nova")
    assert (await status(client, "POST", "/actors/carol/follow", bob, "nova")) == 200
    assert (await status(client, "POST", "/actors/nova/follow", carol)) == 200
    assert (await profile(client, "nova"))["followers_count"] == 1
    assert (await profile(client, "nova"))["following_count"] == 1


async def test_locked_account_follow_requests(db_kind: str, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    dave = await sign_up(client, "dave")
    r = await client.patch(f"{API}/profile", headers=bob, json={"locked": True})
    assert r.status_code == 200 and r.json()["locked"] is True
    inner = await post(client, bob, "for my followers", visibility="followers")

    r = await client.post(f"{API}/actors/bob/follow", headers=carol)
    assert r.status_code == 200 and r.json()["state"] == "pending"
    assert r.json()["actor"]["relationship"]["requested"] is True
    assert r.json()["actor"]["relationship"]["following"] is False
    assert (await profile(client, "bob"))["followers_count"] == 0
    assert kinds_from(await notes(client, bob), "carol") == ["follow_request"]
    assert await handles(client, "/follow-requests", bob) == ["carol"]
    # A pending request grants nothing.
    assert (await status(client, "GET", f"/posts/{inner['id']}", carol)) == 404
    assert inner["id"] not in await ids(client, "/timelines/home", carol)
    assert await handles(client, "/actors/bob/followers", {}) == []

    assert (await status(client, "POST", "/follow-requests/carol/accept", bob)) == 204
    assert await handles(client, "/follow-requests", bob) == []
    assert (await profile(client, "bob"))["followers_count"] == 1
    assert await handles(client, "/actors/bob/followers", {}) == ["carol"]
    assert kinds_from(await notes(client, bob), "carol") == ["follow"]
    assert (await status(client, "GET", f"/posts/{inner['id']}", carol)) == 200
    assert inner["id"] in await ids(client, "/timelines/home", carol)

    r = await client.post(f"{API}/actors/bob/follow", headers=dave)
    assert r.json()["state"] == "pending"
    assert (await status(client, "POST", "/follow-requests/dave/reject", bob)) == 204
    assert await handles(client, "/follow-requests", bob) == []
    assert kinds_from(await notes(client, bob), "dave") == []
    relation = (await actor(client, dave, "bob")).json()["relationship"]
    assert relation["requested"] is False and relation["following"] is False
    assert (await status(client, "GET", f"/posts/{inner['id']}", dave)) == 404
    assert (await status(client, "POST", "/follow-requests/dave/accept", bob)) == 404

    # Withdrawing a request removes it (and its notification).
    await client.post(f"{API}/actors/bob/follow", headers=dave)
    assert await handles(client, "/follow-requests", bob) == ["dave"]
    assert (await status(client, "DELETE", "/actors/bob/follow", dave)) == 200
    assert await handles(client, "/follow-requests", bob) == []
    assert kinds_from(await notes(client, bob), "dave") == []


async def test_follower_lists_page_and_followers_can_be_removed(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    followers = ["bob", "c1", "c2", "c3", "c4"]
    assert (await status(client, "POST", "/actors/alice/follow", bob)) == 200
    for handle in followers[1:]:
        await character(client, bob, handle)
        assert (await status(client, "POST", "/actors/alice/follow", bob, handle)) == 200
    assert (await profile(client, "alice"))["followers_count"] == 5

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(f"{API}/actors/alice/followers", params=params)
        assert r.status_code == 200, r.text
        seen += [a["handle"] for a in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        pages += 1
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(followers))  # newest first, each once
    assert await handles(client, "/actors/c2/following", {}) == ["alice"]
    for url in ("/actors/alice/followers", "/actors/c1/following", "/follow-requests", "/blocks"):
        r = await client.get(f"{API}{url}", headers=alice, params={"cursor": "nope"})
        assert r.status_code == 422 and error_code(r) == "bad_cursor", url

    assert (await status(client, "DELETE", "/actors/bob/follower", alice)) == 204
    assert "bob" not in await handles(client, "/actors/alice/followers", {})
    assert (await profile(client, "alice"))["followers_count"] == 4
    assert (await profile(client, "bob"))["following_count"] == 0
    assert (await status(client, "DELETE", "/actors/c3/follower", alice)) == 204
    assert (await profile(client, "c3"))["following_count"] == 0
    assert await handles(client, "/actors/alice/followers", {}) == ["c4", "c2", "c1"]


# ---------------------------------------------------------------------------- 3. blocks


async def test_block_hides_both_ways_and_stops_acting(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await client.post(f"{API}/actors/bob/follow", headers=carol)
    await client.post(f"{API}/actors/carol/follow", headers=bob)
    bob_post = await post(client, bob, "bobpost #thistle")
    carol_post = await post(client, carol, "carolpost #thistle")
    reply = await post(client, carol, "carol replies", in_reply_to_id=bob_post["id"])
    assert kinds_from(await notes(client, bob), "carol") == ["follow", "reply"]

    assert (await status(client, "POST", "/actors/bob/block", carol)) == 204
    assert (await status(client, "POST", "/actors/bob/block", carol)) == 204  # idempotent
    r = await client.post(f"{API}/actors/carol/block", headers=carol)
    assert r.status_code == 422
    # Follows end both ways, notifications between them go.
    for handle in ("bob", "carol"):
        p = await profile(client, handle)
        assert (p["followers_count"], p["following_count"]) == (0, 0)
    assert kinds_from(await notes(client, bob), "carol") == []
    assert kinds_from(await notes(client, carol), "bob") == []

    pairs = ((bob, "carol", carol_post, bob_post), (carol, "bob", bob_post, carol_post))
    for me, other, theirs, mine in pairs:
        assert (await actor(client, me, other)).status_code == 404
        assert (await status(client, "GET", f"/actors/{other}/posts", me)) == 404
        assert (await status(client, "GET", f"/posts/{theirs['id']}", me)) == 404
        seen = await surfaces(client, me, "thistle")
        assert {k: theirs["id"] in v for k, v in seen.items()} == dict.fromkeys(seen, False)
        assert mine["id"] in seen["public"] and mine["id"] in seen["search"]
        assert other not in await handles(client, "/search", me, q=other, type="actors")
    thread = await client.get(f"{API}/posts/{bob_post['id']}/thread", headers=bob)
    assert thread.status_code == 200 and thread.json()["descendants"] == []
    assert (await status(client, "GET", f"/posts/{bob_post['id']}/thread", carol)) == 404
    assert (await status(client, "GET", f"/posts/{reply['id']}/thread", bob)) == 404
    # Others still see both.
    public = await ids(client, "/timelines/public", alice)
    assert bob_post["id"] in public and carol_post["id"] in public

    # The blocked one cannot act on the blocker.
    cp = carol_post["id"]
    assert (await status(client, "POST", "/actors/carol/follow", bob)) == 404
    assert (await status(client, "POST", f"/posts/{cp}/like", bob)) == 404
    assert (await status(client, "POST", f"/posts/{cp}/repost", bob)) == 404
    r = await write(client, bob, "answer", in_reply_to_id=cp)
    assert r.status_code == 404
    r = await write(client, bob, "look", quote_of_id=cp)
    assert r.status_code == 404
    # ... and mentioning the blocker reaches nobody and grants nothing.
    ping = await post(client, bob, "hey @carol, secret", visibility="followers")
    assert ping["mentions"] == []
    assert kinds_from(await notes(client, carol), "bob") == []
    assert (await status(client, "GET", f"/posts/{ping['id']}", carol)) == 404
    assert cp in await ids(client, "/timelines/public", {})

    assert await handles(client, "/blocks", carol) == ["bob"]
    assert await handles(client, "/blocks", bob) == []
    relation = (await actor(client, alice, "bob")).json()["relationship"]
    assert relation["blocking"] is False

    # The blocked one may block back; then both blocks must go before they meet again.
    assert (await status(client, "POST", "/actors/carol/block", bob)) == 204
    assert await handles(client, "/blocks", bob) == ["carol"]
    assert (await status(client, "DELETE", "/actors/bob/block", carol)) == 204
    assert (await status(client, "GET", f"/posts/{cp}", bob)) == 404
    assert (await actor(client, carol, "bob")).status_code == 404
    assert (await status(client, "DELETE", "/actors/carol/block", bob)) == 204

    # Unblocking restores visibility, not follows (and the mention never happened).
    assert (await status(client, "DELETE", "/actors/bob/block", carol)) == 204
    assert await handles(client, "/blocks", carol) == []
    assert (await actor(client, bob, "carol")).status_code == 200
    assert (await status(client, "GET", f"/posts/{cp}", bob)) == 200
    assert (await status(client, "GET", f"/posts/{bob_post['id']}", carol)) == 200
    relation = (await actor(client, carol, "bob")).json()["relationship"]
    assert relation["following"] is False and relation["followed_by"] is False
    assert (await profile(client, "bob"))["followers_count"] == 0
    assert (await status(client, "GET", f"/posts/{ping['id']}", carol)) == 404
    thread = await client.get(f"{API}/posts/{bob_post['id']}/thread", headers=bob)
    assert [p["id"] for p in thread.json()["descendants"]] == [reply["id"]]


async def test_block_of_a_character_binds_its_operator_only_as_that_character(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    paula = await sign_up(client, "paula")
    otto = await sign_up(client, "otto")
    await character(client, otto, "cyra")
    assert (await status(client, "POST", "/actors/paula/follow", otto, "cyra")) == 200
    words = await post(client, paula, "paula speaks #marigold")
    pid = words["id"]
    assert (await status(client, "GET", f"/posts/{pid}", otto, "cyra")) == 200

    assert (await status(client, "POST", "/actors/cyra/block", paula)) == 204
    assert (await profile(client, "paula"))["followers_count"] == 0
    # As the blocked character, the operator can neither see nor reach paula.
    assert (await actor(client, otto, "paula", "cyra")).status_code == 404
    assert (await status(client, "GET", f"/posts/{pid}", otto, "cyra")) == 404
    assert (await status(client, "GET", "/actors/paula/posts", otto, "cyra")) == 404
    seen = await surfaces(client, otto, "marigold", "cyra")
    assert not any(pid in v for v in seen.values())
    assert (await status(client, "POST", f"/posts/{pid}/like", otto, "cyra")) == 404
    assert (await status(client, "POST", f"/posts/{pid}/repost", otto, "cyra")) == 404
    assert (await status(client, "POST", "/actors/paula/follow", otto, "cyra")) == 404
    r = await write(client, otto, "a reply", "cyra", in_reply_to_id=pid)
    assert r.status_code == 404
    mention = await post(client, otto, "hello @paula", "cyra")
    assert mention["mentions"] == []
    assert await notes(client, paula) == []
    assert (await status(client, "GET", f"/posts/{mention['id']}", paula)) == 404
    assert (await actor(client, paula, "cyra")).status_code == 404

    # As himself the operator is not blocked.
    assert (await actor(client, otto, "paula")).status_code == 200
    assert (await status(client, "GET", f"/posts/{pid}", otto)) == 200
    assert pid in (await surfaces(client, otto, "marigold"))["public"]
    assert (await status(client, "POST", f"/posts/{pid}/like", otto)) == 200
    assert (await status(client, "POST", "/actors/paula/follow", otto)) == 200
    await post(client, otto, "nice, @paula", in_reply_to_id=pid)
    assert kinds_from(await notes(client, paula), "otto") == ["follow", "like", "reply"]
    assert (await actor(client, paula, "otto")).status_code == 200
    assert await handles(client, "/blocks", paula) == ["cyra"]


async def test_blocking_a_person_covers_their_characters_both_ways(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    paula = await sign_up(client, "paula")
    otto = await sign_up(client, "otto")
    await character(client, otto, "cyra")
    await character(client, paula, "pim")
    assert (await status(client, "POST", "/actors/paula/follow", otto, "cyra")) == 200
    assert (await status(client, "POST", "/actors/cyra/follow", paula, "pim")) == 200
    mine = (await post(client, paula, "paula speaks #quince"))["id"]
    pims = (await post(client, paula, "pim speaks #quince", "pim"))["id"]
    cyras = (await post(client, otto, "cyra speaks #quince", "cyra"))["id"]
    assert (await status(client, "POST", "/actors/pim/block", paula)) == 422  # her own

    assert (await status(client, "POST", "/actors/otto/block", paula)) == 204
    # Every follow between the two people's actors is gone, with its counts.
    assert (await profile(client, "paula"))["followers_count"] == 0
    assert (await profile(client, "cyra", otto))["followers_count"] == 0
    # otto's character can neither see nor reach paula or her character ...
    for target in ("paula", "pim"):
        assert (await actor(client, otto, target, "cyra")).status_code == 404
        assert (await status(client, "POST", f"/actors/{target}/follow", otto, "cyra")) == 404
    for pid in (mine, pims):
        assert (await status(client, "GET", f"/posts/{pid}", otto, "cyra")) == 404
        assert (await status(client, "POST", f"/posts/{pid}/like", otto, "cyra")) == 404
        assert (await write(client, otto, "hi", "cyra", in_reply_to_id=pid)).status_code == 404
    seen = await surfaces(client, otto, "quince", "cyra")
    assert not any({mine, pims} & v for v in seen.values())
    mention = await post(client, otto, "hello @paula and @pim", "cyra")
    assert mention["mentions"] == []
    assert await notes(client, paula) == [] and await notes(client, paula, who="pim") == []
    # ... and paula, as herself or as her character, no longer sees otto's character.
    for who in (None, "pim"):
        assert (await actor(client, paula, "cyra", who)).status_code == 404
        assert (await status(client, "GET", f"/posts/{cyras}", paula, who)) == 404
        assert cyras not in (await surfaces(client, paula, "quince", who))["public"]
    # Lifting the block lifts all of it.
    assert (await status(client, "DELETE", "/actors/otto/block", paula)) == 204
    assert (await status(client, "GET", f"/posts/{mine}", otto, "cyra")) == 200
    assert (await status(client, "GET", f"/posts/{cyras}", paula, "pim")) == 200


async def test_unblock_and_unmute_do_not_reveal_private_characters(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await character(client, bob, "secret", visibility="private")
    for path in ("block", "mute"):
        assert (await status(client, "DELETE", f"/actors/nobody/{path}", carol)) == 404
        assert (await status(client, "DELETE", f"/actors/secret/{path}", carol)) == 404


# ---------------------------------------------------------------------------- 4. mutes


async def test_mutes_hide_silently(db_kind: str, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await client.post(f"{API}/actors/carol/follow", headers=bob)
    await client.post(f"{API}/actors/alice/follow", headers=bob)
    await client.post(f"{API}/actors/bob/follow", headers=carol)
    loud = await post(client, carol, "carol shouts #lavender")
    boosted = await client.post(f"{API}/posts/{loud['id']}/repost", headers=alice)
    assert boosted.status_code == 201
    shared = boosted.json()["id"]
    own = await post(client, bob, "bob writes #lavender")
    before = await surfaces(client, bob, "lavender")
    assert loud["id"] in before["home"] and shared in before["home"]
    assert all(loud["id"] in before[k] for k in ("public", "tag", "search"))
    assert kinds_from(await notes(client, bob), "carol") == ["follow"]

    assert (await status(client, "POST", "/actors/carol/mute", bob)) == 204
    assert (await status(client, "POST", "/actors/carol/mute", bob)) == 204
    assert (await status(client, "POST", "/actors/bob/mute", bob)) == 422
    assert await handles(client, "/mutes", bob) == ["carol"]
    after = await surfaces(client, bob, "lavender")
    for name, seen in after.items():
        assert loud["id"] not in seen and shared not in seen, name
    assert own["id"] in after["home"] and own["id"] in after["search"]
    assert "carol" not in await handles(client, "/search", bob, q="carol", type="actors")
    # Direct reads still work; the profile says so.
    assert (await status(client, "GET", f"/posts/{loud['id']}", bob)) == 200
    relation = (await actor(client, bob, "carol")).json()["relationship"]
    assert relation["muting"] is True and relation["following"] is True
    # Its notifications stop (old ones hidden, new ones not made).
    assert (await status(client, "POST", f"/posts/{own['id']}/like", carol)) == 200
    await post(client, carol, "hey @bob")
    assert kinds_from(await notes(client, bob), "carol") == []
    # The muted one sees nothing different.
    theirs = await surfaces(client, carol, "lavender")
    assert own["id"] in theirs["home"] and own["id"] in theirs["search"]
    relation = (await actor(client, carol, "bob")).json()["relationship"]
    assert relation["muting"] is False and relation["followed_by"] is True
    assert await handles(client, "/mutes", carol) == []

    assert (await status(client, "DELETE", "/actors/carol/mute", bob)) == 204
    assert await handles(client, "/mutes", bob) == []
    again = await surfaces(client, bob, "lavender")
    assert loud["id"] in again["home"] and shared in again["home"]
    assert loud["id"] in again["search"] and loud["id"] in again["tag"]
    # Notifications from before the mute return; those during it were never made.
    assert kinds_from(await notes(client, bob), "carol") == ["follow"]


# ---------------------------------------------------------------------------- 5. AI controls


async def test_show_ai_preference_filters_every_list(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    await sign_up(client, "alice")
    hana = await sign_up(client, "hana")
    pete = await sign_up(client, "pete")
    otto = await sign_up(client, "otto")
    await character(client, otto, "vega")
    await character(client, otto, "lyra")
    r = await client.get(f"{API}/preferences", headers=hana)
    assert r.json() == {"show_ai": "all", "accept_ai_replies": True, "accept_ai_mentions": True}
    for handle in ("vega", "pete"):
        assert (await status(client, "POST", f"/actors/{handle}/follow", hana)) == 200
    v1 = (await post(client, otto, "orbit from vega #orbit", "vega"))["id"]
    l1 = (await post(client, otto, "orbit from lyra #orbit", "lyra"))["id"]
    p1 = (await post(client, pete, "orbit from pete #orbit"))["id"]
    rl = (await client.post(f"{API}/posts/{l1}/repost", headers=pete)).json()["id"]
    rv = (await client.post(f"{API}/posts/{v1}/repost", headers=pete)).json()["id"]
    ours = {v1, l1, p1, rl, rv}
    everything = {
        "home": {v1, p1, rl, rv},
        "public": ours,
        "for_you": ours,
        "tag": {v1, l1, p1},
        "search": {v1, l1, p1},
    }

    async def check(expected_hidden: set[str]) -> None:
        seen = await surfaces(client, hana, "orbit")
        for name, expected in everything.items():
            assert seen[name] & ours == expected - expected_hidden, name

    await check(set())
    r = await client.patch(f"{API}/preferences", headers=hana, json={"show_ai": "none"})
    assert r.status_code == 200 and r.json()["show_ai"] == "none"
    await check({v1, l1, rl, rv})
    r = await client.patch(f"{API}/preferences", headers=hana, json={"show_ai": "followed"})
    assert r.json()["show_ai"] == "followed"
    await check({l1, rl})
    assert (await status(client, "GET", f"/posts/{l1}", hana)) == 200
    await client.patch(f"{API}/preferences", headers=hana, json={"show_ai": "all"})
    await check(set())

    for body in (
        {"show_ai": "some"},
        {"accept_ai_replies": "maybe"},
        {"accept_ai_mentions": None, "colour": 1},
        {"show_ai": None, "extra": True},
    ):
        r = await client.patch(f"{API}/preferences", headers=hana, json=body)
        assert r.status_code == 422, body
    r = await client.get(f"{API}/preferences", headers=hana)
    assert r.json() == {"show_ai": "all", "accept_ai_replies": True, "accept_ai_mentions": True}

    # Acting as a character, the operator's own preference does not apply.
    await client.patch(f"{API}/preferences", headers=otto, json={"show_ai": "none"})
    as_person = set(await ids(client, "/timelines/public", otto))
    as_vega = set(await ids(client, "/timelines/public", otto, "vega"))
    assert as_person & ours == {p1}
    assert as_vega & ours == ours
    assert set(await ids(client, "/search", otto, "lyra", q="orbit")) & ours == {v1, l1, p1}
    r = await client.patch(f"{API}/preferences", headers=otto, params=as_("vega"), json={})
    assert r.status_code == 422 and error_code(r) == "not_a_person"


async def test_ai_reply_and_mention_refusals(db_kind: str, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    hana = await sign_up(client, "hana")
    pete = await sign_up(client, "pete")
    otto = await sign_up(client, "otto")
    await character(client, otto, "vega")
    r = await client.patch(f"{API}/preferences", headers=hana, json={"accept_ai_replies": False})
    assert r.json()["accept_ai_replies"] is False and r.json()["accept_ai_mentions"] is True
    root = await post(client, hana, "my garden today")

    r = await write(client, otto, "lovely", "vega", in_reply_to_id=root["id"])
    assert r.status_code == 403 and error_code(r) == "ai_refused"
    assert "does not accept replies from AI characters" in r.json()["error"]["message"]
    assert (await client.get(f"{API}/posts/{root['id']}")).json()["replies_count"] == 0
    assert (await profile(client, "vega"))["posts_count"] == 0
    # People may still reply, the operator included; a character may reply to them.
    human = await post(client, pete, "so green", in_reply_to_id=root["id"])
    await post(client, otto, "agreed", in_reply_to_id=root["id"])
    await post(client, otto, "indeed, pete", "vega", in_reply_to_id=human["id"])
    assert kinds_from(await notes(client, hana), "vega") == []
    assert kinds_from(await notes(client, hana), "pete") == ["reply"]

    r = await client.patch(f"{API}/preferences", headers=hana, json={"accept_ai_mentions": False})
    assert r.json()["accept_ai_mentions"] is False
    before = (await profile(client, "vega"))["posts_count"]
    r = await write(client, otto, "hi @hana, look at this stardust", "vega")
    assert r.status_code == 403 and error_code(r) == "ai_refused"
    assert "mentions from AI characters" in r.json()["error"]["message"]
    assert (await profile(client, "vega"))["posts_count"] == before
    assert await ids(client, "/search", otto, q="stardust") == []
    vega_posts = await client.get(f"{API}/actors/vega/posts", headers=otto, params={"replies": 1})
    assert all("stardust" not in p["text"] for p in vega_posts.json()["items"])
    assert kinds_from(await notes(client, hana), "vega") == []
    await post(client, pete, "hi @hana")
    assert kinds_from(await notes(client, hana), "pete") == ["mention", "reply"]
    # Quoting calls on the quoted author like a mention: refused too.
    r = await write(client, otto, "look", "vega", quote_of_id=root["id"])
    assert r.status_code == 403 and error_code(r) == "ai_refused"
    # With replies accepted, naming the author one answers is part of the reply.
    await client.patch(f"{API}/preferences", headers=hana, json={"accept_ai_replies": True})
    answer = await post(client, otto, "thank you @hana", "vega", in_reply_to_id=root["id"])
    assert answer["mentions"] == [{"id": answer["mentions"][0]["id"], "handle": "hana"}]
    r = await write(client, otto, "and @hana again", "vega")
    assert r.status_code == 403 and error_code(r) == "ai_refused"
    await client.delete(f"{API}/posts/{answer['id']}", headers=otto)

    await client.patch(
        f"{API}/preferences",
        headers=hana,
        json={"accept_ai_mentions": True, "accept_ai_replies": True},
    )
    await post(client, otto, "hi @hana", "vega")
    await post(client, otto, "lovely", "vega", in_reply_to_id=root["id"])
    assert kinds_from(await notes(client, hana), "vega") == ["mention", "reply"]


# ---------------------------------------------------------------------------- 6. reports


async def report(client: httpx.AsyncClient, headers: Headers, **body: Any) -> httpx.Response:
    """File a report."""
    return await client.post(f"{API}/reports", headers=headers, json=body)


async def queue(client: httpx.AsyncClient, admin: Headers, state: str = "open") -> list[Json]:
    """The admins' queue."""
    r = await client.get(f"{API}/admin/reports", headers=admin, params={"status": state})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_reports_validation_and_queue(db_kind: str, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")  # the first account: the admin
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    await character(client, bob, "nova")
    spam = await post(client, carol, "buy cheap watches")
    hidden = await post(client, carol, "just for me", visibility="direct")

    r1 = await report(client, bob, post_id=spam["id"], reason="spam", comment="ads")
    assert r1.status_code == 201, r1.text
    first = r1.json()
    assert first["target_handle"] == "carol" and first["post_text"] == "buy cheap watches"
    assert first["status"] == "open" and first["comment"] == "ads"
    r2 = await report(client, bob, handle="carol", reason="harassment")
    assert r2.status_code == 201 and r2.json()["post_id"] is None

    assert (await report(client, bob, handle="carol", reason="rude")).status_code == 422
    r = await report(client, bob, reason="spam")
    assert r.status_code == 422 and error_code(r) == "no_target"
    r = await report(client, bob, handle="bob", reason="spam")
    assert r.status_code == 422 and error_code(r) == "self_report"
    r = await report(client, bob, handle="nova", reason="spam")
    assert r.status_code == 422 and error_code(r) == "self_report"
    r = await report(client, bob, post_id=spam["id"], handle="alice", reason="spam")
    assert r.status_code == 422
    assert (await report(client, bob, post_id=hidden["id"], reason="spam")).status_code == 404
    assert (await report(client, bob, handle="nobody", reason="spam")).status_code == 404
    assert (await report(client, {}, handle="carol", reason="spam")).status_code == 401
    r = await report(client, bob, post_id=spam["id"], reason="other")
    assert r.status_code == 409 and error_code(r) == "already_reported"
    r = await report(client, bob, handle="@Carol", reason="hate")
    assert r.status_code == 409

    # To anyone but an admin the queue does not exist.
    assert (await status(client, "GET", "/admin/reports", bob)) == 404
    assert (await status(client, "GET", "/admin/reports", {})) == 404
    items = await queue(client, alice)
    assert [i["id"] for i in items] == [first["id"], r2.json()["id"]]  # oldest first
    assert items[0]["post_text"] == "buy cheap watches" and items[0]["reason"] == "spam"

    mine = await client.get(f"{API}/reports", headers=bob)
    assert [i["id"] for i in mine.json()["items"]] == [r2.json()["id"], first["id"]]
    assert (await client.get(f"{API}/reports", headers=carol)).json()["items"] == []


async def test_resolving_reports(db_kind: str, client: httpx.AsyncClient) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    otto = await sign_up(client, "otto")
    await character(client, otto, "vega")
    first = await post(client, carol, "first spam")
    second = await post(client, carol, "second spam")
    loud = await post(client, otto, "vega is loud sunflower", "vega")
    mine = await post(client, bob, "bob's words")
    await client.post(f"{API}/posts/{mine['id']}/like", headers=otto, params=as_("vega"))
    assert kinds_from(await notes(client, bob), "vega") == ["like"]

    r = await report(client, bob, post_id=first["id"], reason="spam")
    dismissed_id = r.json()["id"]
    url = f"{API}/admin/reports/{dismissed_id}/resolve"
    assert (await client.post(url, headers=bob, json={"action": "dismiss"})).status_code == 404
    assert (await client.post(url, headers=alice, json={"action": "ban"})).status_code == 422
    r = await client.post(url, headers=alice, json={"action": "dismiss", "note": "fine"})
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = await client.post(url, headers=alice, json={"action": "dismiss"})
    assert r.status_code == 409
    assert (await status(client, "GET", f"/posts/{first['id']}", bob)) == 200
    missing = f"{API}/admin/reports/{'0' * 32}/resolve"
    assert (
        await client.post(missing, headers=alice, json={"action": "dismiss"})
    ).status_code == 404

    r = await report(client, bob, post_id=second["id"], reason="spam")
    deleted_id = r.json()["id"]
    url = f"{API}/admin/reports/{deleted_id}/resolve"
    r = await client.post(url, headers=alice, json={"action": "delete_post"})
    assert r.status_code == 200 and r.json()["status"] == "resolved"
    assert r.json()["post_id"] is None and r.json()["post_text"] == "second spam"
    for headers in (alice, bob, carol):
        assert (await status(client, "GET", f"/posts/{second['id']}", headers)) == 404
    resolved = await queue(client, alice, "resolved")
    assert [(i["id"], i["post_text"], i["post_id"]) for i in resolved] == [
        (deleted_id, "second spam", None)
    ]
    assert (await client.post(url, headers=alice, json={"action": "suspend"})).status_code == 409
    r = await report(client, bob, handle="carol", reason="spam")
    no_post = f"{API}/admin/reports/{r.json()['id']}/resolve"
    r = await client.post(no_post, headers=alice, json={"action": "delete_post"})
    assert r.status_code == 422
    assert (await queue(client, alice))[0]["status"] == "open"

    # Suspending a character through a report.
    r = await report(client, bob, handle="vega", reason="impersonation")
    url = f"{API}/admin/reports/{r.json()['id']}/resolve"
    r = await client.post(url, headers=alice, json={"action": "suspend"})
    assert r.status_code == 200 and r.json()["resolution"] == "suspend"
    for headers in ({}, bob):
        assert (await actor(client, headers, "vega")).status_code == 404
        assert (await status(client, "GET", f"/posts/{loud['id']}", headers)) == 404
        assert loud["id"] not in await ids(client, "/timelines/public", headers)
        assert await ids(client, "/search", headers, q="sunflower") == []
    assert kinds_from(await notes(client, bob), "vega") == []
    r = await write(client, otto, "still here?", "vega")
    assert r.status_code == 403
    assert (await status(client, "GET", "/timelines/home", otto, "vega")) == 403
    await post(client, otto, "otto himself is fine")

    # The admin endpoints suspend and reinstate directly.
    assert (await status(client, "POST", "/admin/actors/carol/suspend", bob)) == 404
    assert (await status(client, "POST", "/admin/actors/nobody/suspend", alice)) == 404
    assert (await status(client, "POST", "/admin/actors/carol/suspend", alice)) == 204
    assert first["id"] not in await ids(client, "/timelines/public", bob)
    assert (await actor(client, bob, "carol")).status_code == 404
    assert (await write(client, carol, "let me out")).status_code == 403
    assert (await status(client, "DELETE", "/admin/actors/carol/suspend", alice)) == 204
    assert first["id"] in await ids(client, "/timelines/public", bob)
    assert (await write(client, carol, "back again")).status_code == 201
    assert (await status(client, "DELETE", "/admin/actors/vega/suspend", alice)) == 204
    assert (await actor(client, bob, "vega")).status_code == 200

    states = {
        i["id"]: i["status"]
        for i in (await client.get(f"{API}/reports", headers=bob)).json()["items"]
    }
    assert states[dismissed_id] == "dismissed" and states[deleted_id] == "resolved"


# ---------------------------------------------------------------------------- 7. notifications


async def test_notification_kinds_and_recipients(db_kind: str, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    otto = await sign_up(client, "otto")
    await character(client, otto, "vega")
    root = await post(client, bob, "bob's thought")
    rid = root["id"]

    await post(client, carol, "@bob I reply", in_reply_to_id=rid)  # reply, not also mention
    await client.post(f"{API}/posts/{rid}/like", headers=carol)
    await client.post(f"{API}/posts/{rid}/repost", headers=carol)
    await post(client, carol, "look at this", quote_of_id=rid)
    await post(client, carol, "hello @bob")
    await client.post(f"{API}/actors/bob/follow", headers=carol)
    # Nothing one does to oneself notifies.
    await client.post(f"{API}/posts/{rid}/like", headers=bob)
    await post(client, bob, "me again @bob", in_reply_to_id=rid)
    await client.post(f"{API}/posts/{rid}/repost", headers=bob)

    got = await notes(client, bob)
    assert sorted(n["kind"] for n in got) == [
        "follow",
        "like",
        "mention",
        "quote",
        "reply",
        "repost",
    ]
    assert {n["actor"]["handle"] for n in got} == {"carol"}
    by_kind = {n["kind"]: n for n in got}
    assert by_kind["like"]["post"]["id"] == rid and by_kind["follow"]["post"] is None
    assert by_kind["reply"]["post"]["in_reply_to_id"] == rid
    assert by_kind["quote"]["post"]["quote"]["id"] == rid
    assert [n["kind"] for n in await notes(client, bob, kind="like")] == ["like"]
    both = await notes(client, bob, kind=["like", "follow"])
    assert sorted(n["kind"] for n in both) == ["follow", "like"]
    r = await client.get(f"{API}/notifications", headers=bob, params={"kind": "poke"})
    assert r.status_code == 422
    assert await notes(client, carol) == []

    # A character's notifications go to it, read by its operator with `as`.
    await client.patch(f"{API}/profile", headers=otto, params=as_("vega"), json={"locked": True})
    await client.post(f"{API}/actors/vega/follow", headers=carol)
    await post(client, carol, "hi @vega")
    vega_notes = await notes(client, otto, "vega")
    assert sorted(n["kind"] for n in vega_notes) == ["follow_request", "mention"]
    assert await notes(client, otto) == []
    r = await client.get(f"{API}/notifications", headers=bob, params=as_("vega"))
    assert r.status_code == 404
    assert (await status(client, "POST", "/follow-requests/carol/accept", otto, "vega")) == 204
    assert sorted(n["kind"] for n in await notes(client, otto, "vega")) == ["follow", "mention"]
    await client.post(f"{API}/posts/{rid}/like", headers=otto, params=as_("vega"))
    assert kinds_from(await notes(client, bob), "vega") == ["like"]


async def test_notifications_unread_and_paging(db_kind: str, client: httpx.AsyncClient) -> None:
    await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    otto = await sign_up(client, "otto")
    posts = [await post(client, bob, f"note {i}") for i in range(5)]
    for p in posts:
        assert (await status(client, "POST", f"/posts/{p['id']}/like", otto)) == 200
    r = await client.get(f"{API}/notifications", headers=bob)
    assert r.json()["unread"] == 5 and all(not n["read"] for n in r.json()["items"])
    newest_first = [n["id"] for n in r.json()["items"]]
    assert newest_first == sorted(newest_first, reverse=True)
    assert [n["post"]["id"] for n in r.json()["items"]] == [p["id"] for p in reversed(posts)]

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"{API}/notifications", headers=bob, params=params)
        assert page.status_code == 200
        seen += [n["id"] for n in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == newest_first
    for bad in ("nope", "Z" * 32, "0" * 31):
        r = await client.get(f"{API}/notifications", headers=bob, params={"cursor": bad})
        assert r.status_code == 422 and error_code(r) == "bad_cursor", bad

    # Read up to the third newest, then everything.
    r = await client.post(f"{API}/notifications/read", headers=bob, json={"up_to_id": seen[2]})
    assert r.status_code == 200 and r.json()["marked"] == 3
    r = await client.get(f"{API}/notifications", headers=bob)
    assert r.json()["unread"] == 2
    assert [n["read"] for n in r.json()["items"]] == [False, False, True, True, True]
    r = await client.post(f"{API}/notifications/read", headers=bob, json={})
    assert r.json()["marked"] == 2
    assert (await client.get(f"{API}/notifications", headers=bob)).json()["unread"] == 0
    await post(client, otto, "hey @bob")
    assert (await client.get(f"{API}/notifications", headers=bob)).json()["unread"] == 1
    r = await client.post(f"{API}/notifications/read", headers=bob, json={"up_to_id": "x"})
    assert r.status_code == 422
    assert (await status(client, "GET", "/notifications", {})) == 401
