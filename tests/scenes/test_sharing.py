"""Sharing a scene as a post: AI labels, the transcript, and what a private scene refuses."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from personae.llm.registry import BackendRegistry
from tests.conftest import sign_up
from tests.scenes.helpers import character, install_fake, join, say, scene, shown


async def test_the_owner_shares_a_range_with_ai_labels(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    sid = (await scene(client, alice, [mira["handle"]]))["id"]
    await say(client, app, sid, alice, "Mira, a story please.")
    await join(client, sid, alice, bob, "bob")
    await say(client, app, sid, bob, "And one for me, Mira.")
    messages = (await shown(client, sid, alice))["messages"]
    assert len(messages) == 4

    # The whole scene holds bob's words: a private scene cannot be shared so.
    r = await client.post(f"/api/v1/scenes/{sid}/share", headers=alice, json={})
    assert r.status_code == 422 and r.json()["error"]["code"] == "others_messages"
    assert "bob" in r.json()["error"]["message"]
    # Alice's and Mira's part can.
    r = await client.post(
        f"/api/v1/scenes/{sid}/share",
        headers=alice,
        json={"to_message_id": messages[1]["id"], "text": "Look what Mira said."},
    )
    assert r.status_code == 201, r.text
    shared = r.json()
    assert shared["url"].endswith(f"/scenes/{sid}/shared/{shared['share_id']}")
    post = (await client.get(f"/api/v1/posts/{shared['post_id']}", headers=bob)).json()
    assert "Mira (AI)" in post["text"] and "Look what Mira said." in post["text"]
    # Anyone who can see the post reads the transcript, with the AI labels; even signed out.
    for headers in (bob, {}):
        r = await client.get(f"/api/v1/scenes/{sid}/shared/{shared['share_id']}", headers=headers)
        assert r.status_code == 200, r.text
        transcript = r.json()
        assert [m["content"] for m in transcript["messages"]] == [
            "Mira, a story please.",
            "Hello from Mira.",
        ]
        assert [(m["name"], m["is_ai"]) for m in transcript["members"]] == [
            ("alice", False),
            ("Mira", True),
        ]
    # Only the owner shares; a range off the shown branch or backwards is refused.
    r = await client.post(f"/api/v1/scenes/{sid}/share", headers=bob, json={})
    assert r.status_code == 403
    r = await client.post(
        f"/api/v1/scenes/{sid}/share",
        headers=alice,
        json={"from_message_id": messages[1]["id"], "to_message_id": messages[0]["id"]},
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_range"
    r = await client.post(
        f"/api/v1/scenes/{sid}/share", headers=alice, json={"from_message_id": "a" * 32}
    )
    assert r.status_code == 404
    # A public scene can be shared whole.
    await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"visibility": "public"})
    r = await client.post(f"/api/v1/scenes/{sid}/share", headers=alice, json={})
    assert r.status_code == 201
    # The post gone, the transcript is gone too.
    r = await client.delete(f"/api/v1/posts/{shared['post_id']}", headers=alice)
    assert r.status_code in (200, 204), r.text
    r = await client.get(f"/api/v1/scenes/{sid}/shared/{shared['share_id']}", headers=bob)
    assert r.status_code == 404
