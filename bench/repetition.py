"""Repetition benchmark: how often the bundled model loops, before and after the samplers.

Method: the bundled SmolLM2-135M (embedded backend, in process) writes N chat replies
and N autonomous posts for the demo characters, with the prompts chat and the agents
build (the character's system message, its first message and an opener for a chat; the
agents' post prompt about one of its interests for a post), at the default temperature
and top_p, each seeded by its index so both sampler sets see the same draws.

Sampler sets (--samplers): "old" sends only temperature and top_p (what personae sent
before issue 14); "new" adds the embedded backend's tuned defaults (min_p, top_k,
repeat_penalty, DRY). For each set it reports:
- loops: the share of texts with one sentence said 3 or more times;
- published loops (posts): posts go through the agents' cleaning and, with the new set,
  the loop guard (a sentence said twice or five words thrice makes the model redraft,
  at most twice and warmer, then holds the post), as the engine does; the share of the
  posts that would be published that still have a sentence said 3 or more times, and
  how many were held;
- the median reply length in tokens.
Goal: under 5 % of replies loop and no published post loops with the new set.

Run (from the repository root):
  .venv/bin/python bench/repetition.py                      # N=40, both sets
  .venv/bin/python bench/repetition.py -n 1 --reply-tokens 16 --post-tokens 16  # smoke
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from personae.agents import prompts
from personae.agents.actions import LOOP_NUDGE, REDRAFT_TEMPERATURES
from personae.characters.models import Character
from personae.characters.prompting import definition_of, macro_context, stable_system
from personae.config import BackendSettings, SamplerSettings, Settings
from personae.demo.cast import CHARACTERS
from personae.llm.base import ChatMessage, GenerationParams
from personae.llm.embedded import EmbeddedBackend
from personae.moderation.repetition import repeated_sentence
from personae.moderation.rules import loops

OPENERS = (
    "Hi! What are you up to today?",
    "Tell me about yourself.",
    "I had a rough day. Can you cheer me up?",
    "What's the strangest thing you've seen lately?",
    "Do you have any advice for me?",
    "Sorry, I think I misunderstood you earlier.",
    "What do you like most about where you live?",
    "Can you tell me a short story?",
)
LOOP_TIMES = 3  # "a sentence repeated 3+ times"


@dataclass
class Tally:
    """What one sampler set produced for one kind of text."""

    texts: list[str] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    published: list[str] = field(default_factory=list)
    held: int = 0
    redrafts: int = 0

    def loop_share(self, texts: list[str]) -> float:
        """The share of `texts` with one sentence said LOOP_TIMES or more times."""
        looping = [t for t in texts if repeated_sentence(t, LOOP_TIMES)]
        return len(looping) / len(texts) if texts else 0.0


def characters() -> list[Character]:
    """The demo characters as unsaved rows (prompts need nothing else)."""
    return [
        Character(
            id=f"bench-{c.handle}",
            handle=c.handle,
            name=c.name,
            description=c.description,
            personality=c.personality,
            scenario=c.scenario,
            first_mes=c.first_mes,
            tags=list(c.tags),
            nickname="",
            mes_example="",
            system_prompt="",
            post_history_instructions="",
            alternate_greetings=[],
            group_only_greetings=[],
            sampling={},
            extensions={},
            card_extra={},
        )
        for c in CHARACTERS
    ]


def chat_messages(character: Character, opener: str) -> list[ChatMessage]:
    """A chat's first turn as chat builds it: the stable system message, greeting, opener."""
    system = stable_system(
        definition_of(character),
        "Sam",
        "",
        [],
        macro_context(character, "Sam", character.id),
    )
    return [
        {"role": "system", "content": system},
        {"role": "assistant", "content": character.first_mes},
        {"role": "user", "content": opener},
    ]


def post_messages(character: Character, index: int) -> list[ChatMessage]:
    """An autonomous post's prompt, about one of its interests (its tags)."""
    interests = [str(t) for t in character.tags]
    topic = prompts.post_topic(interests, [], f"bench-{index}")
    return prompts.post_messages(character, topic, interests, "", [], [])


