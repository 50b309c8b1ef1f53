"""Prompt assembly, macros and lorebook activation (pure logic, counted in words)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import datetime

import pytest

from personae.characters.prompting import CharacterDefinition, MacroContext, render
from personae.chat.lore import LoreEntry, activate, key_matches
from personae.chat.prompt import ContextOverflow, LoreSettings, Turn, assemble
from personae.llm.base import ChatMessage

CTX = MacroContext(char="Mira", user="Sam", seed="conv1", now=datetime(2026, 11, 28, 9, 5))


async def words(messages: Sequence[ChatMessage]) -> int:
    return sum(len(m["content"].split()) + 3 for m in messages)


def entry(id: str, keys: list[str], content: str, **kw: object) -> LoreEntry:
    return LoreEntry(
        id=id,
        keys=tuple(keys),
        secondary_keys=tuple(kw.pop("secondary", ())),
        content=content,
        **kw,
    )  # type: ignore[arg-type]


def test_macros() -> None:
    assert render("{{char}} greets {{user}}.{{// hidden}}", CTX) == "Mira greets Sam."
    assert render("{{comment: note}}{{hidden_key:dragon}}x", CTX) == "x"
    assert (
        render("{{reverse:abc}} {{isodate}} {{time}} {{weekday}}", CTX)
        == "cba 2026-11-28 09:05 Saturday"
    )
    first = render("{{pick:a,b,c,d,e,f}}", CTX)
    assert all(render("{{pick:a,b,c,d,e,f}}", CTX) == first for _ in range(20))  # stable
    assert render("{{random::x,1::y,2}}", CTX) in ("x,1", "y,2")
    assert 1 <= int(render("{{roll:d6}}", CTX)) <= 6
    assert 3 <= int(render("{{roll:3d6}}", CTX)) <= 18
    assert render("{{unknown}} {{USER}}", CTX) == "{{unknown}} Sam"
    ctx = MacroContext("Mira", "Sam", original="DEFAULT")
    assert render("Before. {{original}} After.", ctx) == "Before. DEFAULT After."


def test_key_matching() -> None:
    assert key_matches("Dragon", "a dragon flew", case_sensitive=False, use_regex=False)
    assert not key_matches("Dragon", "a dragon flew", case_sensitive=True, use_regex=False)
    assert key_matches("/drag(on|ons)/i", "DRAGONS!", case_sensitive=True, use_regex=True)
    assert key_matches(r"\bcat\b", "the cat sat", case_sensitive=False, use_regex=True)
    assert not key_matches(r"\bcat\b", "category", case_sensitive=False, use_regex=True)
    assert not key_matches("([", "anything", case_sensitive=False, use_regex=True)  # bad regex


def test_activation_rules_and_budget() -> None:
    entries = [
        entry("a", ["dragon"], "Dragons breathe fire.", insertion_order=20),
        entry("b", ["castle"], "The castle is old.", insertion_order=10),
        entry("c", ["dragon"], "Only with gold.", selective=True, secondary=["gold"]),
        entry("d", [], "Always here.", constant=True),
        entry("e", ["dragon"], "Disabled.", enabled=False),
        entry("f", ["fire"], "Fire is hot.", insertion_order=30),
        entry("g", ["dragon"], "x " * 50, priority=-5, insertion_order=1),
    ]
    got = activate(entries, ["A dragon near the castle"], lambda t: len(t.split()), 40)
    assert [e.id for e in got] == ["b", "a", "d"]  # g dropped first: lowest priority, over budget
    got = activate(entries, ["A dragon with gold"], lambda t: len(t.split()), 1000, recursive=True)
    assert {e.id for e in got} == {"a", "c", "d", "f", "g"}  # "fire" found in a's content


async def test_stable_prefix_and_lore_anchored_to_its_turn() -> None:
    definition = CharacterDefinition(
        name="Mira",
        description="{{char}} is a captain.",
        personality="brave",
        scenario="On a ship.",
        mes_example="<START>\n{{user}}: hi\n{{char}}: Ahoy!",
        system_prompt="{{original}} Be nautical.",
        post_history_instructions="Reply in under 50 words.",
    )
    lore = [
        entry("dragon", ["dragon"], "Dragons live on the moon."),
        entry("c", [], "Ships fly.", constant=True),
    ]
    history = [Turn("assistant", "Welcome, Sam!"), Turn("user", "Tell me about the dragon.")]
    one = await assemble(
        definition, "Sam", "A traveller.", history, lore, LoreSettings(), CTX, 4096, 200, words
    )
    system = one.messages[0]["content"]
    assert system.startswith("You are Mira.") and "Be nautical." in system
    assert "Mira is a captain." in system and "Mira's personality: brave" in system
    assert "Ships fly." in system and "About Sam: A traveller." in system
    assert "Sam: hi" in system and "Mira: Ahoy!" in system
    assert [m["role"] for m in one.messages] == ["system", "assistant", "system", "user", "system"]
    assert one.messages[2]["content"] == "Dragons live on the moon."
    assert one.messages[-1]["content"] == "Reply in under 50 words."
    history2 = [*history, Turn("assistant", "It sleeps."), Turn("user", "And the dragon's name?")]
    two = await assemble(
        definition, "Sam", "A traveller.", history2, lore, LoreSettings(), CTX, 4096, 200, words
    )
    # Everything of turn one but the trailing instructions is a prefix of turn two.
    assert two.messages[: len(one.messages) - 1] == one.messages[:-1]
    assert sum(1 for m in two.messages if m["content"] == "Dragons live on the moon.") == 1
    assert set(two.lore_ids) == {"c", "dragon"}


async def test_history_is_trimmed_in_steps_keeping_the_definition() -> None:
    definition = CharacterDefinition(name="Mira", description="A captain. " * 20)
    history = []
    for i in range(60):
        history.append(Turn("user", f"question {i} " + "word " * 20))
        history.append(Turn("assistant", f"answer {i} " + "word " * 20))
    history.append(Turn("user", "last question"))
    budget_window = 800
    result = await assemble(
        definition, "Sam", "", history, [], LoreSettings(), CTX, budget_window, 100, words
    )
    assert result.messages[0]["content"].startswith("You are Mira.")
    assert result.messages[-1]["content"] == "last question"
    assert await words(result.messages) <= budget_window - 100
    dropped = result.history_total - result.history_kept
    assert dropped > 0
    # The window start moves in chunks: most new exchanges keep the same cut, so the
    # cached prefix survives, and only now and then it jumps by about half the budget.
    cuts = []
    longer = list(history)
    for i in range(12):
        longer += [Turn("assistant", f"ok {i}"), Turn("user", f"next {i} " + "word " * 20)]
        again = await assemble(
            definition, "Sam", "", longer, [], LoreSettings(), CTX, budget_window, 100, words
        )
        assert await words(again.messages) <= budget_window - 100
        cuts.append(again.history_total - again.history_kept)
    changes = sum(1 for a, b in itertools.pairwise(cuts) if a != b)
    assert changes <= 3, cuts


async def test_overflow_is_a_clear_error() -> None:
    definition = CharacterDefinition(name="Mira", description="long " * 500)
    with pytest.raises(ContextOverflow, match="definition leaves no room"):
        await assemble(
            definition, "Sam", "", [Turn("user", "hi")], [], LoreSettings(), CTX, 400, 100, words
        )
    with pytest.raises(ContextOverflow, match="newest message alone"):
        await assemble(
            CharacterDefinition(name="M"),
            "Sam",
            "",
            [Turn("user", "w " * 900)],
            [],
            LoreSettings(),
            CTX,
            600,
            100,
            words,
        )
