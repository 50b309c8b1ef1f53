"""Reflection: a character turns its recent memories into a few higher-level insights.

As in Generative Agents, reflections are memories too (kind "reflection", source
"self", audience public), so later retrieval can surface them; they are drawn from public
memories only, so nobody's private words reach them; they rank a little above what they came
from (the heuristic's importance + 2), since a conclusion says more than one event.
The engine reflects once `memories_since_reflection` reaches `agents_reflect_every`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from personae.llm.base import Backend, BackendError, ChatMessage, GenerationParams, Usage
from personae.memory.importance import MAX_IMPORTANCE, heuristic_importance
from personae.memory.models import Memory
from personae.memory.stream import PUBLIC, after, latest_reflection, remember

REFLECT_ON = 20  # the newest memories since the last reflection that the model sees
MAX_INSIGHTS = 3
MAX_INSIGHT_CHARS = 160
REFLECTION_BONUS = 2

# maxLength stays tight: a small model rambles to whatever length it is allowed.
INSIGHTS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "insights": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_INSIGHTS,
            "items": {"type": "string", "minLength": 3, "maxLength": MAX_INSIGHT_CHARS},
        }
    },
    "required": ["insights"],
}
REFLECT_PROMPT = (
    "These are things you remember from recently, oldest first:\n{memories}\n\n"
    "What 1 to 3 high-level insights can you draw from them, about yourself, the people "
    "you met or the world? Write each as one short sentence in your own voice, in the "
    'first person. Answer with JSON: {{"insights": ["...", "..."]}}'
)


def _parse_insights(reply: str) -> list[str]:
    # Schema-enforcing backends give clean JSON; others may wrap it in prose, so look for
    # the outermost object. Anything unusable gives no insights rather than an error.
    match = re.search(r"\{.*\}", reply, re.DOTALL)
    if match is None:
        return []
    try:
        data = json.loads(match.group())
    except ValueError:
        return []
    raw = data.get("insights") if isinstance(data, dict) else None
    if not isinstance(raw, list):
        return []
    insights: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            continue
        text = " ".join(item.split())[:MAX_INSIGHT_CHARS].strip()
        if len(text) >= 3 and text not in insights:
            insights.append(text)
    return insights[:MAX_INSIGHTS]


async def reflect(
    session: AsyncSession, character_id: str, backend: Backend, *, persona: str
) -> tuple[list[Memory], Usage]:
    """Ask the model for insights on recent memories and store them (flushed, not committed)."""
    last = await latest_reflection(session, character_id)
    recent = list(
        await session.scalars(
            select(Memory)
            # Public memories only, never what one person said in private: a reflection
            # is public (any post may recall it), so it never mixes audiences.
            .where(
                Memory.character_id == character_id,
                Memory.audience == PUBLIC,
                *after(last),
            )
            .order_by(Memory.at.desc(), Memory.id.desc())
            .limit(REFLECT_ON)
        )
    )
    if not recent:
        return [], Usage()
    listing = "\n".join(f"- {m.text}" for m in reversed(recent))
    messages: list[ChatMessage] = [
        {"role": "system", "content": persona.strip() or "You are a character."},
        {"role": "user", "content": REFLECT_PROMPT.format(memories=listing)},
    ]
    params = GenerationParams(max_tokens=200, temperature=0.5, json_schema=INSIGHTS_SCHEMA)
    try:
        done = await backend.complete(messages, params)
    except BackendError:
        return [], Usage()
    insights = _parse_insights(done.text)
    stored: list[Memory] = []
    for insight in insights:
        importance = min(MAX_IMPORTANCE, heuristic_importance(insight) + REFLECTION_BONUS)
        memory, _ = await remember(
            session, character_id, "reflection", insight, source="self", importance=importance
        )
        stored.append(memory)
    return stored, done.usage
