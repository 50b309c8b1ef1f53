"""The issue's scenario: 3 characters and 2 people over 30 turns in each mode (fake backend),
and auto-mode against its budget and a person typing.

Every reply the fake writes starts with the speaker's own label and goes on in bob's voice,
so each saved message also shows the cleaning at work.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from personae.llm.registry import BackendRegistry
from personae.scenes.bleed import label_of
from tests.conftest import sign_up
from tests.scenes.helpers import (
    character,
    conductor,
    director_answer,
    install_fake,
    join,
    say,
    scene,
    shown,
)

NAMES = ("Mira", "Tobias", "Quill")
KICK, SECRET, BACK, MUTE = 8, 9, 11, 18
DIRECTOR_ANSWERS = [
    director_answer("Mira"),
    director_answer("Quill"),
    '{"speaker": "a person", "reason": "let them talk"}',
    "no JSON here at all",
    director_answer("Tobias"),
]


def present_at(turn: int) -> set[str]:
    """The characters who may speak after the person's message of `turn`."""
    able = set(NAMES)
    if KICK <= turn < BACK:
        able.discard("Quill")
    if turn >= MUTE:
        able.discard("Tobias")
    return able


def segments(messages: list[dict[str, Any]]) -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """Each person's message with the characters' replies after it."""
    out: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for message in messages:
        if message["speaker"]["kind"] == "person":
            out.append((message, []))
        else:
            out[-1][1].append(message)
    return out


