"""Posts, threads, timelines, search and who sees what, through the HTTP API.

Every test runs on SQLite and (when configured) PostgreSQL. Accounts are made through
the real sign-up endpoints; only the password hash is made cheap, to keep the file fast.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

from personae.accounts import service as account_service
from personae.social.posts import MAX_CW_CHARS, MAX_POST_CHARS
from tests.conftest import sign_up

API = "/api/v1"
VIS = ("public", "unlisted", "followers", "direct")
ALL = frozenset(VIS)
OPEN = frozenset({"public", "unlisted"})
FOLLOWER = OPEN | {"followers"}


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its smallest cost: sign-ups stay real but take milliseconds."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(account_service, "_hasher", cheap)


@dataclass(frozen=True)
class Who:
    """A caller: bearer headers (none when anonymous) and the character it acts as."""

    name: str
    headers: dict[str, str] = field(default_factory=dict)
    act_as: str | None = None

    def params(self, **extra: Any) -> dict[str, str]:
        out = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in extra.items()}
        if self.act_as:
            out["as"] = self.act_as
        return out


ANON = Who("anon")


async def call(
    client: httpx.AsyncClient, method: str, path: str, who: Who, body: Any = None, **params: Any
) -> httpx.Response:
    return await client.request(
        method, API + path, headers=who.headers, params=who.params(**params), json=body
    )


async def person(client: httpx.AsyncClient, name: str) -> Who:
    return Who(name, await sign_up(client, name))


async def character(
    client: httpx.AsyncClient, owner: Who, name: str, visibility: str = "public"
) -> Who:
    r = await client.post(
        f"{API}/characters", headers=owner.headers, json={"name": name, "visibility": visibility}
    )
    assert r.status_code == 201, r.text
    handle = r.json()["handle"]
    return Who(handle, owner.headers, handle)


async def post(client: httpx.AsyncClient, who: Who, text: str, **fields: Any) -> dict[str, Any]:
    r = await call(client, "POST", "/posts", who, {"text": text, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def get_ok(client: httpx.AsyncClient, path: str, who: Who, **params: Any) -> Any:
    r = await call(client, "GET", path, who, **params)
    assert r.status_code == 200, (path, who.name, r.text)
    return r.json()


async def ids(client: httpx.AsyncClient, path: str, who: Who, **params: Any) -> list[str]:
    """The ids on the first (largest) page of a list."""
    body = await get_ok(client, path, who, limit=40, **params)
    return [item["id"] for item in body["items"]]


async def walk(
    client: httpx.AsyncClient, path: str, who: Who, limit: int, key: str = "items", **params: Any
) -> list[str]:
    """Every id of a list, page by page through next_cursor (checking each page's size)."""
    found: list[str] = []
    cursor: str | None = None
    for _ in range(100):
        extra = {"cursor": cursor} if cursor else {}
        body = await get_ok(client, path, who, limit=limit, **params, **extra)
        assert len(body[key]) <= limit
        found += [item["id"] for item in body[key]]
        cursor = body["next_cursor"]
        if cursor is None:
            return found
        assert body[key], "a page with a next_cursor must not be empty"
    raise AssertionError("paging did not end")


async def follow(client: httpx.AsyncClient, who: Who, handle: str) -> str:
    r = await call(client, "POST", f"/actors/{handle}/follow", who)
    assert r.status_code == 200, r.text
    return str(r.json()["state"])


async def posts_count(client: httpx.AsyncClient, handle: str) -> int:
    return int((await get_ok(client, f"/actors/{handle}", ANON))["posts_count"])


async def notes(client: httpx.AsyncClient, who: Who) -> set[tuple[str, str | None]]:
    """(kind, post id) of the caller's notifications; checks each shown post is readable."""
    body = await get_ok(client, "/notifications", who, limit=40)
    for item in body["items"]:
        if item["post"] is not None:
            r = await call(client, "GET", f"/posts/{item['post']['id']}", who)
            assert r.status_code == 200, "a notification showed a post its reader cannot see"
    return {(n["kind"], n["post"]["id"] if n["post"] else None) for n in body["items"]}


def named(found: Iterable[str], by_name: dict[str, str]) -> set[str]:
    """Which of the named posts are among the found ids."""
    present = set(found)
    return {name for name, post_id in by_name.items() if post_id in present}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# --- Posts ---------------------------------------------------------------------------------


async def test_create_post_fields_mentions_tags_and_escaping(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    mo = await person(client, "mo")
    text = (
        "Hi @Mo and @nobody_here <script>alert('x')</script> & <b>bold</b> "
        "#Rust #rust #Éte https://example.com/a#frag"
    )
    p = await post(
        client, ann, text, content_warning="spoilers", language="pt-BR", visibility="public"
    )
    assert p["text"] == text and p["content_warning"] == "spoilers" and p["language"] == "pt-BR"
    assert p["visibility"] == "public" and p["is_reply"] is False and p["edited_at"] is None
    assert p["author"]["handle"] == "ann" and p["is_ai"] is False and p["ai_label"] is None
    assert p["mentions"] == [{"id": p["mentions"][0]["id"], "handle": "mo"}]
    assert p["tags"] == ["rust", "éte"]
    html = p["content_html"]
    assert '<a href="/@mo" class="mention">@mo</a>' in html
    assert "@nobody_here" in html and 'href="/@nobody_here"' not in html
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html and " &amp; " in html
    assert 'href="https://example.com/a#frag" rel="nofollow noopener noreferrer"' in html
    assert 'href="/tags/rust" class="hashtag"' in html and "/tags/frag" not in html
    assert (await get_ok(client, f"/posts/{p['id']}", ANON))["content_html"] == html
    assert await notes(client, mo) == {("mention", p["id"])}
    quiet = await post(client, ann, "quiet #rust", visibility="unlisted")
    for tag in ("rust", "RUST", "%23rust"):
        assert await ids(client, f"/timelines/tag/{tag}", ANON) == [p["id"]]
    assert quiet["tags"] == ["rust"]
    assert await ids(client, "/timelines/tag/python", ANON) == []
    assert await posts_count(client, "ann") == 2


async def test_edit_keeps_history_retags_and_notifies_new_mentions(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bo = await person(client, "bo")
    cy = await person(client, "cy")
    p = await post(client, ann, "first draft about kumquats #old")
    r = await call(client, "PATCH", f"/posts/{p['id']}", ann, {"text": "second take @bo #new"})
    assert r.status_code == 200, r.text
    edited = r.json()
    assert edited["text"] == "second take @bo #new" and edited["edited_at"] is not None
    assert edited["tags"] == ["new"] and 'href="/@bo"' in edited["content_html"]
    assert await ids(client, "/timelines/tag/old", ANON) == []
    assert await ids(client, "/timelines/tag/new", ANON) == [p["id"]]
    assert await ids(client, "/search", ANON, q="kumquats") == []
    assert await ids(client, "/search", ANON, q="secon") == [p["id"]]
    assert await notes(client, bo) == {("mention", p["id"])}
    r = await call(client, "PATCH", f"/posts/{p['id']}", ann, {"content_warning": "cw"})
    assert r.status_code == 200 and r.json()["text"] == "second take @bo #new"
    history = (await get_ok(client, f"/posts/{p['id']}/history", ANON))["items"]
    assert [h["text"] for h in history] == ["first draft about kumquats #old", edited["text"]]
    assert [h["content_warning"] for h in history] == ["", ""]
    # Mentioning someone in an edit of a direct post lets them read it, and tells them.
    d = await post(client, ann, "just for @bo", visibility="direct")
    assert (await call(client, "GET", f"/posts/{d['id']}", cy)).status_code == 404
    r = await call(client, "PATCH", f"/posts/{d['id']}", ann, {"text": "for @bo and @cy"})
    assert r.status_code == 200 and r.json()["visibility"] == "direct"
    assert (await call(client, "GET", f"/posts/{d['id']}", cy)).status_code == 200
    assert await notes(client, cy) == {("mention", d["id"])}
    # Bad edits change nothing.
    for body in (
        {"text": ""},
        {"text": "   "},
        {"text": "x" * (MAX_POST_CHARS + 1)},
        {"language": "not a tag"},
        {"content_warning": "w" * (MAX_CW_CHARS + 1)},
        {"visibility": "public"},
        {"text": "ok", "extra": True},
    ):
        r = await call(client, "PATCH", f"/posts/{d['id']}", ann, body)
        assert r.status_code == 422, (body, r.text)
    unchanged = await get_ok(client, f"/posts/{d['id']}", ann)
    assert unchanged["text"] == "for @bo and @cy" and unchanged["visibility"] == "direct"
    assert len((await get_ok(client, f"/posts/{d['id']}/history", ann))["items"]) == 1


async def test_only_the_author_or_operator_edits_and_deletes(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    admin = await person(client, "root")  # the first account is the admin
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    cora = await character(client, ann, "Cora")
    public = await post(client, ann, "public words")
    private = await post(client, ann, "for followers", visibility="followers")
    by_cora = await post(client, cora, "a character speaks")
    for method, body in (("PATCH", {"text": "hijacked"}), ("DELETE", None)):
        r = await call(client, method, f"/posts/{public['id']}", bob, body)
        assert r.status_code == 403, r.text
        r = await call(client, method, f"/posts/{private['id']}", bob, body)
        assert r.status_code == 404, r.text
        r = await call(client, method, f"/posts/{public['id']}", ANON, body)
        assert r.status_code == 401, r.text
        r = await call(client, method, f"/posts/{'0' * 32}", ann, body)
        assert r.status_code == 404, r.text
    assert (await get_ok(client, f"/posts/{public['id']}", ANON))["text"] == "public words"
    # The operator edits and deletes its character's posts, with or without `as`.
    r = await call(client, "PATCH", f"/posts/{by_cora['id']}", ann, {"text": "operator edit"})
    assert r.status_code == 200 and r.json()["author"]["handle"] == "cora"
    # The admin may delete anything, even a post it cannot see.
    r = await call(client, "DELETE", f"/posts/{private['id']}", admin)
    assert r.status_code == 204
    assert (await call(client, "GET", f"/posts/{private['id']}", ann)).status_code == 404
    r = await call(client, "DELETE", f"/posts/{by_cora['id']}", ann)
    assert r.status_code == 204
    assert await posts_count(client, "cora") == 0 and await posts_count(client, "ann") == 1
    r = await call(client, "DELETE", f"/posts/{by_cora['id']}", ann)
    assert r.status_code == 404


async def test_delete_removes_everywhere_and_detaches_replies(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    assert await follow(client, bob, "ann") == "accepted"
    root = await post(client, ann, "doomed marmalade #gone")
    reply = await post(client, bob, "a reply", in_reply_to_id=root["id"])
    deeper = await post(client, ann, "deeper", in_reply_to_id=reply["id"])
    quote = await post(client, bob, "quoting it", quote_of_id=root["id"])
    r = await call(client, "POST", f"/posts/{root['id']}/repost", bob)
    assert r.status_code == 201
    repost_id = r.json()["id"]
    assert (await call(client, "POST", f"/posts/{root['id']}/like", bob)).status_code == 200
    assert root["id"] in await ids(client, "/timelines/home", bob)
    assert ("like", root["id"]) in await notes(client, ann)
    assert (await call(client, "DELETE", f"/posts/{root['id']}", ann)).status_code == 204
    for who in (ann, bob, ANON):
        for path in (f"/posts/{root['id']}", f"/posts/{root['id']}/thread", f"/posts/{repost_id}"):
            assert (await call(client, "GET", path, who)).status_code == 404
        for path, params in (
            ("/timelines/public", {}),
            ("/timelines/tag/gone", {}),
            ("/actors/ann/posts", {}),
            ("/actors/bob/posts", {}),
            ("/search", {"q": "marmalade"}),
        ):
            found = await ids(client, path, who, **params)
            assert root["id"] not in found and repost_id not in found
    home = await ids(client, "/timelines/home", bob)
    assert root["id"] not in home and repost_id not in home
    assert not any(post_id == root["id"] for _, post_id in await notes(client, ann))
    detached = await get_ok(client, f"/posts/{reply['id']}", bob)
    assert detached["in_reply_to_id"] is None and detached["text"] == "a reply"
    thread = await get_ok(client, f"/posts/{reply['id']}/thread", bob)
    assert thread["ancestors"] == [] and [d["id"] for d in thread["descendants"]] == [deeper["id"]]
    assert (await get_ok(client, f"/posts/{quote['id']}", bob))["quote"] is None
    assert await posts_count(client, "ann") == 1 and await posts_count(client, "bob") == 2


async def test_threads_ancestors_descendants_and_paging(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    root = await post(client, ann, "root")
    r1 = await post(client, bob, "r1", in_reply_to_id=root["id"])
    r2 = await post(client, ann, "r2", in_reply_to_id=r1["id"])
    r3 = await post(client, bob, "r3", in_reply_to_id=r2["id"])
    siblings = [
        await post(client, [ann, bob][i % 2], f"s{i}", in_reply_to_id=root["id"]) for i in range(4)
    ]
    nested = await post(client, ann, "under s0", in_reply_to_id=siblings[0]["id"])
    other = await post(client, bob, "another thread")
    await post(client, ann, "elsewhere", in_reply_to_id=other["id"])
    assert r3["root_id"] == root["id"] and r3["in_reply_to_id"] == r2["id"] and r3["is_reply"]

    t = await get_ok(client, f"/posts/{r2['id']}/thread", ANON)
    assert [a["id"] for a in t["ancestors"]] == [root["id"], r1["id"]]
    assert t["post"]["id"] == r2["id"] and [d["id"] for d in t["descendants"]] == [r3["id"]]
    assert t["next_cursor"] is None
    t = await get_ok(client, f"/posts/{r3['id']}/thread", ANON)
    assert [a["id"] for a in t["ancestors"]] == [root["id"], r1["id"], r2["id"]]
    assert t["descendants"] == []

    everything = [r1, r2, r3, *siblings, nested]
    expected = [p["id"] for p in everything]  # time order
    t = await get_ok(client, f"/posts/{root['id']}/thread", ANON)
    assert t["ancestors"] == [] and [d["id"] for d in t["descendants"]] == expected
    for limit in (1, 3, 8, 9):
        paged = await walk(client, f"/posts/{root['id']}/thread", ANON, limit, key="descendants")
        assert paged == expected, limit
    first = await get_ok(client, f"/posts/{root['id']}/thread", ANON, limit=3)
    later = await get_ok(
        client, f"/posts/{root['id']}/thread", ANON, limit=3, cursor=first["next_cursor"]
    )
    assert later["post"]["id"] == root["id"] and later["ancestors"] == []
    t = await get_ok(client, f"/posts/{siblings[0]['id']}/thread", ANON)
    assert [d["id"] for d in t["descendants"]] == [nested["id"]]
    counts = await get_ok(client, f"/posts/{root['id']}", ANON)
    assert counts["replies_count"] == 5
    assert (await get_ok(client, f"/posts/{r1['id']}", ANON))["replies_count"] == 1
    # Profiles leave replies out unless asked.
    assert await ids(client, "/actors/bob/posts", ANON) == [other["id"]]
    with_replies = await ids(client, "/actors/bob/posts", ANON, replies=True)
    bobs = [other, r1, r3, siblings[1], siblings[3]]
    assert with_replies == sorted((p["id"] for p in bobs), reverse=True)


async def test_quotes(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    fay = await person(client, "fay")
    assert await follow(client, fay, "ann") == "accepted"
    original = await post(client, ann, "quotable words")
    q = await post(client, bob, "look at this", quote_of_id=original["id"])
    assert q["quote"]["id"] == original["id"] and q["quote"]["text"] == "quotable words"
    assert q["quote"]["author"]["handle"] == "ann"
    assert (await get_ok(client, f"/posts/{original['id']}", ANON))["quotes_count"] == 1
    assert ("quote", q["id"]) in await notes(client, ann)
    unlisted = await post(client, ann, "unlisted words", visibility="unlisted")
    q2 = await post(client, bob, "quoting unlisted", quote_of_id=unlisted["id"])
    assert q2["quote"]["id"] == unlisted["id"]
    # A followers-only quote of ann's post: ann does not follow bob, so she is not told.
    hidden = await post(client, bob, "sneaky", quote_of_id=original["id"], visibility="followers")
    assert (await call(client, "GET", f"/posts/{hidden['id']}", ann)).status_code == 404
    assert ("quote", hidden["id"]) not in await notes(client, ann)
    for visibility in ("followers", "direct"):
        closed = await post(client, ann, f"{visibility} @fay", visibility=visibility)
        r = await call(client, "POST", "/posts", fay, {"text": "q", "quote_of_id": closed["id"]})
        assert r.status_code == 422 and r.json()["error"]["code"] == "not_quotable"
        r = await call(client, "POST", "/posts", bob, {"text": "q", "quote_of_id": closed["id"]})
        assert r.status_code == 404
    assert await posts_count(client, "fay") == 0 and await posts_count(client, "bob") == 3


async def test_reposts(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    fay = await person(client, "fay")
    assert await follow(client, fay, "bob") == "accepted"
    original = await post(client, ann, "worth sharing")
    r = await call(client, "POST", f"/posts/{original['id']}/repost", bob)
    assert r.status_code == 201, r.text
    shared = r.json()
    assert shared["repost_of"]["id"] == original["id"] and shared["author"]["handle"] == "bob"
    assert shared["repost_of"]["reposted"] is True
    again = await call(client, "POST", f"/posts/{original['id']}/repost", bob)
    assert again.status_code == 201 and again.json()["id"] == shared["id"]
    via_repost = await call(client, "POST", f"/posts/{shared['id']}/repost", bob)
    assert via_repost.json()["id"] == shared["id"]
    counted = await get_ok(client, f"/posts/{original['id']}", bob)
    assert counted["reposts_count"] == 1 and counted["reposted"] is True
    home = (await get_ok(client, "/timelines/home", fay))["items"]
    assert [(i["id"], i["repost_of"]["id"]) for i in home] == [(shared["id"], original["id"])]
    assert ("repost", original["id"]) in await notes(client, ann)
    assert (await get_ok(client, f"/posts/{shared['id']}/thread", ANON))["post"]["id"] == (
        original["id"]
    )
    assert shared["id"] in await ids(client, "/actors/bob/posts", ANON)
    r = await call(client, "PATCH", f"/posts/{shared['id']}", bob, {"text": "words"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "not_editable"
    r = await call(client, "DELETE", f"/posts/{original['id']}/repost", bob)
    assert r.status_code == 200 and r.json()["reposts_count"] == 0 and not r.json()["reposted"]
    assert (await call(client, "DELETE", f"/posts/{original['id']}/repost", bob)).status_code == 200
    assert (await get_ok(client, f"/posts/{original['id']}", ANON))["reposts_count"] == 0
    assert await ids(client, "/timelines/home", fay) == []
    assert (await call(client, "GET", f"/posts/{shared['id']}", ANON)).status_code == 404
    # Only public and unlisted posts can be reposted.
    assert await follow(client, bob, "ann") == "accepted"
    unlisted = await post(client, ann, "unlisted", visibility="unlisted")
    r = await call(client, "POST", f"/posts/{unlisted['id']}/repost", bob)
    assert r.status_code == 201 and r.json()["visibility"] == "unlisted"
    assert (await get_ok(client, f"/posts/{unlisted['id']}", ANON))["reposts_count"] == 1
    assert (await call(client, "DELETE", f"/posts/{r.json()['id']}", bob)).status_code == 204
    assert (await get_ok(client, f"/posts/{unlisted['id']}", ANON))["reposts_count"] == 0
    for visibility in ("followers", "direct"):
        closed = await post(client, ann, f"{visibility} for @bob", visibility=visibility)
        r = await call(client, "POST", f"/posts/{closed['id']}/repost", bob)
        assert r.status_code == 422 and r.json()["error"]["code"] == "not_repostable"
        assert (await call(client, "POST", f"/posts/{closed['id']}/repost", fay)).status_code == 404
    assert (await call(client, "POST", f"/posts/{original['id']}/repost", ANON)).status_code == 401


async def test_likes(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    cy = await person(client, "cy")
    p = await post(client, ann, "likeable")
    for _ in range(2):
        r = await call(client, "POST", f"/posts/{p['id']}/like", bob)
        assert r.status_code == 200 and r.json()["likes_count"] == 1 and r.json()["liked"]
    r = await call(client, "POST", f"/posts/{p['id']}/repost", cy)
    r = await call(client, "POST", f"/posts/{r.json()['id']}/like", cy)  # a like of a repost
    assert r.json()["id"] == p["id"] and r.json()["likes_count"] == 2
    assert (await get_ok(client, f"/posts/{p['id']}", ANON))["liked"] is False
    assert ("like", p["id"]) in await notes(client, ann)
    for _ in range(2):
        r = await call(client, "DELETE", f"/posts/{p['id']}/like", bob)
        assert r.status_code == 200 and r.json()["likes_count"] == 1 and not r.json()["liked"]
    assert (await call(client, "POST", f"/posts/{p['id']}/like", ANON)).status_code == 401
    secret = await post(client, ann, "secret", visibility="direct")
    assert (await call(client, "POST", f"/posts/{secret['id']}/like", bob)).status_code == 404
    assert (await call(client, "POST", f"/posts/{'a' * 32}/like", bob)).status_code == 404
    assert (await get_ok(client, f"/posts/{secret['id']}", ann))["likes_count"] == 0


async def test_reply_audience_cannot_widen(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    fay = await person(client, "fay")
    ned = await person(client, "ned")
    assert await follow(client, fay, "ann") == "accepted"
    closed = await post(client, ann, "followers only", visibility="followers")
    for visibility in ("public", "unlisted"):
        r = await call(
            client,
            "POST",
            "/posts",
            fay,
            {"text": "r", "in_reply_to_id": closed["id"], "visibility": visibility},
        )
        assert r.status_code == 422 and r.json()["error"]["code"] == "reply_too_wide"
    ok = [
        await post(client, fay, "r", in_reply_to_id=closed["id"], visibility=v)
        for v in ("followers", "direct")
    ]
    # The parent's author is addressed by a reply, so she reads even the direct one.
    for reply in ok:
        assert (await get_ok(client, f"/posts/{reply['id']}", ann))["in_reply_to_id"] == (
            closed["id"]
        )
        assert ("reply", reply["id"]) in await notes(client, ann)
    r = await call(client, "POST", "/posts", ned, {"text": "r", "in_reply_to_id": closed["id"]})
    assert r.status_code == 404
    direct = await post(client, ann, "just @fay", visibility="direct")
    r = await call(
        client,
        "POST",
        "/posts",
        fay,
        {"text": "r", "in_reply_to_id": direct["id"], "visibility": "followers"},
    )
    assert r.status_code == 422
    assert await posts_count(client, "fay") == 2 and await posts_count(client, "ned") == 0


# --- Who sees what -------------------------------------------------------------------------


async def test_visibility_matrix(db_kind: str, client: httpx.AsyncClient) -> None:
    await person(client, "root")  # the admin, so nobody below has admin powers
    ann = await person(client, "ann")
    fay = await person(client, "fay")  # an accepted follower
    ned = await person(client, "ned")  # a stranger (who starts a thread ann answers)
    max_ = await person(client, "max")  # mentioned in every post
    pam = await person(client, "pam")  # asked to follow; never accepted
    cora = await character(client, ann, "Cora")  # ann's character
    r = await call(client, "PATCH", "/profile", ann, {"locked": True})
    assert r.status_code == 200 and r.json()["locked"] is True
    assert await follow(client, fay, "ann") == "pending"
    assert await follow(client, pam, "ann") == "pending"
    assert (await call(client, "POST", "/follow-requests/fay/accept", ann)).status_code == 204
    relation = (await get_ok(client, "/actors/ann", pam))["relationship"]
    assert relation["requested"] is True and relation["following"] is False

    top = {
        v: (await post(client, ann, f"zebrafinch {v} #matrixtag @max", visibility=v))["id"]
        for v in VIS
    }
    root = await post(client, ned, "a thread root")
    replies: dict[str, str] = {}
    for v in VIS:
        answer = await post(
            client, ann, f"answer {v} @max", visibility=v, in_reply_to_id=root["id"]
        )
        replies[v] = answer["id"]
    viewers = (ann, cora, fay, ned, max_, pam, ANON)
    # ann's character sees as itself, not with ann's grants: like any stranger.
    sees = {"ann": ALL, "cora": OPEN, "fay": FOLLOWER, "ned": OPEN, "max": ALL, "pam": OPEN}
    sees["anon"] = OPEN
    # Replies address the parent's author, so ned reads every answer in his thread.
    sees_replies = {**sees, "ned": ALL}
    home: dict[str, frozenset[str]] = {"ann": ALL, "fay": FOLLOWER}

    async def surfaces(who: Who) -> dict[str, set[str]]:
        got: dict[str, set[str]] = {"get": set(), "thread": set()}
        for v, post_id in top.items():
            for kind, path in (
                ("get", f"/posts/{post_id}"),
                ("thread", f"/posts/{post_id}/thread"),
            ):
                r = await call(client, "GET", path, who)
                assert r.status_code in (200, 404), (who.name, v, kind, r.status_code)
                if r.status_code == 200:
                    got[kind].add(v)
        thread = await get_ok(client, f"/posts/{root['id']}/thread", who)
        got["in_thread"] = named([d["id"] for d in thread["descendants"]], replies)
        got["profile"] = named(await ids(client, "/actors/ann/posts", who), top)
        profile_all = await ids(client, "/actors/ann/posts", who, replies=True)
        got["profile_replies"] = named(profile_all, replies)
        got["search"] = named(await ids(client, "/search", who, q="zebra"), top)
        got["search_replies"] = named(await ids(client, "/search", who, q="answer"), replies)
        public = await ids(client, "/timelines/public", who)
        got["public"] = named(public, top) | {f"reply {v}" for v in named(public, replies)}
        got["tag"] = named(await ids(client, "/timelines/tag/matrixtag", who), top)
        got["for_you"] = named(await ids(client, "/timelines/for-you", who), top)
        if who is ANON:
            assert (await call(client, "GET", "/timelines/home", who)).status_code == 401
        else:
            got["home"] = named(await ids(client, "/timelines/home", who), top)
            got["home_replies"] = named(await ids(client, "/timelines/home", who), replies)
        return got

    for who in viewers:
        got = await surfaces(who)
        can = set(sees[who.name])
        # Unlisted posts stay out of search, except for their author.
        searchable = {v for v in can if v != "unlisted" or who.name == "ann"}
        searchable_replies = {
            v for v in sees_replies[who.name] if v != "unlisted" or who.name == "ann"
        }
        expected = {
            "get": can,
            "thread": can,
            "in_thread": set(sees_replies[who.name]),
            "profile": can,
            "profile_replies": set(sees_replies[who.name]),
            "search": searchable,
            "search_replies": searchable_replies,
            "public": {"public"},
            "tag": {"public"},
            # The ranked feed: public posts and what followed actors wrote (not one's own).
            "for_you": set() if who.name == "ann" else {"public"} | home.get(who.name, set()),
        }
        if who is not ANON:
            expected["home"] = set(home.get(who.name, set()))
            # ann's own answers are in her home; a followed actor's answer to a stranger
            # is not in her followers' homes.
            expected["home_replies"] = set(ALL) if who.name == "ann" else set()
        assert got == expected, who.name

    for who, v, status in ((pam, "followers", 404), (ned, "direct", 404), (max_, "direct", 200)):
        r = await call(client, "GET", f"/posts/{top[v]}/history", who)
        assert r.status_code == status, (who.name, v)
    # Notifications: max is told of every mention, ned of every answer; nobody else of any.
    assert await notes(client, max_) == {("mention", i) for i in [*top.values(), *replies.values()]}
    assert await notes(client, ned) == {("reply", i) for i in replies.values()}
    assert await notes(client, fay) == set() and await notes(client, pam) == set()
    assert {kind for kind, _ in await notes(client, ann)} == {"follow", "follow_request"}
    assert (await call(client, "GET", "/notifications", ANON)).status_code == 401
    # Likes: only from those who see the post; the author is told.
    assert (await call(client, "POST", f"/posts/{top['followers']}/like", fay)).status_code == 200
    assert (await call(client, "POST", f"/posts/{top['followers']}/like", pam)).status_code == 404
    assert (await call(client, "POST", f"/posts/{top['direct']}/like", fay)).status_code == 404
    assert ("like", top["followers"]) in await notes(client, ann)
    # Unfollowing takes the followers-only posts away.
    assert (await call(client, "DELETE", "/actors/ann/follow", fay)).status_code == 200
    got = await surfaces(fay)
    assert got["get"] == got["profile"] == set(OPEN) and got["search"] == {"public"}
    assert got["in_thread"] == set(OPEN) and got["home"] == set()
    assert (await call(client, "GET", f"/posts/{top['followers']}", fay)).status_code == 404


async def test_notifications_never_show_what_the_reader_cannot_see(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    fay = await person(client, "fay")
    assert await follow(client, fay, "ann") == "accepted"
    cora = await character(client, bob, "Cora")
    public = await post(client, ann, "hello world")
    closed = await post(client, ann, "followers only, and @bob", visibility="followers")
    # Mentioning bob lets him see it and tells him; fay (a follower) sees it, untold.
    assert await notes(client, bob) == {("mention", closed["id"])}
    assert await notes(client, fay) == set()
    # A character's like and reply reach ann ...
    assert (await call(client, "POST", f"/posts/{public['id']}/like", cora)).status_code == 200
    reply = await post(client, cora, "hi ann", in_reply_to_id=public["id"])
    assert await notes(client, ann) == {
        ("follow", None),
        ("like", public["id"]),
        ("reply", reply["id"]),
    }
    # ... and vanish, with the reply, once the character is made private.
    r = await client.patch(
        f"{API}/characters/{cora.act_as}", headers=bob.headers, json={"visibility": "private"}
    )
    assert r.status_code == 200, r.text
    assert await notes(client, ann) == {("follow", None)}
    assert (await call(client, "GET", f"/posts/{reply['id']}", ann)).status_code == 404
    assert (await call(client, "GET", f"/posts/{reply['id']}", bob)).status_code == 200
    assert reply["id"] not in [
        d["id"] for d in (await get_ok(client, f"/posts/{public['id']}/thread", ann))["descendants"]
    ]
    # Notifications belong to the acting actor: bob reads his character's separately.
    r = await client.patch(
        f"{API}/characters/cora", headers=bob.headers, json={"visibility": "public"}
    )
    assert r.status_code == 200
    cora_post = await post(client, cora, "cora speaks")
    assert (await call(client, "POST", f"/posts/{cora_post['id']}/like", ann)).status_code == 200
    assert ("like", cora_post["id"]) in await notes(client, cora)
    assert ("like", cora_post["id"]) not in await notes(client, bob)


# --- Timelines -----------------------------------------------------------------------------


async def test_home_timeline_contents_and_paging(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    cat = await person(client, "cat")
    dan = await person(client, "dan")  # a stranger to ann
    for handle in ("bob", "cat"):
        assert await follow(client, ann, handle) == "accepted"
    b1 = await post(client, bob, "b1")
    c1 = await post(client, cat, "c1")
    d1 = await post(client, dan, "d1")
    a1 = await post(client, ann, "a1")
    await post(client, bob, "to a stranger", in_reply_to_id=d1["id"])
    to_ann = await post(client, bob, "to ann", in_reply_to_id=a1["id"])
    to_cat = await post(client, bob, "to cat", in_reply_to_id=c1["id"])
    ann_to_dan = await post(client, ann, "ann answers dan", in_reply_to_id=d1["id"])
    c2 = await post(client, cat, "cat for followers", visibility="followers")
    await post(client, dan, "dan to @ann directly", visibility="direct")
    dan_again = await post(client, dan, "dan again")
    expected = [p["id"] for p in (c2, ann_to_dan, to_cat, to_ann, a1, c1, b1)]
    assert await ids(client, "/timelines/home", ann) == expected
    for limit in (1, 2, 7):
        assert await walk(client, "/timelines/home", ann, limit) == expected, limit
    page = await get_ok(client, "/timelines/home", ann, limit=2)
    assert page["next_cursor"] == expected[1]
    last = await get_ok(client, "/timelines/home", ann, limit=2, cursor=expected[-2])
    assert [i["id"] for i in last["items"]] == [b1["id"]] and last["next_cursor"] is None
    # A character has its own home.
    cora = await character(client, ann, "Cora")
    assert await ids(client, "/timelines/home", cora) == []
    assert await follow(client, cora, "dan") == "accepted"
    cora_home = await ids(client, "/timelines/home", cora)
    assert {d1["id"], dan_again["id"]} <= set(cora_home) and b1["id"] not in cora_home


async def test_public_timeline_has_only_public_top_level_posts(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    assert await follow(client, bob, "ann") == "accepted"
    p1 = await post(client, ann, "p1 #same")
    for visibility in ("unlisted", "followers", "direct"):
        await post(client, ann, f"{visibility} @bob #same", visibility=visibility)
    await post(client, bob, "a public reply #same", in_reply_to_id=p1["id"])
    p2 = await post(client, bob, "p2 #same")
    p3 = await post(client, ann, "p3 #Same")
    expected = [p3["id"], p2["id"], p1["id"]]
    for who in (ANON, ann, bob):
        assert await ids(client, "/timelines/public", who) == expected
        assert await walk(client, "/timelines/public", who, 1) == expected
        assert await walk(client, "/timelines/public", who, 2) == expected
    # The hashtag timeline is public posts too, but replies count.
    tagged = await walk(client, "/timelines/tag/same", bob, 1)
    assert tagged[0] == p3["id"] and tagged[1] == p2["id"] and tagged[-1] == p1["id"]
    assert len(tagged) == 4 and len(set(tagged)) == 4


async def test_for_you_ranks_affinity_and_pages_without_duplicates(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    vic = await person(client, "vic")  # the reader
    xan = await person(client, "xan")  # followed by vic
    lea = await person(client, "lea")  # liked by vic
    sam = await person(client, "sam")  # a stranger
    liked = await post(client, lea, "lea's older post")
    assert (await call(client, "POST", f"/posts/{liked['id']}/like", vic)).status_code == 200
    from_followed = await post(client, xan, "xan writes")
    from_liked = await post(client, lea, "lea writes again")
    from_stranger = await post(client, sam, "sam writes, newest of the four")
    filler = [await post(client, sam, f"sam filler {i}") for i in range(4)]
    own = await post(client, vic, "vic's own post")
    reply = await post(client, xan, "a reply", in_reply_to_id=liked["id"])
    assert await follow(client, vic, "xan") == "accepted"

    ranked = await ids(client, "/timelines/for-you", vic)
    assert own["id"] not in ranked and reply["id"] not in ranked
    every = [liked, from_followed, from_liked, from_stranger, *filler]
    assert sorted(ranked) == sorted(p["id"] for p in every)
    pos = {post_id: i for i, post_id in enumerate(ranked)}
    # Equal engagement and about the same age: affinity decides, although sam's is newer.
    assert pos[from_followed["id"]] < pos[from_stranger["id"]]
    assert pos[from_liked["id"]] < pos[from_stranger["id"]]
    assert pos[from_followed["id"]] < pos[from_liked["id"]]
    assert ranked[:3] == [liked["id"], from_followed["id"], from_liked["id"]]
    # Without affinity (anonymous), the liked post leads and the rest are newest first.
    anonymous = await ids(client, "/timelines/for-you", ANON)
    rest = sorted((p["id"] for p in [*every, own] if p is not liked), reverse=True)
    assert anonymous == [liked["id"], *rest]
    for limit in (1, 3, 8):
        paged = await walk(client, "/timelines/for-you", vic, limit)
        assert paged == ranked, limit


async def test_bad_cursors_and_limits_are_422(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    p = await post(client, ann, "something #tag")
    lists: list[tuple[str, dict[str, str]]] = [
        ("/timelines/home", {}),
        ("/timelines/public", {}),
        ("/timelines/for-you", {}),
        ("/timelines/tag/tag", {}),
        ("/actors/ann/posts", {}),
        (f"/posts/{p['id']}/thread", {}),
        ("/notifications", {}),
        ("/search", {"q": "some"}),
        ("/search", {"q": "ann", "type": "actors"}),
    ]
    id_cursors = ["zzz", "0" * 31, "G" * 32, "0" * 31 + "\u0000", "x" * 201]
    ranked_cursors = [
        "!!!",
        "x" * 201,
        b64(b"[1, 2]"),
        b64(b'"just a string"'),
        b64(b"\xff\xfe\x00"),
        b64(b'{"t": 1}'),
        b64(b'{"t": "soon", "s": 1, "i": "x"}'),
        b64(b'{"t": NaN, "s": 1, "i": "x"}'),
        b64(b'{"t": "nan", "s": 1, "i": "x"}'),
        b64(b'{"t": Infinity, "s": 1, "i": "x"}'),
        b64(b'{"t": 1e999, "s": 1, "i": "x"}'),
        b64(b'{"t": 1, "s": NaN, "i": "x"}'),
    ]
    actor_cursors = [
        "zzz",
        "1:short",
        "\u00b2:" + "0" * 32,
        "9" * 60 + ":" + "0" * 32,
        "1:" + "0" * 31 + "\u0000",
    ]
    for path, params in lists:
        cursors = id_cursors
        if path == "/timelines/for-you":
            cursors = ranked_cursors
        elif params.get("type") == "actors":
            cursors = actor_cursors
        for cursor in cursors:
            r = await call(client, "GET", path, ann, cursor=cursor, **params)
            # NUL is refused for the whole app (400) before any list sees it.
            expected = 400 if "\x00" in cursor else 422
            assert r.status_code == expected, (path, cursor, r.status_code)
        for limit in ("0", "41", "ten"):
            r = await call(client, "GET", path, ann, limit=limit, **params)
            assert r.status_code == 422, (path, limit, r.status_code)
        r = await call(client, "GET", path, ann, limit=40, **params)
        assert r.status_code == 200, (path, r.text)
    for up_to in ("\u0000" * 32, "x" * 32, "0" * 31):
        r = await call(client, "POST", "/notifications/read", ann, {"up_to_id": up_to})
        assert r.status_code == 422, (up_to, r.text)


# --- Search --------------------------------------------------------------------------------


async def test_search_posts_and_actors(db_kind: str, client: httpx.AsyncClient) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    novak = await person(client, "novak")
    photo = await post(client, ann, "Photosynthesis converts sunlight")
    graph = await post(client, bob, "photographs of sunsets")
    await post(client, ann, "nothing to see")
    hidden = await post(client, bob, "photogenic secret", visibility="direct")
    assert set(await ids(client, "/search", ANON, q="photo")) == {photo["id"], graph["id"]}
    assert await ids(client, "/search", ANON, q="PHOTO") == [graph["id"], photo["id"]]
    assert await ids(client, "/search", ANON, q="photos") == [photo["id"]]
    assert set(await ids(client, "/search", ANON, q="photo sun")) == {photo["id"], graph["id"]}
    assert await ids(client, "/search", ANON, q="photo sunl") == [photo["id"]]
    assert await ids(client, "/search", ANON, q="sunsets, photographs!") == [graph["id"]]
    assert await ids(client, "/search", ANON, q="zzyzx") == []
    assert hidden["id"] in await ids(client, "/search", bob, q="photogenic")
    assert await ids(client, "/search", ann, q="photogenic") == []
    assert await walk(client, "/search", ANON, 1, q="photo") == [graph["id"], photo["id"]]

    star = await character(client, novak, "Nova Star")
    await character(client, novak, "Nova Hidden", visibility="private")
    await character(client, novak, "Nova Quiet", visibility="unlisted")
    assert star.name == "nova_star"

    async def actors(q: str, who: Who = ANON) -> set[str]:
        body = await get_ok(client, "/search", who, q=q, type="actors", limit=40)
        return {a["handle"] for a in body["items"]}

    for who in (ANON, ann, novak):
        assert await actors("nova", who) == {"nova_star", "novak"}
        assert await actors("hidden", who) == set()
        assert await actors("quiet", who) == set()
    assert await actors("star") == {"nova_star"}  # by display name
    assert await actors("NOVAK") == {"novak"}
    assert await actors("ann") == {"ann"}
    assert await actors("an") == {"ann"}
    assert await actors("bo") == {"bob"}
    star_out = (await get_ok(client, "/search", ANON, q="star", type="actors"))["items"][0]
    assert star_out["is_ai"] is True and star_out["ai_label"] == "AI character operated by @novak"

    for q in ("", "x" * 201):
        for kind in ("posts", "actors"):
            r = await call(client, "GET", "/search", ANON, q=q, type=kind)
            assert r.status_code == 422, (q, kind)
    assert (await call(client, "GET", "/search", ANON)).status_code == 422
    assert (await call(client, "GET", "/search", ANON, q="x" * 200)).status_code == 200
    assert (await call(client, "GET", "/search", ANON, q="photo", type="people")).status_code == 422
    hostile = [
        '"',
        "*",
        "AND",
        "photo OR NOT sun",
        "NEAR(photo sun)",
        "text:photo",
        "photo & !sun | (x)",
        "photo <-> sun",
        "^photo -sun",
        "'",
        "\\",
        "%_",
        "photo\u0000",
    ]
    for q in hostile:
        for kind in ("posts", "actors"):
            r = await call(client, "GET", "/search", ANON, q=q, type=kind)
            # NUL is refused for the whole app (400) before search sees it.
            expected = (400,) if "\x00" in q else (200, 422)
            assert r.status_code in expected, (q, kind, r.status_code)
    for q in ("photo*", '"photo', "!photo", "(photo", "-photo", "^photo", "photo:*", "{photo}"):
        found = await ids(client, "/search", ANON, q=q)
        assert photo["id"] in found, q


# --- Characters ----------------------------------------------------------------------------


async def test_characters_post_with_ai_labels_and_acting_rules(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    cora = await character(client, ann, "Cora")
    secret = await character(client, ann, "Secret Sam", visibility="private")
    p = await post(client, cora, "hello from a character")
    assert p["is_ai"] is True and p["ai_label"] == "AI character operated by @ann"
    author = p["author"]
    assert author["handle"] == "cora" and author["kind"] == "character" and author["is_ai"]
    assert author["operator"]["handle"] == "ann"
    assert (await get_ok(client, f"/posts/{p['id']}", ANON))["ai_label"] == p["ai_label"]
    human = await post(client, ann, "hello from a person")
    assert human["is_ai"] is False and human["ai_label"] is None
    r = await call(client, "POST", f"/posts/{p['id']}/repost", bob)
    assert r.status_code == 201 and r.json()["is_ai"] is True
    assert r.json()["repost_of"]["ai_label"] == "AI character operated by @ann"
    profile = await get_ok(client, "/actors/cora", ANON)
    assert profile["is_ai"] and profile["posts_count"] == 1
    assert await ids(client, "/actors/cora/posts", ANON) == [p["id"]]
    assert await ids(client, "/actors/ann/posts", ANON) == [human["id"]]

    r = await call(client, "POST", "/posts", secret, {"text": "hi"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "character_private"
    stolen = Who("bob-as-cora", bob.headers, "cora")
    for method, path, body in (
        ("POST", "/posts", {"text": "impostor"}),
        ("GET", "/timelines/home", None),
        ("POST", f"/posts/{human['id']}/like", None),
    ):
        r = await call(client, method, path, stolen, body)
        assert r.status_code == 404, (method, path, r.text)
    for method, path, body in (
        ("POST", "/posts", {"text": "anonymous"}),
        ("GET", "/timelines/public", None),
        ("GET", f"/posts/{p['id']}", None),
    ):
        r = await client.request(method, f"{API}{path}", params={"as": "cora"}, json=body)
        assert r.status_code == 401, (method, path, r.text)
    for handle, status in (("nobody", 404), ("bob", 404), ("bad handle!", 422)):
        r = await call(client, "POST", "/posts", Who("x", ann.headers, handle), {"text": "x"})
        assert r.status_code == status, (handle, r.text)
    assert await posts_count(client, "cora") == 1 and await posts_count(client, "bob") == 0
    assert await posts_count(client, "ann") == 1


# --- Bad input -----------------------------------------------------------------------------


async def test_bad_posts_are_refused_and_store_nothing(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    bob = await person(client, "bob")
    secret = (await post(client, bob, "bob's direct note", visibility="direct"))["id"]
    missing = "0" * 32
    cases: list[tuple[Any, int]] = [
        ({"text": ""}, 422),
        ({"text": " \n\t "}, 422),
        ({"text": "x" * (MAX_POST_CHARS + 1)}, 422),
        ({"text": "ok", "visibility": "secret"}, 422),
        ({"text": "ok", "visibility": None}, 422),
        ({"text": "ok", "language": "english!"}, 422),
        ({"text": "ok", "language": "e"}, 422),
        ({"text": "ok", "language": "x" * 17}, 422),
        ({"text": "ok", "language": "en\u0000"}, 422),
        ({"text": "ok", "extra": 1}, 422),
        ({"text": "ok", "content_warning": "w" * (MAX_CW_CHARS + 1)}, 422),
        ({"text": "ok", "in_reply_to_id": missing}, 404),
        ({"text": "ok", "in_reply_to_id": secret}, 404),
        ({"text": "ok", "in_reply_to_id": "not-an-id"}, 422),
        ({"text": "ok", "in_reply_to_id": secret.upper()}, 422),
        ({"text": "ok", "quote_of_id": "xyz"}, 422),
        ({"text": "ok", "quote_of_id": missing}, 404),
        ({"text": "ok", "quote_of_id": secret}, 404),
        ({"text": 5}, 422),
        ({"text": ["a"]}, 422),
        ({}, 422),
        ([], 422),
        ("just a string", 422),
        ({"text": "a NUL \u0000 byte"}, 422),
        ({"text": "ok", "content_warning": "cw \u0000"}, 422),
    ]
    for body, status in cases:
        r = await call(client, "POST", "/posts", ann, body)
        assert r.status_code == status, (body if len(str(body)) < 80 else "long", r.text[:200])
        assert "error" in r.json()
    r = await client.post(
        f"{API}/posts",
        headers={**ann.headers, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    assert (await call(client, "POST", "/posts", ANON, {"text": "ok"})).status_code == 401
    assert await posts_count(client, "ann") == 0
    assert await ids(client, "/actors/ann/posts", ann, replies=True) == []
    assert await ids(client, "/timelines/public", ANON) == []
    assert await notes(client, bob) == set()
    longest = await post(client, ann, "y" * MAX_POST_CHARS, content_warning="w" * MAX_CW_CHARS)
    assert len(longest["text"]) == MAX_POST_CHARS
    assert await posts_count(client, "ann") == 1


async def test_malformed_ids_and_handles_are_not_found(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    ann = await person(client, "ann")
    await post(client, ann, "something")
    for path in (
        "/posts/nope",
        "/posts/nope/thread",
        "/posts/nope/history",
        "/posts/a%00b",
        "/posts/a%00b/thread",
        f"/posts/{'f' * 32}",
        "/actors/a%00b",
        "/actors/a%00b/posts",
        "/actors/nobody/posts",
    ):
        r = await client.get(f"{API}{path}", headers=ann.headers)
        # NUL is refused for the whole app (400) before any lookup.
        assert r.status_code == (400 if "%00" in path else 404), (path, r.status_code)
    for method in ("PATCH", "DELETE"):
        r = await client.request(
            method, f"{API}/posts/a%00b", headers=ann.headers, json={"text": "x"}
        )
        assert r.status_code == 400, (method, r.status_code)
    r = await client.get(f"{API}/timelines/tag/a%00b", headers=ann.headers)
    assert r.status_code == 400, r.status_code
    assert "NUL" in r.json()["error"]["message"]
    r = await client.get(f"{API}/timelines/tag/{'t' * 101}", headers=ann.headers)
    assert r.status_code == 422


async def test_a_character_never_reads_its_operators_private_posts(
    db_kind: str, client: httpx.AsyncClient
) -> None:
    """An operator's direct messages must not reach a character's home (or a model's
    context when characters act on their own): a character sees as itself."""
    await person(client, "root")
    ann = await person(client, "ann")
    xav = await person(client, "xav")
    cora = await character(client, ann, "Cora")
    assert await follow(client, cora, "xav") == "accepted"
    assert await follow(client, ann, "xav") == "accepted"
    secret = await post(client, xav, "psst @ann, only for you", visibility="direct")
    for_ann = await post(client, xav, "ann's followers only", visibility="followers")
    hello = await post(client, xav, "hello everyone")
    assert {secret["id"], for_ann["id"], hello["id"]} <= set(
        await ids(client, "/timelines/home", ann)
    )
    assert (await call(client, "GET", f"/posts/{secret['id']}", ann)).status_code == 200
    home = set(await ids(client, "/timelines/home", cora))
    assert hello["id"] in home and secret["id"] not in home
    # cora follows xav herself, so his followers-only post is hers to read.
    assert for_ann["id"] in home
    assert (await call(client, "GET", f"/posts/{secret['id']}", cora)).status_code == 404
    assert secret["id"] not in await ids(client, "/search", cora, q="psst")
