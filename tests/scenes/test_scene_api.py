"""The scenes API end to end on the fake backend: create, members, talk, swipes, edits,
branches, auto-mode, stop, the live stream."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from personae.llm.registry import BackendRegistry
from personae.scenes import api as scenes_api
from tests.api.sse import parse_sse
from tests.conftest import sign_up
from tests.scenes.helpers import character, conductor, install_fake, join, say, scene, shown


async def test_a_scene_talks_and_keeps_every_reply_in_its_speakers_voice(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry, bleed="alice")
    alice = await sign_up(client, "alice")
    mira = await character(client, alice, "Mira")
    tobias = await character(client, alice, "Tobias")
    made = await scene(client, alice, [mira["handle"], tobias["handle"]], mode="list")
    assert made["my_role"] == "owner" and made["mode"] == "list"
    assert [m["name"] for m in made["members"]] == ["alice", "Mira", "Tobias"]
    assert [m["is_ai"] for m in made["members"]] == [False, True, True]
    sid = made["id"]

    posted = await say(client, app, sid, alice, "Good evening, everyone.")
    assert [s["name"] for s in posted["speakers"]] == ["Mira", "Tobias"]
    assert all(s["reason"] == "list" for s in posted["speakers"])
    got = await shown(client, sid, alice)
    texts = [(m["speaker"]["name"], m["content"], m["reason"]) for m in got["messages"]]
    # The name label went, and the line the model wrote in alice's voice was cut.
    assert texts == [
        ("alice", "Good evening, everyone.", None),
        ("Mira", "Hello from Mira.", "list"),
        ("Tobias", "Hello from Tobias.", "list"),
    ]
    assert got["messages"][1]["generation"]["backend"] == "scenefake"
    # Each speaker's prompt has only its own hidden definition.
    mira_prompt = fake.prompts_of("Mira")[0]
    assert "SECRET-Mira" in mira_prompt and "SECRET-Tobias" not in mira_prompt
    assert fake.calls[0].params.stop[:2] == ["\nalice:", "\n**alice:**"]

    # A swipe of Mira's line, by Mira, then back to the first.
    first = got["messages"][1]
    r = await client.post(f"/api/v1/scenes/{sid}/messages/{first['id']}/regenerate", headers=alice)
    assert r.status_code == 202, r.text
    await conductor(app).idle(sid)
    got = await shown(client, sid, alice)
    assert got["messages"][-1]["swipe"]["count"] == 2
    assert got["messages"][-1]["speaker"]["name"] == "Mira"
    r = await client.post(f"/api/v1/scenes/{sid}/messages/{first['id']}/select", headers=alice)
    assert r.status_code == 200 and r.json()["messages"][-1]["id"] == tobias_or_last(r.json())

    # Edit, branch, delete.
    r = await client.patch(
        f"/api/v1/scenes/{sid}/messages/{first['id']}", headers=alice, json={"content": "Hi."}
    )
    assert r.status_code == 200 and r.json()["content"] == "Hi."
    r = await client.post(
        f"/api/v1/scenes/{sid}/branch", headers=alice, json={"message_id": first["id"]}
    )
    assert r.status_code == 201, r.text
    branch = r.json()
    assert branch["id"] != sid and [m["content"] for m in branch["messages"]] == [
        "Good evening, everyone.",
        "Hi.",
    ]
    r = await client.delete(f"/api/v1/scenes/{sid}/messages/{first['id']}", headers=alice)
    assert r.status_code == 200 and len(r.json()["messages"]) == 2  # the swipe shows now

    # A tap: any character speaks in any mode.
    r = await client.post(
        f"/api/v1/scenes/{sid}/speak", headers=alice, json={"participant_id": tobias_id(got)}
    )
    assert r.status_code == 202 and r.json()["speakers"][0]["reason"] == "manual"
    await conductor(app).idle(sid)
    got = await shown(client, sid, alice)
    assert got["messages"][-1]["reason"] == "manual"

    listed = (await client.get("/api/v1/scenes", headers=alice)).json()
    assert {s["id"] for s in listed["scenes"]} == {sid, branch["id"]}
    assert listed["invitations"] == []
    r = await client.delete(f"/api/v1/scenes/{branch['id']}", headers=alice)
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/scenes/{branch['id']}", headers=alice)).status_code == 404


def tobias_or_last(scene_out: dict[str, object]) -> object:
    messages = scene_out["messages"]
    assert isinstance(messages, list)
    return messages[-1]["id"]


def tobias_id(scene_out: dict[str, object]) -> str:
    members = scene_out["members"]
    assert isinstance(members, list)
    return str(next(m["id"] for m in members if m["name"] == "Tobias"))


async def test_auto_mode_runs_to_its_budget_and_stops_on_stop(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    handles = [(await character(client, alice, n))["handle"] for n in ("Mira", "Tobias")]
    sid = (await scene(client, alice, handles, mode="list"))["id"]
    await say(client, app, sid, alice, "Talk among yourselves.")
    r = await client.post(
        f"/api/v1/scenes/{sid}/auto",
        headers=alice,
        json={"on": True, "delay_s": 0, "turn_budget": 3},
    )
    assert r.status_code == 200 and r.json()["turns_left"] == 3
    await conductor(app).idle(sid)
    got = await shown(client, sid, alice)
    autos = [m for m in got["messages"] if (m["reason"] or "").startswith("auto")]
    assert len(autos) == 3
    assert got["auto"]["on"] is False and got["auto"]["paused_reason"] == "turn budget spent"
    # Alternating speakers: list order carries on after each reply.
    assert [m["speaker"]["name"] for m in autos] == ["Mira", "Tobias", "Mira"]

    # On again with a long delay: Stop ends it before any turn.
    r = await client.post(
        f"/api/v1/scenes/{sid}/auto", headers=alice, json={"on": True, "delay_s": 30}
    )
    assert r.json()["on"] is True
    await asyncio.sleep(0.05)
    r = await client.post(f"/api/v1/scenes/{sid}/stop", headers=alice)
    assert r.status_code == 200
    await conductor(app).idle(sid, timeout_s=2)
    got = await shown(client, sid, alice)
    assert got["auto"]["on"] is False and got["auto"]["paused_reason"] == "stopped"
    assert len([m for m in got["messages"] if (m["reason"] or "").startswith("auto")]) == 3


async def test_the_event_stream_shows_the_reply_to_every_member(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    mira = await character(client, alice, "Mira")
    sid = (await scene(client, alice, [mira["handle"]]))["id"]
    await join(client, sid, alice, bob, "bob")
    scenes_api.STREAM_LIFETIME_S = 1.0
    try:
        streams = [
            asyncio.create_task(client.get(f"/api/v1/scenes/{sid}/events", headers=h))
            for h in (alice, bob)
        ]
        await asyncio.sleep(0.2)
        await say(client, app, sid, bob, "Mira, are you there?")
        bodies = [await s for s in streams]
    finally:
        scenes_api.STREAM_LIFETIME_S = 600.0
    for body in bodies:
        assert body.status_code == 200
        events = parse_sse(body.text)
        names = [n for n, _ in events]
        assert names[0] == "message" and events[0][1]["speaker"]["name"] == "bob"
        assert "start" in names and "token" in names and "done" in names
        start = next(d for n, d in events if n == "start")
        assert start["name"] == "Mira" and start["reason"] == "mentioned"
        text = "".join(d["text"] for n, d in events if n == "token")
        done = next(d for n, d in events if n == "done")
        assert done["message"]["content"] == text.strip() == "Hello from Mira."
        assert names[-1] == "next"
