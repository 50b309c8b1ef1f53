"""Scene prompts (scenes/prompt.py): presence, privacy of definitions, the shared prefix."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personae.characters.prompting import CharacterDefinition
from personae.chat.lore import LoreEntry
from personae.chat.prompt import ContextOverflow
from personae.llm.base import ChatMessage
from personae.scenes.prompt import (
    CastMember,
    Notice,
    Presence,
    SceneLine,
    ScenePrompt,
    SceneSpeaker,
    assemble_director_prompt,
    assemble_scene_prompt,
    strip_reasoning,
)

T0 = datetime(2026, 12, 1, 20, 0)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def words(messages: Sequence[ChatMessage]) -> int:
    return 3 + sum(4 + len(m["content"].split()) for m in messages)


HIDDEN = {
    "ann": CharacterDefinition(
        name="Ann",
        description="ANN-DESCRIPTION-SECRET",
        personality="ANN-PERSONALITY-SECRET",
        scenario="ANN-SCENARIO-SECRET",
        mes_example="<START>\nAnn: ANN-EXAMPLE-SECRET",
        system_prompt="ANN-SYSTEM-SECRET",
        post_history_instructions="ANN-PHI-SECRET",
    ),
    "bob": CharacterDefinition(
        name="Bob",
        description="BOB-DESCRIPTION-SECRET " * 30,
        personality="BOB-PERSONALITY-SECRET",
        mes_example="Bob: BOB-EXAMPLE-SECRET",
        system_prompt="BOB-SYSTEM-SECRET",
        post_history_instructions="BOB-PHI-SECRET",
    ),
}
CAST = [
    CastMember("p-sam", "Sam", True, "A traveller (public)."),
    CastMember("c-ann", "Ann", False, "The innkeeper (public)."),
    CastMember("c-bob", "Bob", False, "A blacksmith (public)."),
]


def speaker(key: str, presence: Sequence[Presence] = (Presence(T0),)) -> SceneSpeaker:
    return SceneSpeaker(f"c-{key}", HIDDEN[key], list(presence))


def line(who: str, text: str, minutes: float) -> SceneLine:
    names = {"p-sam": "Sam", "c-ann": "Ann", "c-bob": "Bob"}
    return SceneLine(who, names[who], who.startswith("p-"), text, at(minutes))


async def build(sp: SceneSpeaker, history: Sequence[SceneLine], **kw: object) -> ScenePrompt:
    args: dict[str, object] = {
        "context_window": 4096,
        "reply_tokens": 200,
        "count": words,
        "prefill": True,
    }
    args.update(kw)
    notices = args.pop("notices", ())
    return await assemble_scene_prompt(
        "The Inn",
        "A stormy night at the inn.",
        sp,
        CAST,
        history,
        notices,
        **args,  # type: ignore[arg-type]
    )


def text_of(prompt: ScenePrompt) -> str:
    return "\n".join(m["content"] for m in prompt.messages)


HISTORY = [
    line("p-sam", "Good evening, Ann and Bob.", 1),
    line("c-ann", "Welcome! <think>ANN-REASONING-SECRET</think>Sit by the fire.", 2),
    line("c-bob", "Evening.", 3),
    line("p-sam", "What news?", 4),
]


async def test_layout_frame_then_history_then_the_speakers_own_part() -> None:
    prompt = await build(speaker("ann"), HISTORY)
    roles = [m["role"] for m in prompt.messages]
    assert roles == ["system", "user", "assistant", "assistant", "user", "system", "assistant"]
    assert prompt.messages[-1] == {"role": "assistant", "content": "Ann:"}  # the prefill
    frame = prompt.messages[0]["content"]
    assert "The Inn" in frame and "A stormy night" in frame
    assert "- Bob (a character): A blacksmith (public)." in frame
    assert "- Sam (a person): A traveller (public)." in frame
    assert prompt.messages[1]["content"] == "Sam: Good evening, Ann and Bob."
    assert prompt.messages[2]["content"] == "Ann: Welcome! Sit by the fire."
    tail = prompt.messages[-2]["content"]
    assert tail.startswith("You are Ann") and "ANN-DESCRIPTION-SECRET" in tail
    assert tail.index("ANN-PHI-SECRET") < tail.index("Write only Ann's next message")
    assert "ANN-SCENARIO-SECRET" not in tail  # the scene's scenario replaces the card's
    assert "\nSam:" in prompt.stop and "\nBob:" in prompt.stop
    assert not any("Ann" in s for s in prompt.stop)
    assert prompt.history_kept == prompt.history_total == 4


async def test_no_other_characters_hidden_fields_or_reasoning_reach_a_prompt() -> None:
    for me, other in (("ann", "BOB"), ("bob", "ANN")):
        prompt = await build(speaker(me), HISTORY, memories=[f"{me} remembers the cellar"])
        text = text_of(prompt)
        assert f"{other}-" not in text, me
        assert "REASONING" not in text
        assert f"{me} remembers the cellar" in prompt.messages[-2]["content"]


async def test_two_speakers_share_everything_but_their_own_part() -> None:
    ann = await build(speaker("ann"), HISTORY)
    bob = await build(speaker("bob"), HISTORY)
    assert ann.messages[:-2] == bob.messages[:-2]
    assert ann.messages[-2:] != bob.messages[-2:]
    # And the next speaker's prompt extends the previous one's shared part.
    after = await build(speaker("bob"), [*HISTORY, line("c-ann", "Storm's coming.", 5)])
    assert after.messages[: len(ann.messages) - 2] == ann.messages[:-2]


async def test_an_absent_character_never_hears_what_was_said_while_it_was_away() -> None:
    history = [
        line("p-sam", "Hello all.", 1),
        line("p-sam", "The password is PLUM.", 6),  # Bob is away from 5 to 8
        line("c-ann", "PLUM, noted.", 7),
        line("p-sam", "Welcome back, Bob.", 9),
    ]
    notices = [Notice("Bob", False, at(5)), Notice("Bob", True, at(8))]
    away = speaker("bob", [Presence(T0, at(5)), Presence(at(8))])
    prompt = await build(away, history, notices=notices)
    text = text_of(prompt)
    assert "PLUM" not in text
    contents = [m["content"] for m in prompt.messages]
    assert contents[1:5] == [
        "Sam: Hello all.",
        "Bob left the scene.",
        "Bob joined the scene.",
        "Sam: Welcome back, Bob.",
    ]
    ann = await build(speaker("ann"), history, notices=notices)
    assert "PLUM" in text_of(ann)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 100), st.integers(1, 30)), min_size=1, max_size=4),
    st.lists(st.integers(0, 140), min_size=1, max_size=15),
)
def test_secrets_said_in_any_absence_never_appear(
    intervals: list[tuple[int, int]], secret_times: list[int]
) -> None:
    presence = [Presence(at(start), at(start + length)) for start, length in intervals]
    history = [line("p-sam", f"secret{i}x at {m}", m) for i, m in enumerate(sorted(secret_times))]
    prompt = asyncio.run(build(speaker("ann", presence), history))
    text = text_of(prompt)
    for i, m in enumerate(sorted(secret_times)):
        present = any(p.covers_message(at(m)) for p in presence)
        assert (f"secret{i}x" in text) == present


async def test_scene_lore_is_shared_and_anchored_own_lore_stays_in_the_speakers_part() -> None:
    scene_lore = [
        LoreEntry("s1", ("dragon",), (), "SCENE-DRAGON-LORE"),
        LoreEntry("s2", (), (), "SCENE-CONSTANT-LORE", constant=True),
    ]
    own = [
        LoreEntry("o1", ("fire",), (), "ANN-FIRE-LORE"),
        LoreEntry("o2", (), (), "ANN-ALWAYS", constant=True),
    ]
    history = [*HISTORY, line("p-sam", "A dragon by the fire!", 5)]
    ann = await build(speaker("ann"), history, scene_lore=scene_lore, own_lore=own)
    bob = await build(speaker("bob"), history, scene_lore=scene_lore)
    assert "SCENE-CONSTANT-LORE" in ann.messages[0]["content"]
    assert ann.messages[-4] == {"role": "system", "content": "SCENE-DRAGON-LORE"}
    assert ann.messages[-3]["content"] == "Sam: A dragon by the fire!"
    assert (
        "ANN-FIRE-LORE" in ann.messages[-2]["content"]
        and "ANN-ALWAYS" in ann.messages[-2]["content"]
    )
    assert ann.messages[:-2] == bob.messages[:-2]
    assert "ANN-" not in text_of(bob)
    assert set(ann.lore_ids) == {"s1", "s2", "o1", "o2"}


async def test_a_long_history_is_cut_at_the_same_place_for_every_speaker() -> None:
    history = [
        line("p-sam" if i % 2 == 0 else "c-ann", f"message {i} " + "word " * 40, i)
        for i in range(300)
    ]
    ann = await build(speaker("ann"), history, context_window=2048)
    bob = await build(speaker("bob"), history, context_window=2048)  # a longer definition
    assert 0 < ann.history_kept < 300 and ann.history_total == 300
    assert ann.history_kept == bob.history_kept
    assert ann.messages[:-2] == bob.messages[:-2]
    assert await words(ann.messages) <= 2048 - 200
    # One more message keeps the same start (the cut moves by whole chunks).
    more = await build(
        speaker("ann"), [*history, line("p-sam", "And then?", 301)], context_window=2048
    )
    assert more.messages[1] == ann.messages[1]


async def test_overflow_and_attacker_sized_input() -> None:
    huge = line("p-sam", "flood " * 200_000, 5)  # ~1.2 MB
    started = time.perf_counter()
    with pytest.raises(ContextOverflow):
        await build(speaker("ann"), [*HISTORY, huge], context_window=4096)
    assert time.perf_counter() - started < 2
    with pytest.raises(ContextOverflow):
        await build(speaker("bob"), HISTORY, context_window=300)
    nul = line("p-sam", "a\x00b", 5)
    prompt = await build(speaker("ann"), [nul])
    assert prompt.messages[1]["content"] == "Sam: a\x00b"  # passed through as text, never parsed


async def test_an_empty_scene_and_a_speaker_with_no_definition() -> None:
    bare = SceneSpeaker("c-ann", CharacterDefinition(name="Ann"), [Presence(T0)])
    prompt = await assemble_scene_prompt(
        "", "", bare, [], [], context_window=1024, reply_tokens=100, count=words
    )
    assert [m["role"] for m in prompt.messages] == ["system", "system"]
    assert prompt.messages[0]["content"].startswith("This is a group scene.")
    assert "Never write lines for anyone else." in prompt.messages[1]["content"]


def test_strip_reasoning() -> None:
    assert strip_reasoning("a<think>x</think>b<think>y</think>c") == "abc"
    assert strip_reasoning("a<thinking>x</thinking>b") == "ab"
    assert strip_reasoning("a<think>never closed") == "a"
    assert strip_reasoning("plain") == "plain"


async def test_the_director_prompt_shares_the_speakers_prefix_and_sees_everything() -> None:
    history = [*HISTORY, line("p-sam", "The password is PLUM.", 6)]
    notices = [Notice("Bob", False, at(5))]
    director = await assemble_director_prompt(
        "The Inn",
        "A stormy night at the inn.",
        CAST,
        history,
        notices,
        labels=["Ann", "Bob"],
        context_window=4096,
        reply_tokens=60,
        count=words,
    )
    ann = await build(speaker("ann"), history, notices=notices)
    assert director.messages[:-1] == ann.messages[:-2]
    assert "PLUM" in text_of(director)  # the director is the platform, not a character
    tail = director.messages[-1]["content"]
    assert "Ann, Bob" in tail and '"a person"' in tail and "JSON" in tail
    assert "SECRET" not in text_of(director)
    assert director.stop == []


async def test_a_whole_scene_in_every_mode_on_the_pure_modules() -> None:
    """3 characters and 2 people over 30 turns per mode, with a fake model that bleeds:
    nothing saved is in another's voice, muted never speaks, the absent hears no secret."""
    from personae.llm.base import GenerationParams
    from personae.llm.fake import FakeBackend
    from personae.scenes.bleed import clean_reply, label_of
    from personae.scenes.turns import Member, SpokenTurn, speakers_after_person

    cast = [
        CastMember("p-sam", "Sam", True, "A traveller."),
        CastMember("p-kim", "Kim", True, "A local."),
        CastMember("c-ann", "Ann", False, "The innkeeper."),
        CastMember("c-bob", "Bob", False, "A blacksmith."),
        CastMember("c-cid", "Cid", False, "A bard (muted)."),
    ]
    names = {c.participant_id: c.name for c in cast}
    defs = {"c-ann": HIDDEN["ann"], "c-bob": HIDDEN["bob"], "c-cid": CharacterDefinition("Cid")}
    backend = FakeBackend()
    for mode in ("natural", "list", "pooled"):
        history: list[SceneLine] = []
        bob_away = (at(10), at(20))  # Bob leaves during turns 10-19
        for turn in range(30):
            now = at(turn)
            bob_present = not (bob_away[0] <= now < bob_away[1])
            members = [
                Member("c-ann", "Ann", "ann", 0.5, False, True),
                Member("c-bob", "Bob", "bob", 0.5, False, bob_present),
                Member("c-cid", "Cid", "cid", 1.0, True, True),
            ]
            who = "p-sam" if turn % 2 == 0 else "p-kim"
            text = f"secret{turn} Bob? Cid?" if not bob_present else f"turn {turn}, Ann?"
            history.append(SceneLine(who, names[who], True, text, now))
            spoken = [SpokenTurn(h.participant_id, h.is_person, h.text) for h in history]
            choices = speakers_after_person(
                mode, members, spoken, allow_self=False, seed="t", turn_index=turn
            )
            assert "c-cid" not in [c.participant_id for c in choices]
            for choice in choices:
                pid = choice.participant_id
                assert pid is not None
                if pid == "c-bob":
                    assert bob_present
                presence = (
                    [Presence(T0, bob_away[0]), Presence(bob_away[1])]
                    if pid == "c-bob"
                    else [Presence(T0)]
                )
                prompt = await assemble_scene_prompt(
                    "Inn",
                    "",
                    SceneSpeaker(pid, defs[pid], presence),
                    cast,
                    history,
                    context_window=4096,
                    reply_tokens=100,
                    count=words,
                )
                if pid == "c-bob":
                    assert "secret" not in text_of(prompt)
                others = [c.name for c in cast if c.participant_id != pid]
                backend.enqueue(f"{names[pid]}: Sure.\nSam: I agree.\nKim: me too")
                done = await backend.complete(prompt.messages, GenerationParams(stop=prompt.stop))
                saved = clean_reply(done.text, names[pid], others)
                assert saved == "Sure."
                assert all(
                    label_of(x) not in {"sam", "kim", "ann", "bob", "cid"}
                    for x in saved.splitlines()
                )
                history.append(SceneLine(pid, names[pid], False, saved, now + timedelta(seconds=1)))


async def test_naive_and_aware_times_mix() -> None:
    aware = T0.replace(tzinfo=UTC)
    sp = speaker("ann", [Presence(aware, at(5))])  # aware presence, naive messages
    prompt = await build(sp, [line("p-sam", "early", 1), line("p-sam", "late", 6)])
    assert "early" in text_of(prompt) and "late" not in text_of(prompt)


async def test_without_prefill_the_speakers_part_ends_the_prompt() -> None:
    prompt = await build(speaker("ann"), HISTORY, prefill=False)
    assert prompt.messages[-1]["role"] == "system"
    assert prompt.messages[-1]["content"].startswith("You are Ann")
