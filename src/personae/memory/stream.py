"""The characters' memory stream: write memories, recall them.

Retrieval follows Generative Agents (Park et al., 2023): each candidate scores recency
(exponential decay since it was last recalled) + importance (1-10, scaled to [0, 1]) +
relevance to the query (full-text rank, scaled to [0, 1]), with equal weights. Keyword
search stands in for embeddings: SQLite FTS5 and PostgreSQL full-text need no extension.

Times come from the engine's clock (`personae.clock`), so a simulation that runs
ahead ages memories as it goes. Writers flush and never commit: a memory is part of the
caller's change (a reply saved, an action carried out) and lands or fails with it.

Importance lives in `importance.py`; reflections (asking the model for insights) in
`reflection.py`; what people may see and delete of what characters remember about them,
in `people.py`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    update,
)
from sqlalchemy import text as sql_text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from personae import clock
from personae.db import new_id, search_key
from personae.errors import Invalid
from personae.llm.base import Backend, Usage
from personae.memory.importance import (
    MAX_IMPORTANCE,
    MAX_TEXT,
    MIN_IMPORTANCE,
    WORD,
    heuristic_importance,
    model_importance,
    word_set,
)
from personae.memory.models import Memory

KINDS = ("observation", "said", "did", "told", "reflection")
SOURCES = ("feed", "chat", "private", "self")
# Sources private with the person they are about: private chats, and direct or
# followers-only posts. Their memories get that person as their audience.
PERSONAL = ("chat", "private")
# The audience of a memory anything may recall; any other audience is one actor's id.
PUBLIC = "public"

# Retrieval: candidates from three cheap, indexed queries, then scored in Python.
RECENT_CANDIDATES = 50
MATCH_CANDIDATES = 50
ABOUT_CANDIDATES = 20
MAX_RECALL = 50
DECAY_PER_HOUR = 0.995  # Generative Agents' decay factor, per hour since last recalled
ABOUT_BOOST = 0.5  # relevance added to memories about the actor the caller asked about
MAX_QUERY_WORDS = 8

# --------------------------------------------------------------------------- writing


async def remember(
    session: AsyncSession,
    character_id: str,
    kind: str,
    text: str,
    *,
    about_actor_id: str | None = None,
    source: str = "feed",
    source_id: str | None = None,
    importance: int | None = None,
    backend: Backend | None = None,
    scored_by: str = "heuristic",
    audience: str | None = None,
) -> tuple[Memory, Usage]:
    """Store one memory (flushed, not committed); returns it and the tokens scoring cost.

    Importance: `importance` when given (recorded as `scored_by`), else the model's score
    when a backend is given, else (or when the model fails) the heuristic. `audience`
    defaults to the person a private source (chat, direct or followers-only post) is
    about, else public.
    """
    if kind not in KINDS:
        raise Invalid(f"kind must be one of {', '.join(KINDS)}", "bad_memory_kind")
    if source not in SOURCES:
        raise Invalid(f"source must be one of {', '.join(SOURCES)}", "bad_memory_source")
    if audience is None:
        if source in PERSONAL and about_actor_id is None:
            raise Invalid("a private memory needs the actor it is about", "bad_memory_audience")
        audience = about_actor_id if source in PERSONAL and about_actor_id else PUBLIC
    if audience != PUBLIC and (len(audience) != 32 or source not in (*PERSONAL, "self")):
        # Private memories come from private sources (or are reflections on them); an
        # audience is an actor's id, never free text.
        raise Invalid("audience must be 'public' or one actor's id", "bad_memory_audience")
    if source_id is not None and len(source_id) > 32:
        raise Invalid("source_id must be an id of at most 32 characters", "bad_source_id")
    # PostgreSQL cannot store NUL; nothing meaningful is lost by dropping it.
    text = text.replace("\x00", "").strip()[:MAX_TEXT].strip()
    if not text:
        raise Invalid("a memory needs some text", "empty_memory")
    usage = Usage()
    score: int | None = None
    if importance is not None:
        score = max(MIN_IMPORTANCE, min(MAX_IMPORTANCE, int(importance)))
    elif backend is not None:
        score, usage = await model_importance(backend, text)
        scored_by = "model"
    if score is None:
        score, scored_by = heuristic_importance(text), "heuristic"
    moment = clock.now()
    memory_id = new_id()
    memory = Memory(
        id=memory_id,
        character_id=character_id,
        kind=kind,
        text=text,
        about_actor_id=about_actor_id,
        source=source,
        source_id=source_id,
        audience=audience,
        importance=score,
        scored_by=scored_by,
        at=moment,
        last_accessed_at=moment,
        search_key=search_key(memory_id),
    )
    session.add(memory)
    await session.flush()
    return memory, usage


# --------------------------------------------------------------------------- retrieval

_STOPWORDS = word_set(
    "the and for are but not you your yours with this that these those was were have has "
    "had from they them their there what when where which who whom why how all any can "
    "could would should will just about into than then too very also its it's our ours "
    "she her hers him his out over some such only own same been being does did doing "
    "more most other off once here both each few nor again further while"
)


def queryword_set(query: str) -> list[str]:
    """Searchable words of a free text: letters and digits, 3+ characters, no stopwords."""
    words: list[str] = []
    for word in WORD.findall(query.lower()):
        if len(word) >= 3 and word not in _STOPWORDS and word not in words:
            words.append(word[:40])
        if len(words) == MAX_QUERY_WORDS:
            break
    return words


_MEMORY_FTS = table("memory_fts", column("rowid"))


async def _matches(
    session: AsyncSession, scope: Sequence[ColumnElement[bool]], words: list[str]
) -> list[tuple[Memory, float]]:
    """Full-text hits in scope, best first, with relevance scaled so the best is 1."""
    if session.get_bind().dialect.name == "sqlite":
        # Any word counts (OR), each quoted so FTS5 operators in the text mean nothing.
        query = " OR ".join(f'"{w}"*' for w in words)
        rank: ColumnElement[Any] = func.bm25(literal_column("memory_fts"))
        statement = (
            select(Memory, rank)
            .join(_MEMORY_FTS, _MEMORY_FTS.c.rowid == Memory.search_key)
            .where(sql_text("memory_fts MATCH :q").bindparams(q=query), *scope)
            .order_by(rank)  # bm25: more negative is better
        )
    else:
        # Words are letters and digits only, so they cannot inject tsquery syntax; the
        # expression matches the GIN index of migration 0003.
        vector = func.to_tsvector(literal_column("'simple'"), Memory.text)
        tsquery = func.to_tsquery(literal_column("'simple'"), " | ".join(f"{w}:*" for w in words))
        rank = func.ts_rank(vector, tsquery)
        statement = (
            select(Memory, rank).where(vector.bool_op("@@")(tsquery), *scope).order_by(rank.desc())
        )
    rows = [(m, float(r)) for m, r in await session.execute(statement.limit(MATCH_CANDIDATES))]
    if not rows:
        return []
    best = rows[0][1]
    if best == 0:
        return [(m, 1.0) for m, _ in rows]
    return [(m, max(0.0, min(1.0, r / best))) for m, r in rows]


async def touch_memories(session: AsyncSession, ids: list[str], moment: datetime) -> None:
    """Mark memories as recalled at `moment` (flushed with the caller's change)."""
    if ids:
        await session.execute(
            update(Memory)
            .where(Memory.id.in_(ids))
            .values(last_accessed_at=moment)
            .execution_options(synchronize_session=False)
        )


async def recall(
    session: AsyncSession,
    character_id: str,
    query: str,
    *,
    audience: str = PUBLIC,
    about_actor_id: str | None = None,
    limit: int = 5,
    only_about: bool = False,
    exclude_source_id: str | None = None,
    touch: bool = True,
) -> list[Memory]:
    """The `limit` memories best for `query` (recency + importance + relevance), marked recalled.

    `audience` is who will read what the memories go into: "public" (the default, for
    anything others may see: a post, a public reply) recalls public memories only; one
    actor's id (a private chat with them, a direct answer to them) adds the memories
    private with that actor. So what one person said in private is never recalled for a
    post, a public reply to them, or anyone else. `about_actor_id` ranks memories about
    that actor higher (and `only_about` keeps to them); `exclude_source_id` leaves out one
    source (the conversation being held, whose history the prompt already has). With
    `touch=False` the caller marks them recalled itself (`touch_memories`), in its own
    write: the agents' engine must not open a write transaction while the model works.
    """
    limit = max(1, min(int(limit), MAX_RECALL))
    scope: list[ColumnElement[bool]] = [
        Memory.character_id == character_id,
        Memory.audience.in_(sorted({PUBLIC, audience})),
    ]
    if only_about:
        if about_actor_id is None:
            raise ValueError("only_about needs about_actor_id")
        scope.append(Memory.about_actor_id == about_actor_id)
    if exclude_source_id is not None:
        scope.append(or_(Memory.source_id.is_(None), Memory.source_id != exclude_source_id))
    newest = (Memory.at.desc(), Memory.id.desc())
    candidates: dict[str, Memory] = {
        m.id: m
        for m in await session.scalars(
            select(Memory).where(*scope).order_by(*newest).limit(RECENT_CANDIDATES)
        )
    }
    if not candidates:
        return []  # nothing in scope at all: skip the other queries
    relevance: dict[str, float] = {}
    words = queryword_set(query)
    if words:
        for memory, relevant in await _matches(session, scope, words):
            candidates.setdefault(memory.id, memory)
            relevance[memory.id] = relevant
    if about_actor_id is not None and not only_about:
        about = select(Memory).where(*scope, Memory.about_actor_id == about_actor_id)
        for memory in await session.scalars(about.order_by(*newest).limit(ABOUT_CANDIDATES)):
            candidates.setdefault(memory.id, memory)
    moment = clock.now()

    def score(memory: Memory) -> float:
        hours = max(0.0, (moment - memory.last_accessed_at).total_seconds() / 3600)
        recency = float(DECAY_PER_HOUR**hours)
        importance = memory.importance / MAX_IMPORTANCE
        relevant = relevance.get(memory.id, 0.0)
        if about_actor_id is not None and memory.about_actor_id == about_actor_id:
            relevant = min(1.0, relevant + ABOUT_BOOST)
        return recency + importance + relevant

    ranked = sorted(candidates.values(), key=lambda m: (score(m), m.at, m.id), reverse=True)
    chosen = ranked[:limit]
    # One UPDATE for all of them; the loaded objects get the value without a second write.
    if not touch:
        return chosen
    await touch_memories(session, [m.id for m in chosen], moment)
    for memory in chosen:
        set_committed_value(memory, "last_accessed_at", moment)
    return chosen


async def latest_reflection(session: AsyncSession, character_id: str) -> Memory | None:
    """The character's newest reflection, if it has one."""
    statement = (
        select(Memory)
        .where(Memory.character_id == character_id, Memory.kind == "reflection")
        .order_by(Memory.at.desc(), Memory.id.desc())
        .limit(1)
    )
    return (await session.scalars(statement)).first()


def after(memory: Memory | None) -> list[ColumnElement[bool]]:
    """Conditions for memories written after `memory` (all when None), reflections excluded.

    By time, then id: in a simulation many memories share one moment, and the id (which
    follows the order of writing) decides which came after the reflection.
    """
    conditions: list[ColumnElement[bool]] = [Memory.kind != "reflection"]
    if memory is not None:
        conditions.append(
            or_(Memory.at > memory.at, (Memory.at == memory.at) & (Memory.id > memory.id))
        )
    return conditions


async def memories_since_reflection(session: AsyncSession, character_id: str) -> int:
    """How many memories the character gained since its latest reflection."""
    last = await latest_reflection(session, character_id)
    count = await session.scalar(
        select(func.count())
        .select_from(Memory)
        .where(Memory.character_id == character_id, *after(last))
    )
    return int(count or 0)