@pytest.mark.parametrize("mode", ["natural", "list", "pooled", "manual", "director"])
async def test_thirty_turns_with_three_characters_and_two_people(
    mode: str, client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    fake = install_fake(registry, bleed="bob")
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    made = {n: await character(client, alice, n) for n in NAMES}
    sid = (await scene(client, alice, [made[n]["handle"] for n in NAMES], mode=mode))["id"]
    await join(client, sid, alice, bob, "bob")
    member = {m["name"]: m["id"] for m in (await shown(client, sid, alice))["members"]}
    mentions: dict[int, str] = {}
    for turn in range(30):
        who = alice if turn % 2 == 0 else bob
        if turn == KICK:
            r = await client.delete(
                f"/api/v1/scenes/{sid}/members/{member['Quill']}", headers=alice
            )
            assert r.status_code == 200, r.text
        if turn == BACK:
            r = await client.post(
                f"/api/v1/scenes/{sid}/members",
                headers=alice,
                json={"character": made["Quill"]["handle"]},
            )
            assert r.status_code == 201, r.text
        if turn == MUTE:
            r = await client.patch(
                f"/api/v1/scenes/{sid}/members/{member['Tobias']}",
                headers=alice,
                json={"muted": True},
            )
            assert r.status_code == 200 and r.json()["muted"] is True
        text = f"Turn {turn}: the rain goes on."
        if turn == SECRET:
            text = "Between us: the secret word is PAPAYA."
        elif turn % 4 == 1:
            target = sorted(present_at(turn))[turn % len(present_at(turn))]
            mentions[turn] = target
            text = f"What do you think, {target}?"
        if mode == "director":
            fake.director.append(DIRECTOR_ANSWERS[turn % len(DIRECTOR_ANSWERS)])
        posted = await say(client, app, sid, who, text)
        if mode == "manual":
            assert posted["speakers"] == []
            tap = sorted(present_at(turn))[turn % len(present_at(turn))]
            r = await client.post(
                f"/api/v1/scenes/{sid}/speak", headers=who, json={"participant_id": member[tap]}
            )
            assert r.status_code == 202, r.text
            await conductor(app).idle(sid)
        if turn == BACK + 1:  # Quill, back, speaks whatever the mode
            r = await client.post(
                f"/api/v1/scenes/{sid}/speak", headers=bob, json={"participant_id": member["Quill"]}
            )
            assert r.status_code == 202, r.text
            await conductor(app).idle(sid)
    # Absent and muted characters cannot be tapped either.
    r = await client.post(
        f"/api/v1/scenes/{sid}/speak", headers=bob, json={"participant_id": member["Tobias"]}
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "muted"

    messages = (await shown(client, sid, bob))["messages"]
    turns = segments(messages)
    assert len(turns) == 30
    people = {"alice", "bob"}
    for index, (said, replies) in enumerate(turns):
        assert said["speaker"]["name"] in people and said["speaker"]["is_ai"] is False
        able = present_at(index)
        for reply in replies:
            name = reply["speaker"]["name"]
            # Nobody speaks for anyone else: the label went, bob's line was cut.
            assert reply["content"] == f"Hello from {name}.", reply
            assert reply["speaker"]["kind"] == "character" and reply["speaker"]["is_ai"]
            assert all(label_of(line) is None for line in reply["content"].splitlines())
            assert reply["reason"]
            if reply["reason"] == "manual" and name == "Quill":
                continue
            # Muted and absent characters never speak; the director's pick is present.
            assert name in able, (index, name, reply["reason"])
        if mode == "natural" and index in mentions:
            assert replies[0]["speaker"]["name"] == mentions[index]
            assert replies[0]["reason"] == "mentioned"
        if mode == "list":
            listed = [r["speaker"]["name"] for r in replies if r["reason"] == "list"]
            assert listed == [n for n in NAMES if n in able]
        if mode == "director":
            for reply in replies:
                assert reply["reason"].startswith("director") or reply["reason"] == "manual"
    if mode == "pooled":
        # Before anyone left or was muted: every character once before anyone repeats.
        order = [r["speaker"]["name"] for _, replies in turns[:KICK] for r in replies]
        assert len(order) == KICK
        assert sorted(order[:3]) == sorted(NAMES) and sorted(order[3:6]) == sorted(NAMES)
    if mode == "director":
        reasons = [r["reason"] for _, replies in turns for r in replies]
        assert "director: their turn" in reasons  # an answer that named a present member
        assert any("named someone who cannot speak" in r or "not JSON" in r for r in reasons)

    # What was said while Quill was away never reaches Quill; the others heard it.
    quill_after = fake.prompts_of("Quill")[-1]
    assert "PAPAYA" not in quill_after and "Quill joined the scene." in quill_after
    assert "Quill left the scene." in quill_after
    assert any("PAPAYA" in p for n in ("Mira", "Tobias") for p in fake.prompts_of(n))
    assert all("PAPAYA" not in p for p in fake.prompts_of("Quill"))


async def test_auto_mode_pauses_while_a_person_types_and_stops_at_its_budget(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry, db_kind: str
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    handles = [(await character(client, alice, n))["handle"] for n in NAMES]
    sid = (await scene(client, alice, handles, mode="pooled"))["id"]
    await say(client, app, sid, alice, "Tell me a story, all of you.")
    conductor(app).typing_pause_s = 0.6

    async def autos() -> int:
        got = await shown(client, sid, alice)
        return len([m for m in got["messages"] if (m["reason"] or "").startswith("auto")])

    r = await client.post(
        f"/api/v1/scenes/{sid}/auto",
        headers=alice,
        json={"on": True, "delay_s": 0.05, "turn_budget": 8},
    )
    assert r.status_code == 200, r.text
    for _ in range(200):
        if await autos() >= 2:
            break
        await asyncio.sleep(0.01)
    r = await client.post(f"/api/v1/scenes/{sid}/typing", headers=alice)
    assert r.status_code == 204
    paused_at = await autos()
    assert (await shown(client, sid, alice))["auto"]["paused_reason"] == "a person is typing"
    await asyncio.sleep(0.4)
    # A reply already being written may still land; no new turn starts.
    assert await autos() <= paused_at + 1
    # The person stops typing: auto-mode goes on to its budget, then turns itself off.
    await conductor(app).idle(sid, timeout_s=10)
    got = await shown(client, sid, alice)
    assert await autos() == 8
    assert got["auto"] == {
        "on": False,
        "delay_s": 0.05,
        "turns_left": 0,
        "tokens_left_today": got["auto"]["tokens_left_today"],
        "paused_reason": "turn budget spent",
    }
    assert got["auto"]["tokens_left_today"] < 20_000
    # Pooled: every character once before anyone repeats, in auto-mode too.
    names = [m["speaker"]["name"] for m in got["messages"] if m["speaker"]["kind"] == "character"]
    assert sorted(names[:3]) == sorted(NAMES) and sorted(names[3:6]) == sorted(NAMES)


async def test_auto_mode_stops_at_the_days_token_budget(
    client: httpx.AsyncClient, app: FastAPI, registry: BackendRegistry
) -> None:
    install_fake(registry)
    alice = await sign_up(client, "alice")
    handles = [(await character(client, alice, n))["handle"] for n in NAMES[:2]]
    sid = (await scene(client, alice, handles, mode="list"))["id"]
    await say(client, app, sid, alice, "Go on.")
    r = await client.post(
        f"/api/v1/scenes/{sid}/auto",
        headers=alice,
        json={"on": True, "delay_s": 0, "turn_budget": 50, "tokens_per_day": 1},
    )
    assert r.status_code == 200
    await conductor(app).idle(sid)
    got = await shown(client, sid, alice)
    # One turn spends more than a token; the next is refused.
    assert len([m for m in got["messages"] if (m["reason"] or "").startswith("auto")]) == 1
    assert got["auto"]["on"] is False
    assert got["auto"]["paused_reason"] == "daily token budget spent"
    assert got["auto"]["tokens_left_today"] == 0