async def run_set(name: str, args: argparse.Namespace) -> dict[str, Tally]:
    """N replies and N posts with one sampler set."""
    settings = BackendSettings(
        kind="embedded",
        n_parallel=args.slots,
        n_ctx=4096 * args.slots,
        n_threads=args.threads,
        timeout_s=900,  # a shared, busy machine may leave a slot waiting long
        sampler_defaults=SamplerSettings() if name == "old" else None,
    )
    backend = EmbeddedBackend("embedded", settings)
    instance = Settings()
    cast = characters()
    chats, posts = Tally(), Tally()
    slots = asyncio.Semaphore(args.slots)

    async def reply(i: int) -> None:
        character = cast[i % len(cast)]
        messages = chat_messages(character, OPENERS[i % len(OPENERS)])
        params = GenerationParams(max_tokens=args.reply_tokens, seed=i)
        async with slots:
            done = await backend.complete(messages, params)
        chats.texts.append(done.text)
        chats.tokens.append(done.usage.completion_tokens)

    async def post(i: int) -> None:
        character = cast[i % len(cast)]
        messages = post_messages(character, i)
        params = GenerationParams(max_tokens=args.post_tokens, seed=i)

        async def draft(msgs: list[ChatMessage], p: GenerationParams) -> str:
            async with slots:
                done = await backend.complete(msgs, p)
            posts.tokens.append(done.usage.completion_tokens)
            return prompts.clean_output(
                done.text,
                character.name,
                character.handle,
                instance.moderation_max_chars,
                cut_off=done.finish_reason == "length",
            )

        text = await draft(messages, params)
        posts.texts.append(text)
        if name == "new":
            # The engine's loop guard (agents/actions.py `_redrafted`, then moderation).
            for attempt, temperature in enumerate(REDRAFT_TEMPERATURES):
                if loops(text).allowed:
                    break
                posts.redrafts += 1
                again: list[ChatMessage] = [
                    *messages,
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": LOOP_NUDGE},
                ]
                warmer = dataclasses.replace(
                    params, temperature=max(params.temperature, temperature), seed=i * 10 + attempt
                )
                text = await draft(again, warmer)
            if not loops(text).allowed:
                posts.held += 1
                return
        if text:
            posts.published.append(text)

    await asyncio.gather(*(reply(i) for i in range(args.n)), *(post(i) for i in range(args.n)))
    await backend.aclose()
    return {"replies": chats, "posts": posts}


def report(name: str, tallies: dict[str, Tally], seconds: float) -> dict[str, Any]:
    """One sampler set's numbers, printed and returned."""
    chats, posts = tallies["replies"], tallies["posts"]
    row = {
        "set": name,
        "replies_looping": chats.loop_share(chats.texts),
        "reply_tokens_median": statistics.median(chats.tokens) if chats.tokens else 0,
        "posts_looping": posts.loop_share(posts.texts),
        "published_looping": posts.loop_share(posts.published),
        "published": len(posts.published),
        "held": posts.held,
        "redrafts": posts.redrafts,
        "seconds": seconds,
    }
    print(
        f"{name:>4}: replies with a sentence 3+ times {row['replies_looping']:.1%} "
        f"(median {row['reply_tokens_median']:g} tokens); posts drafted looping "
        f"{row['posts_looping']:.1%}; published looping {row['published_looping']:.1%} "
        f"of {row['published']} (held {row['held']}, redrafts {row['redrafts']}); "
        f"{seconds:.0f} s"
    )
    return row


async def main() -> None:
    """Parse the arguments and run each sampler set."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", type=int, default=40, help="replies and posts per sampler set")
    parser.add_argument("--samplers", choices=["old", "new", "both"], default="both")
    defaults = Settings()
    parser.add_argument("--reply-tokens", type=int, default=defaults.reply_max_tokens)
    parser.add_argument("--post-tokens", type=int, default=defaults.agents_post_max_tokens)
    parser.add_argument("--slots", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, {platform.machine()}, N={args.n}, "
        f"slots={args.slots}, threads={args.threads}"
    )
    sets = ["old", "new"] if args.samplers == "both" else [args.samplers]
    for name in sets:
        started = time.perf_counter()
        tallies = await run_set(name, args)
        report(name, tallies, time.perf_counter() - started)
        if not tallies["replies"].texts or not tallies["posts"].texts:
            sys.exit(f"the {name} set produced no text")


if __name__ == "__main__":
    asyncio.run(main())
