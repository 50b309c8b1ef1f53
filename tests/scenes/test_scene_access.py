"""Who may see and change a scene: 404 for outsiders on everything, invitations, blocks,
other people's ids, and bad input refused with nothing half-written."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from personae.llm.registry import BackendRegistry
from tests.conftest import sign_up
from tests.scenes.helpers import character, conductor, install_fake, join, say, scene, shown


async def test_outsiders_get_404_on_everything_of_a_private_scene(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    made = await scene(client, alice, [mira["handle"]])
    sid = made["id"]
    posted = await say(client, app, sid, alice, "Hello Mira.")
    mid = posted["message"]["id"]
    pid = made["members"][1]["id"]
    base = f"/api/v1/scenes/{sid}"
    calls = [
        ("GET", base, None),
        ("GET", f"{base}/events", None),
        ("PATCH", base, {"title": "Mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/members", {"character": mira["handle"]}),
        ("POST", f"{base}/members", {"person": "bob"}),
        ("PATCH", f"{base}/members/{pid}", {"muted": True}),
        ("DELETE", f"{base}/members/{pid}", None),
        ("POST", f"{base}/invitation", {"accept": True}),
        ("POST", f"{base}/messages", {"content": "hi"}),
        ("POST", f"{base}/speak", {"participant_id": pid}),
        ("POST", f"{base}/messages/{mid}/regenerate", None),
        ("PATCH", f"{base}/messages/{mid}", {"content": "changed"}),
        ("DELETE", f"{base}/messages/{mid}", None),
        ("POST", f"{base}/messages/{mid}/select", None),
        ("POST", f"{base}/branch", {"message_id": mid}),
        ("POST", f"{base}/auto", {"on": True}),
        ("POST", f"{base}/typing", None),
        ("POST", f"{base}/stop", None),
        ("POST", f"{base}/share", {}),
    ]
    for method, url, body in calls:
        for headers in (bob, {}):
            r = await client.request(method, url, headers=headers, json=body)
            expected = 401 if not headers and method != "GET" else 404
            assert r.status_code == expected, (method, url, r.status_code, r.text)
    assert (await client.get("/api/v1/scenes", headers=bob)).json() == {
        "scenes": [],
        "invitations": [],
    }
    # Nothing changed.
    got = await shown(client, sid, alice)
    assert got["title"] == "The tavern" and len(got["messages"]) == 2
    assert [m["name"] for m in got["members"]] == ["alice", "Mira"]


async def test_invitations_need_an_answer_and_public_scenes_are_read_only(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, alice, "Mira")
    sid = (await scene(client, alice, [mira["handle"]], visibility="invite"))["id"]
    await say(client, app, sid, alice, "A secret plan.")
    r = await client.post(f"/api/v1/scenes/{sid}/members", headers=alice, json={"person": "bob"})
    assert r.status_code == 201 and r.json()["status"] == "invited"
    # Invited: the title and who invited, nothing else, and no speaking yet.
    got = await shown(client, sid, bob)
    assert got["my_role"] == "invited" and got["invited_by"]["username"] == "alice"
    assert got["messages"] == [] and got["members"] == [] and got["scenario"] == ""
    listed = (await client.get("/api/v1/scenes", headers=bob)).json()
    assert [s["id"] for s in listed["invitations"]] == [sid] and listed["scenes"] == []
    for url, body in (
        (f"/api/v1/scenes/{sid}/messages", {"content": "hi"}),
        (f"/api/v1/scenes/{sid}/events", None),
    ):
        r = await client.request("POST" if body else "GET", url, headers=bob, json=body)
        assert r.status_code == 404, r.text
    # Two accepts at once: one joins, the other is told it was answered.
    answers = await asyncio.gather(
        *(
            client.post(f"/api/v1/scenes/{sid}/invitation", headers=bob, json={"accept": True})
            for _ in range(2)
        )
    )
    assert sorted(a.status_code for a in answers) == [200, 409]
    got = await shown(client, sid, bob)
    assert got["my_role"] == "member" and len(got["messages"]) == 2
    assert [m["name"] for m in got["members"] if m["status"] == "member"] == [
        "alice",
        "Mira",
        "bob",
    ]
    # Invite-only: a member may invite; carol declines and gets nothing.
    r = await client.post(f"/api/v1/scenes/{sid}/members", headers=bob, json={"person": "carol"})
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/scenes/{sid}/invitation", headers=carol, json={"accept": False})
    assert r.status_code == 200 and r.json() == {"accepted": False, "scene": None}
    assert (await client.get(f"/api/v1/scenes/{sid}", headers=carol)).status_code == 404
    r = await client.post(f"/api/v1/scenes/{sid}/invitation", headers=carol, json={"accept": True})
    assert r.status_code == 404
    # Members are not owners.
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=bob, json={"title": "Bob's"})
    assert r.status_code == 403
    r = await client.post(f"/api/v1/scenes/{sid}/share", headers=bob, json={})
    assert r.status_code == 403
    # Bob leaves; then he is an outsider again.
    me = next(m["id"] for m in got["members"] if m["name"] == "bob")
    r = await client.delete(f"/api/v1/scenes/{sid}/members/{me}", headers=bob)
    assert r.status_code == 200
    assert (await client.get(f"/api/v1/scenes/{sid}", headers=bob)).status_code == 404

    # Public: anyone reads, signed in or not, and nobody but members speaks.
    r = await client.patch(f"/api/v1/scenes/{sid}", headers=alice, json={"visibility": "public"})
    assert r.status_code == 200
    for headers in ({}, carol):
        got = (await client.get(f"/api/v1/scenes/{sid}", headers=headers)).json()
        assert got["my_role"] == "watcher" and len(got["messages"]) == 2
    r = await client.post(f"/api/v1/scenes/{sid}/messages", headers=carol, json={"content": "hi"})
    assert r.status_code == 403


async def test_blocks_keep_people_and_characters_apart(
    client: httpx.AsyncClient, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    carol = await sign_up(client, "carol")
    mira = await character(client, alice, "Mira")
    rook = await character(client, carol, "Rook", visibility="public")
    sid = (await scene(client, alice, [mira["handle"]]))["id"]
    await join(client, sid, alice, bob, "bob")
    # Bob blocked carol: carol cannot be invited, nor her character added.
    r = await client.post("/api/v1/actors/carol/block", headers=bob)
    assert r.status_code == 204, r.text
    r = await client.post(f"/api/v1/scenes/{sid}/members", headers=alice, json={"person": "carol"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_add_person"
    assert "bob" not in r.json()["error"]["message"]
    r = await client.post(
        f"/api/v1/scenes/{sid}/members", headers=alice, json={"character": rook["handle"]}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "cannot_add_character"
    got = await shown(client, sid, alice)
    assert [m["name"] for m in got["members"]] == ["alice", "Mira", "bob"]


async def test_bad_input_is_refused_and_nothing_is_half_written(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry)
    fake.token_delay_s = 0.02
    await sign_up(client, "root")  # the first account is an admin, who sees every character
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    bobs = await character(client, bob, "Bobby")
    bob_scene = (await scene(client, bob, [bobs["handle"]]))["id"]
    bob_member = (await shown(client, bob_scene, bob))["members"][1]["id"]
    r = await client.post(
        "/api/v1/scenes", headers=alice, json={"title": "x\x00y", "characters": [mira["handle"]]}
    )
    assert r.status_code == 422 and "NUL" in r.json()["error"]["message"]
    r = await client.post("/api/v1/scenes", headers=alice, json={"title": None})
    assert r.status_code == 422 and "title" in r.json()["error"]["message"]
    r = await client.post(
        "/api/v1/scenes", headers=alice, json={"title": "T", "characters": ["nobody_here"]}
    )
    assert r.status_code == 404 and "nobody_here" in r.json()["error"]["message"]
    r = await client.post(
        "/api/v1/scenes", headers=alice, json={"title": "T", "characters": [bobs["handle"]]}
    )
    assert r.status_code == 404  # bob's private character
    r = await client.post(
        "/api/v1/scenes", headers=alice, json={"title": "T", "mode": "chaos", "characters": []}
    )
    assert r.status_code == 422 and "mode" in r.json()["error"]["message"]
    assert (await client.get("/api/v1/scenes", headers=alice)).json()["scenes"] == []

    sid = (await scene(client, alice, [mira["handle"]]))["id"]
    base = f"/api/v1/scenes/{sid}"
    for body, word in (
        ({"content": "a\x00b"}, "NUL"),
        ({"content": None}, "content"),
        ({"content": "x" * 100_001}, "content"),
        ({"content": ""}, "content"),
        ({"content": "hi", "extra": 1}, "extra"),
    ):
        r = await client.post(f"{base}/messages", headers=alice, json=body)
        assert r.status_code == 422 and word in r.json()["error"]["message"], r.text
    # Other people's ids: their persona, their scene's member, a message of another scene.
    r = await client.post(f"{base}/speak", headers=alice, json={"participant_id": bob_member})
    assert r.status_code == 404
    r = await client.post(
        f"{base}/messages", headers=alice, json={"content": "hi", "parent_id": "f" * 32}
    )
    assert r.status_code == 404
    personas = (await client.get("/api/v1/personas", headers=bob)).json()
    if personas:
        r = await client.post(
            f"{base}/messages",
            headers=alice,
            json={"content": "hi", "persona_id": personas[0]["id"]},
        )
        assert r.status_code == 404
    r = await client.post(f"{base}/members", headers=alice, json={"person": "nobody_at_all"})
    assert r.status_code == 404 and "nobody_at_all" in r.json()["error"]["message"]
    r = await client.post(
        f"{base}/members", headers=alice, json={"character": mira["handle"], "backend": "nope"}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_backend"
    r = await client.post(f"{base}/members", headers=alice, json={"character": mira["handle"]})
    assert r.status_code == 409 and r.json()["error"]["code"] == "already_member"
    member = (await shown(client, sid, alice))["members"][1]["id"]
    r = await client.patch(f"{base}/members/{member}", headers=alice, json={"backend": "nope"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "unknown_backend"
    r = await client.patch(f"{base}/members/{member}", headers=alice, json={"talkativeness": 2})
    assert r.status_code == 422
    r = await client.patch(f"{base}/members/{member}", headers=alice, json={"muted": None})
    assert r.status_code == 422 and "muted" in r.json()["error"]["message"]

    # Two sends while a reply is written: the second is refused, nothing of it kept.
    first, second = await asyncio.gather(
        client.post(f"{base}/messages", headers=alice, json={"content": "One, Mira."}),
        client.post(f"{base}/messages", headers=alice, json={"content": "Two, Mira."}),
    )
    assert sorted((first.status_code, second.status_code)) == [201, 409]
    refused = first if first.status_code == 409 else second
    assert refused.json()["error"]["code"] == "scene_busy"
    await conductor(app).idle(sid)
    contents = [m["content"] for m in (await shown(client, sid, alice))["messages"]]
    assert len(contents) == 2 and contents[1] == "Hello from Mira."
    # A failed request frees the scene again (a missing parent: nothing saved).
    r = await client.post(
        f"{base}/messages", headers=alice, json={"content": "x", "parent_id": "0" * 32}
    )
    assert r.status_code == 404
    await say(client, app, sid, alice, "Three.")
    assert len((await shown(client, sid, alice))["messages"]) == 4
