"""How much a memory matters (1-10): a cheap heuristic, or the model's own rating.

Generative Agents (Park et al., 2023) asks the model for a memory's poignancy; the
heuristic reads the same cues from the words, so the chat path (which must stay fast)
and tests can score without a model call.
"""

from __future__ import annotations

import json
import re
from typing import Any

from personae.llm.base import Backend, BackendError, ChatMessage, GenerationParams, Usage

MIN_IMPORTANCE, MAX_IMPORTANCE = 1, 10
MAX_TEXT = 1000

IMPORTANCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"importance": {"type": "integer", "minimum": 1, "maximum": 10}},
    "required": ["importance"],
}
# Generative Agents' poignancy prompt, asking for JSON.
IMPORTANCE_PROMPT = (
    "On a scale of 1 to 10, where 1 is purely mundane (e.g. brushing teeth, small talk "
    "about the weather) and 10 is extremely poignant (e.g. a break-up, a death, getting "
    "into college), rate the likely poignancy of the following memory.\n"
    "Memory: {text}\n"
    'Answer with JSON: {{"importance": <1-10>}}'
)

# Letters and digits: the words of a text, for scoring here and for search in `stream`.
WORD = re.compile(r"[^\W_]+", re.UNICODE)


def word_set(text: str) -> frozenset[str]:
    """The space-separated words of a literal list, as a set."""
    return frozenset(text.split())


_DISCLOSURE = re.compile(
    r"\b(i am|i'm|im|i was|i have|i've|i had|i feel|i felt|i love|i loved|i hate|i lost|"
    r"i got|i need|i want|i wish|i miss|i think|i believe|my|mine|myself)\b",
    re.IGNORECASE,
)
_STRONG = word_set(
    "love loved hate hated afraid scared terrified die died dead death funeral married "
    "wedding divorce divorced pregnant born baby cancer sick ill hospital hurt pain fired "
    "promoted job lost broke broken cry cried crying angry furious sad lonely depressed "
    "proud excited amazing terrible awful secret sorry grief miss missed worried anxious "
    "dream dreams fear ashamed betrayed"
)
_PLANS = word_set(
    "tomorrow tonight weekend week month year plan plans planning going will meet meeting "
    "party trip travel moving move exam interview deadline appointment birthday anniversary "
    "soon later next monday tuesday wednesday thursday friday saturday sunday"
)
_SMALL_TALK = word_set(
    "hi hello hey hiya yo thanks thank you thx ok okay k lol haha hehe bye goodbye cya "
    "good morning evening night afternoon how are doing fine great cool nice sure yes no "
    "yeah yep nope sup what's whats up well"
)
_CAPITALISED = re.compile(r"\b[A-Z][a-z]+\b")


def _has_name(text: str) -> bool:
    """A capitalised word that does not start a sentence: most likely a name."""
    for found in _CAPITALISED.finditer(text):
        before = text[: found.start()].rstrip()
        if before and before[-1] not in ".!?:\"'(":
            return True
    return False


def heuristic_importance(text: str) -> int:
    """Importance 1..10 from cues: disclosures, strong words, plans, names, questions, length.

    Starts at 2 (a plain observation). Adds 2 for a personal disclosure ("I am", "my",
    "I love"), 2 for a strong word (love, died, married, afraid...) and 1 more for
    several, 1 for plans or dates (tomorrow, party, Friday), 1 for a name (a capitalised
    word inside a sentence), 1 for a question, 1 for over 80 and 1 for over 200
    characters. Pure small talk ("hi, how are you?") is 1. Cheap and deterministic, so
    the chat path and tests can use it; the model's score is better when there is time.
    """
    words = [w.lower() for w in WORD.findall(text)]
    if not words:
        return MIN_IMPORTANCE
    if all(w in _SMALL_TALK for w in words):
        return MIN_IMPORTANCE
    score = 2
    if _DISCLOSURE.search(text):
        score += 2
    strong = {w for w in words if w in _STRONG}
    if strong:
        score += 2 + (len(strong) > 1)
    if any(w in _PLANS for w in words):
        score += 1
    if _has_name(text):
        score += 1
    if "?" in text:
        score += 1
    score += (len(text) > 80) + (len(text) > 200)
    return max(MIN_IMPORTANCE, min(MAX_IMPORTANCE, score))


def _parse_importance(reply: str) -> int | None:
    # Backends that enforce the schema give clean JSON; others (the fake one, a server
    # without grammar support) may wrap it in prose, so fall back to the first integer.
    value: Any = None
    try:
        data = json.loads(reply)
        if isinstance(data, dict):
            value = data.get("importance")
    except ValueError:
        pass
    if not isinstance(value, int) or isinstance(value, bool):
        found = re.search(r"-?\d+", reply)
        value = int(found.group()) if found else None
    if value is None or not MIN_IMPORTANCE <= value <= MAX_IMPORTANCE:
        return None
    return int(value)


async def model_importance(
    backend: Backend, text: str, persona: ChatMessage | None = None
) -> tuple[int | None, Usage]:
    """The model's 1-10 poignancy score for a memory (None when it fails or answers badly).

    With `persona` (the character's system message) the character rates it itself, as in
    Generative Agents, and the call shares its prefix with the character's other calls,
    so the backend's prefix cache serves it.
    """
    messages: list[ChatMessage] = [
        *([persona] if persona is not None else []),
        {"role": "user", "content": IMPORTANCE_PROMPT.format(text=text[:MAX_TEXT])},
    ]
    params = GenerationParams(max_tokens=12, temperature=0.0, json_schema=IMPORTANCE_SCHEMA)
    try:
        done = await backend.complete(messages, params)
    except BackendError:
        return None, Usage()
    return _parse_importance(done.text), done.usage
