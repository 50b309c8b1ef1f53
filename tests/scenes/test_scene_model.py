"""A short scene on the real bundled model, where behaviour is judged: both characters
named answer, each under its own name, with nobody else's lines left in what is saved."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from personae.scenes.bleed import label_of
from tests.conftest import sign_up
from tests.scenes.helpers import character, join, say, scene, shown


async def test_two_characters_answer_on_the_bundled_model(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    alice = await sign_up(client, "alice")
    bob = await sign_up(client, "bob")
    sampling = {"temperature": 0.7, "seed": 7, "max_tokens": 60}
    mira = await character(
        client,
        alice,
        "Mira",
        backend="embedded",
        description="{{char}} is a cheerful starship captain who loves tea.",
        sampling=sampling,
    )
    tobias = await character(
        client,
        alice,
        "Tobias",
        backend="embedded",
        description="{{char}} is a grumpy ship engineer who fixes engines.",
        sampling=sampling,
    )
    sid = (await scene(client, alice, [mira["handle"], tobias["handle"]], mode="natural"))["id"]
    await join(client, sid, alice, bob, "bob")
    posted = await say(client, app, sid, bob, "Mira and Tobias, what do you each do on the ship?")
    assert [(s["name"], s["reason"]) for s in posted["speakers"]][:2] == [
        ("Mira", "mentioned"),
        ("Tobias", "mentioned"),
    ]
    messages = (await shown(client, sid, alice))["messages"]
    replies = messages[1:]
    assert [m["speaker"]["name"] for m in replies] == ["Mira", "Tobias"]
    others = {"mira", "tobias", "alice", "bob", "user", "you", "human"}
    for reply in replies:
        assert reply["content"].strip()
        assert reply["generation"]["backend"] == "embedded"
        assert reply["reason"] == "mentioned"
        own = reply["speaker"]["name"].lower()
        for line in reply["content"].splitlines():
            label = label_of(line)
            assert label is None or label not in others - {own}, reply["content"]
        assert not reply["content"].lower().startswith(f"{own}:")
