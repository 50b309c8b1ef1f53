"""Prompts for autonomous actions, and cleaning of what the model writes.

The system message depends only on the character, so every action of one character
shares a prefix the backend can keep cached; what changes (feed, memories, the post
being answered) comes last, in the user turn.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Sequence
from typing import Any

from personae.characters.models import Character
from personae.characters.prompting import definition_of, macro_context, stable_system
from personae.llm.base import ChatMessage

SOCIAL_HEAD = (
    "You are {{char}}, an AI character with a profile on a social network where people and "
    "AI characters post, reply and follow each other. Stay in character and write in "
    "{{char}}'s own voice: short, vivid, plain text, no stage directions."
)
# The name {{user}} takes in the shared system message: one for everyone keeps it stable.
AUDIENCE = "everyone"
QUOTE_CHARS = 280
MEMORY_CHARS = 200


def system_message(character: Character) -> ChatMessage:
    """The character's stable system message for the social network."""
    definition = dataclasses.replace(
        definition_of(character), system_prompt=SOCIAL_HEAD, scenario=""
    )
    ctx = macro_context(character, AUDIENCE, character.id)
    return {"role": "system", "content": stable_system(definition, AUDIENCE, "", [], ctx)}


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _lines(items: Sequence[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def post_messages(
    character: Character,
    topic: str,
    interests: Sequence[str],
    style: str,
    memories: Sequence[str],
    feed: Sequence[tuple[str, str]],
) -> list[ChatMessage]:
    """Messages asking for a new post about `topic`, from its interests, memories and feed.

    The context sits in a marked block with one clear instruction after it: small models
    otherwise copy the context into the post.
    """
    context = []
    if interests:
        context.append("Your interests: " + ", ".join(interests) + ".")
    if style.strip():
        context.append(f"Your posting style: {style.strip()}")
    if memories:
        context.append("You remember:\n" + _lines([_cut(m, MEMORY_CHARS) for m in memories]))
    if feed:
        recent = [f"@{handle}: {_cut(text, QUOTE_CHARS)}" for handle, text in feed]
        context.append("Recently in your feed:\n" + _lines(recent))
    parts = []
    if context:
        parts.append("<context>\n" + "\n\n".join(context) + "\n</context>")
    parts.append(
        f"Write one short post for your followers about {topic}, in your own voice. "
        "Reply with the post only, under 280 characters; do not repeat the context."
    )
    return [system_message(character), {"role": "user", "content": "\n\n".join(parts)}]


def post_topic(interests: Sequence[str], feed: Sequence[tuple[str, str]], seed: str) -> str:
    """What the next post is about: one of its interests, or something it read."""
    options = [*interests]
    if feed:
        options.append("something you just read in your feed")
    if not options:
        return "your day"
    return options[random.Random(seed).randrange(len(options))]


def reply_messages(
    character: Character,
    author: str,
    text: str,
    earlier: Sequence[tuple[str, str]],
    memories: Sequence[str],
    direct: bool,
) -> list[ChatMessage]:
    """Messages asking for a reply to @author's post (or direct message)."""
    parts = []
    if earlier:
        thread = [f"@{handle}: {_cut(body, QUOTE_CHARS)}" for handle, body in earlier]
        parts.append("Earlier in the thread:\n" + _lines(thread))
    where = "sent you a direct message" if direct else "wrote to you"
    parts.append(f"@{author} {where}:\n{_cut(text, 1000)}")
    if memories:
        remembered = _lines([_cut(m, MEMORY_CHARS) for m in memories])
        parts.append(f"What you remember about @{author}:\n{remembered}")
    parts.append(f"Write only your reply to @{author}: one or two sentences, in your own voice.")
    return [system_message(character), {"role": "user", "content": "\n\n".join(parts)}]


def choice_messages(
    character: Character, feed: Sequence[tuple[str, str]], actions: Sequence[str]
) -> list[ChatMessage]:
    """Messages asking which of the allowed actions to take on the posts it read."""
    listed = "\n".join(
        f"{n}. @{handle}: {_cut(text, QUOTE_CHARS)}" for n, (handle, text) in enumerate(feed, 1)
    )
    options = ", ".join(actions)
    ask = (
        f"You are reading your feed:\n{listed}\n\nChoose one action ({options}) and the number "
        'of the post it is about. Answer in JSON, e.g. {"action": "like", "post": 1}.'
    )
    return [system_message(character), {"role": "user", "content": ask}]


def choice_schema(actions: Sequence[str], posts: int) -> dict[str, Any]:
    """The JSON schema of a choice among `actions` about post 1..posts."""
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(actions)},
            "post": {"type": "integer", "minimum": 1, "maximum": max(posts, 1)},
        },
        "required": ["action", "post"],
    }


_SPEAKER = re.compile(r"^\s*(?:@?[\w .'-]{1,40}:)\s*")
_SENTENCE_END = re.compile(r"[.!?…](?=\s|$)")
# Where a small model starts copying its prompt back: everything from there is dropped.
_ECHO = re.compile(
    r"(?:</?context>|\bYour interests:|\bYou remember:|\bWhat you remember|"
    r"\bRecently in your feed:|\bYour posting style:|\bEarlier in the thread:|"
    r"\bWrite (?:one|only|your)\b)",
    re.IGNORECASE,
)
_RUN = re.compile(r"(\S)\1{3,}")  # the same character or emoji many times over


def clean_output(text: str, name: str, handle: str, limit: int, cut_off: bool = False) -> str:
    """The post a model wrote, without wrapping quotes, a speaker prefix, echoes of the
    prompt, runaway repetition or a cut-off tail."""
    text = text.strip()
    prefix = _SPEAKER.match(text)
    if prefix and prefix.group(0).strip(" @:").lower() in {name.lower(), handle.lower()}:
        text = text[prefix.end() :]
    echo = _ECHO.search(text)
    if echo:
        text = text[: echo.start()]
    text = _RUN.sub(lambda m: m.group(1) * 3, text)
    text = text.strip().strip('"“”').strip()
    text = " ".join(text.split())
    if len(text) > limit or cut_off:
        # Too long, or the model ran out of tokens mid-sentence: end at a sentence end.
        text = text[:limit]
        ends = [m.end() for m in _SENTENCE_END.finditer(text)]
        if ends:
            text = text[: ends[-1]]
        elif len(text) >= limit:
            text = text.rsplit(" ", 1)[0]
    return text.strip()
