"""Scene benchmark: turn selection and prompt assembly, then a scene on the bundled model.

Method:
(a) Platform alone, per reply: a scene of C characters (talkativeness 0.5, one muted, one
    away for a while) and one person with H messages of history; each measured reply is
    one natural-order turn selection (`speakers_after_person`) plus the presence-aware
    prompt for the first chosen speaker (`assemble_scene_prompt`, fitted to a 4096-token
    window, so the history is cut at its chunk boundary as in a long scene). Counted twice:
    with the fake backend's word counts (pure Python) and with the bundled model's own
    tokenizer (llama.cpp `/tokenize`, counts cached per text as in production, so this
    includes the per-message cache lookups but not first-time tokenization). Median and
    p95 over R replies after a warm-up. Goal: <= 5 ms per reply.
(b) A scene on the bundled SmolLM2-135M (embedded backend, 4 slots x 4096 tokens, as the
    default settings): 4 characters and 1 person, T person turns in natural order (about
    two characters answer each turn at talkativeness 0.5; mentions pick the speaker).
    Each reply is streamed with the stop sequences and cleaned as the conductor does.
    - prefix-cache hit ratio: cached / prompt tokens as llama.cpp reports them, summed
      from the second reply on (as bench/chat.py does from turn 2);
    - platform overhead on time to first token, as bench/chat.py measures it: the time
      from the start of the reply (turn selection for the first speaker of a turn, else
      the moment the previous reply ended) to its first token as a client would see it
      (after the no-bleed filter, which holds back the speaker's own `Name:` label until it
      is stripped), minus the backend's own time to first token for that very request; p50
      and p95. The direct path also splits out assembly and the label hold.
    Two paths (`--via`): `api` serves personae on loopback (SQLite) and plays the scene
    through the HTTP API, timing the scene's SSE `token` events as a client sees them (the
    chat bench's method: authentication, database, conductor, prompt, SSE); `direct` runs
    turns.py, prompt.py and bleed.py against the backend in process (no HTTP, no
    database). `auto` (the default) takes `api` when the scene service is installed.

Run: .venv/bin/python bench/scene.py [--characters 10 --history 500 --replies 300]
     [--turns 20 --reply-tokens 80] [--via auto|api|direct] [--skip-model] [--skip-platform]
The test suite's smoke run uses `--history 40 --replies 20 --turns 3 --reply-tokens 16`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from personae.characters.prompting import CharacterDefinition
from personae.config import BackendSettings
from personae.llm.base import Backend, ChatMessage, DoneEvent, GenerationParams, TokenEvent
from personae.llm.fake import FakeBackend
from personae.scenes.bleed import ReplyFilter
from personae.scenes.prompt import (
    CastMember,
    Notice,
    Presence,
    SceneLine,
    SceneSpeaker,
    assemble_scene_prompt,
)
from personae.scenes.turns import Member, SpokenTurn, speakers_after_person

Count = Callable[[Sequence[ChatMessage]], Awaitable[int]]
T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ["Mira", "Tobin", "Essa", "Garrick", "Lune", "Pell", "Quill", "Rook", "Sable", "Wren"]
ROLES = [
    "the innkeeper, warm and quick to laugh",
    "a travelling tinker who fixes anything and talks about everything",
    "a quiet scholar of old maps",
    "a retired soldier with a bad knee and good stories",
    "a bard who rhymes when nervous",
    "a cook who judges people by their appetite",
    "a thief pretending to be a merchant",
    "a ranger who distrusts towns",
    "a noble's runaway daughter",
    "a child who asks too many questions",
]
PROMPTS = [
    "Good evening, everyone. Is there a free table?",
    "Mira, what is good to eat tonight?",
    "What brings all of you here in this weather?",
    "Tobin, could you look at my broken lantern?",
    "Has anyone seen the road to the northern pass?",
    "Essa, what do your maps say about the old tower?",
    "I heard wolves on the way here. Is that usual?",
    "Garrick, tell us about your last campaign.",
    "Who wants to share a pot of tea?",
    "Does anyone know a song about the river?",
    "Mira and Tobin, how long have you known each other?",
    "What is the strangest thing you have seen on the road?",
    "Is it true the bridge washed away last spring?",
    "Essa, can you teach me to read a map?",
    "I think someone is following me. Any advice?",
    "What would you do with a bag of gold?",
    "Garrick, is your knee bothering you in the rain?",
    "Tell me one secret about this inn.",
    "The storm is getting worse. Should we bar the door?",
    "Thank you all. I will rest now; good night.",
]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def definition(index: int) -> CharacterDefinition:
    """A modest card (about 150 tokens), as community cards for groups tend to be."""
    name = NAMES[index % len(NAMES)]
    role = ROLES[index % len(ROLES)]
    return CharacterDefinition(
        name=name,
        description=(
            f"{name} is {role}. {name} lives in the valley town of Harrowmere and has spent "
            f"years at the Lantern Inn, where travellers stop on their way over the mountains."
        ),
        personality="curious, stubborn, kind in the end",
        mes_example=f"<START>\n{{{{user}}}}: Hello there.\n{name}: Well met, traveller.",
    )


def cast_for(count: int) -> list[CastMember]:
    """The public cast list: the person, then the characters."""
    people = [CastMember("p-0", "Sam", True, "A traveller caught in the storm.")]
    return people + [
        CastMember(f"c-{i}", NAMES[i % len(NAMES)], False, ROLES[i % len(ROLES)].capitalize())
        for i in range(count)
    ]


# --------------------------------------------------------------------------- (a)


def synthetic_history(characters: int, messages: int, rng: random.Random) -> list[SceneLine]:
    """A long scene: a person's line every third message, characters answering."""
    lines: list[SceneLine] = []
    for i in range(messages):
        at = T0 + timedelta(seconds=30 * i)
        if i % 3 == 0:
            text = PROMPTS[i % len(PROMPTS)]
            lines.append(SceneLine("p-0", "Sam", True, text, at))
        else:
            c = rng.randrange(characters)
            words = " ".join(rng.choice(ROLES).split()[: rng.randint(4, 12)])
            text = f"{words.capitalize()}, as I always say. " * rng.randint(1, 3)
            lines.append(SceneLine(f"c-{c}", NAMES[c % len(NAMES)], False, text.strip(), at))
    return lines


async def measure_platform(
    characters: int, history_size: int, replies: int, count: Count
) -> list[float]:
    """Milliseconds per reply: turn selection plus the first speaker's prompt."""
    rng = random.Random(7)
    cast = cast_for(characters)
    history = synthetic_history(characters, history_size, rng)
    # One muted member, and one that was away for the middle third of the scene.
    away_from = history[len(history) // 3].at
    back_at = history[2 * len(history) // 3].at
    members = [
        Member(f"c-{i}", NAMES[i % len(NAMES)], NAMES[i % len(NAMES)].lower(), 0.5, i == 9, True)
        for i in range(characters)
    ]
    notices = [Notice(NAMES[1], False, away_from), Notice(NAMES[1], True, back_at)]
    spoken = [SpokenTurn(h.participant_id, h.is_person, h.text) for h in history]
    presence = {f"c-{i}": [Presence(T0)] for i in range(characters)}
    presence["c-1"] = [Presence(T0, away_from), Presence(back_at)]
    timings: list[float] = []
    warmup = max(3, replies // 10)
    for turn in range(replies + warmup):
        started = time.perf_counter()
        choices = speakers_after_person(
            "natural", members, spoken, allow_self=False, seed="bench", turn_index=turn
        )
        chosen = choices[0].participant_id or "c-0"
        index = int(chosen.split("-")[1])
        speaker = SceneSpeaker(chosen, definition(index), presence[chosen])
        await assemble_scene_prompt(
            "The Lantern Inn",
            "A storm keeps everyone inside the inn for the night.",
            speaker,
            cast,
            history,
            notices,
            context_window=4096,
            reply_tokens=200,
            count=count,
            seed="bench",
        )
        if turn >= warmup:
            timings.append((time.perf_counter() - started) * 1000)
    return timings


# --------------------------------------------------------------------------- (b)


async def stream_reply(
    backend: Backend,
    messages: list[ChatMessage],
    stop: list[str],
    speaker: str,
    others: Sequence[str],
    reply_tokens: int,
    seed: int,
) -> tuple[float, float, DoneEvent, str]:
    """Stream one reply through the no-bleed filter, as the conductor does: (when the first
    token came, when the first text a person would see came, the final event, the text)."""
    params = GenerationParams(max_tokens=reply_tokens, temperature=0.7, stop=stop, seed=seed)
    guard = ReplyFilter(speaker, others)
    first: float | None = None
    shown: float | None = None
    done: DoneEvent | None = None
    async for event in backend.stream(messages, params):
        if isinstance(event, TokenEvent):
            now = time.perf_counter()
            first = first or now
            if guard.feed(event.text) and shown is None:
                shown = now
        else:
            done = event
    end = time.perf_counter()
    if guard.end() and shown is None:
        shown = end
    assert done is not None
    return first or end, shown or end, done, guard.text


async def run_scene_direct(
    turns: int, reply_tokens: int, console: Console, prefill: bool = False
) -> dict[str, Any]:
    """The scene on the bundled model with scenes' own modules (no HTTP, no database)."""
    from personae.llm.embedded import EmbeddedBackend

    backend = EmbeddedBackend(
        "embedded", BackendSettings(kind="embedded", n_parallel=4, n_ctx=16384, timeout_s=900)
    )
    await backend.load()
    cast = cast_for(4)
    members = [Member(f"c-{i}", NAMES[i], NAMES[i].lower(), 0.5, False, True) for i in range(4)]
    definitions = {f"c-{i}": definition(i) for i in range(4)}
    history: list[SceneLine] = []
    rows: list[dict[str, Any]] = []
    clock = T0
    try:
        for turn in range(turns):
            clock += timedelta(seconds=20)
            history.append(SceneLine("p-0", "Sam", True, PROMPTS[turn % len(PROMPTS)], clock))
            started = time.perf_counter()
            spoken = [SpokenTurn(h.participant_id, h.is_person, h.text) for h in history]
            choices = speakers_after_person(
                "natural", members, spoken, allow_self=False, seed="scene", turn_index=turn
            )
            for choice in choices:
                pid = choice.participant_id
                assert pid is not None
                name = definitions[pid].name
                others = [c.name for c in cast if c.participant_id != pid]
                prompt = await assemble_scene_prompt(
                    "The Lantern Inn",
                    "A storm keeps everyone inside the inn for the night.",
                    SceneSpeaker(pid, definitions[pid], [Presence(T0)]),
                    cast,
                    history,
                    context_window=backend.capabilities.context_window,
                    reply_tokens=reply_tokens,
                    count=backend.count_message_tokens,
                    seed="scene",
                    prefill=prefill,
                )
                assembled = time.perf_counter()
                first, shown, done, text = await stream_reply(
                    backend, prompt.messages, prompt.stop, name, others, reply_tokens, len(rows)
                )
                client_ttft = (shown - started) * 1000
                rows.append(
                    {
                        "turn": turn + 1,
                        "speaker": name,
                        "reason": choice.reason,
                        "client_ttft_ms": client_ttft,
                        "assembly_ms": (assembled - started) * 1000,
                        "held_ms": (shown - first) * 1000,
                        "backend_ttft_ms": done.ttft_ms or 0.0,
                        "prompt_tokens": done.usage.prompt_tokens,
                        "cached_tokens": done.usage.cached_tokens,
                        "completion_tokens": done.usage.completion_tokens,
                        "saved": bool(text),
                    }
                )
                clock += timedelta(seconds=5)
                if text:
                    history.append(SceneLine(pid, name, False, text, clock))
                started = time.perf_counter()  # the next reply starts when this one ended
            console.print(
                f"turn {turn + 1}: {', '.join(r['speaker'] for r in rows if r['turn'] == turn + 1)}"
            )
    finally:
        await backend.aclose()
    return summarise(rows)


async def run_scene_api(turns: int, reply_tokens: int, console: Console) -> dict[str, Any]:
    """The same scene through personae's HTTP API and the scene's event stream (SQLite)."""
    data_dir = Path(tempfile.mkdtemp(prefix="personae-scene-bench-"))
    try:
        return await scene_over_http(data_dir, turns, reply_tokens, console)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def scene_over_http(
    data_dir: Path, turns: int, reply_tokens: int, console: Console
) -> dict[str, Any]:
    """Serve personae from `data_dir`, play the scene as one person; the per-reply rows.

    A reply starts when the person's message is posted (its first speaker) or when the
    previous reply's `done` event arrived (the next ones); its first token is the first
    `token` event for its speaker. The backend's own TTFT is on the saved message.
    """
    import httpx
    import uvicorn

    from personae.app import create_app
    from personae.config import Settings

    app = create_app(Settings(data_dir=data_dir, port=0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no start event
        if serving.done():
            serving.result()
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    rows: list[dict[str, Any]] = []
    events: asyncio.Queue[tuple[float, str, dict[str, Any]]] = asyncio.Queue()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        credentials = {"username": "bench", "password": "quiet lantern harbour 42"}
        (await client.post("/api/v1/accounts", json=credentials)).raise_for_status()
        signed_in = await client.post("/api/v1/auth/token", json=credentials)
        signed_in.raise_for_status()
        auth = {"Authorization": f"Bearer {signed_in.json()['token']}"}
        handles = []
        for i in range(4):
            d = definition(i)
            body = {
                "name": d.name,
                "description": d.description,
                "personality": d.personality,
                "mes_example": d.mes_example,
            }
            r = await client.post("/api/v1/characters", headers=auth, json=body)
            r.raise_for_status()
            handle = r.json()["handle"]
            sampling = {"sampling": {"max_tokens": reply_tokens, "temperature": 0.7}}
            (
                await client.patch(f"/api/v1/characters/{handle}", headers=auth, json=sampling)
            ).raise_for_status()
            handles.append(handle)
        scene: dict[str, Any] = {
            "title": "The Lantern Inn",
            "scenario": "A storm keeps everyone inside the inn for the night.",
            "mode": "natural",
            "characters": handles,
        }
        r = await client.post("/api/v1/scenes", headers=auth, json=scene)
        r.raise_for_status()
        scene_id = r.json()["id"]

        async def listen() -> None:
            name = ""
            url = f"/api/v1/scenes/{scene_id}/events"
            async with client.stream("GET", url, headers=auth, timeout=None) as response:
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:].strip()
                    elif line.startswith("data: "):
                        await events.put((time.perf_counter(), name, json.loads(line[6:])))

        listener = asyncio.create_task(listen())
        await asyncio.sleep(0.5)  # let the stream open before the first message
        try:
            for turn in range(turns):
                while True:  # the chain frees the scene just after its `next` event
                    started = time.perf_counter()
                    r = await client.post(
                        f"/api/v1/scenes/{scene_id}/messages",
                        headers=auth,
                        json={"content": PROMPTS[turn % len(PROMPTS)]},
                    )
                    if r.status_code != 409:
                        break
                    await asyncio.sleep(0.01)
                r.raise_for_status()
                replies = 0
                first: float | None = None
                name = ""
                while name != "next":  # the chain ends with who speaks next
                    at, name, data = await asyncio.wait_for(events.get(), timeout=600)
                    if name == "error" and data.get("code") != "empty_reply":
                        raise RuntimeError(f"the scene reported an error: {data}")
                    if name == "token" and first is None:
                        first = at
                    elif name == "error":  # cleaned to nothing: no message, nothing to time
                        rows.append({"turn": turn + 1, "speaker": "?", "measured": False})
                        replies, first, started = replies + 1, None, at
                    elif name == "done":
                        message = data["message"]
                        gen = message.get("generation") or {}
                        rows.append(
                            {
                                "turn": turn + 1,
                                "speaker": message["speaker"]["name"],
                                "reason": message.get("reason") or "",
                                "client_ttft_ms": ((first or at) - started) * 1000,
                                "assembly_ms": float("nan"),
                                "held_ms": float("nan"),
                                "backend_ttft_ms": gen.get("ttft_ms") or 0.0,
                                "prompt_tokens": gen.get("prompt_tokens") or 0,
                                "cached_tokens": gen.get("cached_tokens") or 0,
                                "completion_tokens": gen.get("completion_tokens") or 0,
                                "saved": bool(message.get("content")),
                            }
                        )
                        # The next reply starts when this one is done.
                        replies, first, started = replies + 1, None, at
                console.print(f"turn {turn + 1}: {replies} replies")
        finally:
            listener.cancel()
            server.should_exit = True
            await serving
    return summarise(rows)


def core_path_available() -> bool:
    """Whether CORE's scene service and conductor are installed (the API path exists)."""
    import importlib.util

    return all(
        importlib.util.find_spec(f"personae.scenes.{m}") is not None
        for m in ("service", "conductor", "api")
    )


def summarise(all_rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Overhead percentiles and the hit ratio from the per-reply rows (a reply cleaned to
    nothing saves no message and is not timed)."""
    rows = [r for r in all_rows if r.get("measured", True)]
    empty = len(all_rows) - len(rows)
    overheads = [r["client_ttft_ms"] - r["backend_ttft_ms"] for r in rows]
    later = rows[1:]
    return {
        "rows": rows,
        "replies": len(all_rows),
        "per_turn": len(all_rows) / max(1, len({r["turn"] for r in all_rows})),
        "overhead_p50": statistics.median(overheads) if overheads else float("nan"),
        "overhead_p95": percentile(overheads, 95) if overheads else float("nan"),
        "assembly_p50": statistics.median(r["assembly_ms"] for r in rows) if rows else float("nan"),
        "held_p50": statistics.median(r["held_ms"] for r in rows) if rows else float("nan"),
        "backend_ttft_p50": statistics.median(r["backend_ttft_ms"] for r in rows)
        if rows
        else float("nan"),
        "hit_ratio": sum(r["cached_tokens"] for r in later)
        / max(1, sum(r["prompt_tokens"] for r in later)),
        "empty": empty + sum(1 for r in rows if not r["saved"]),
    }


# --------------------------------------------------------------------------- main


def print_platform(
    console: Console, label: str, timings: list[float], args: argparse.Namespace
) -> None:
    """One line of (a)."""
    console.print(
        f"(a) {label}: {args.characters} characters, {args.history} messages: per reply "
        f"median {statistics.median(timings):.2f} ms, p95 {percentile(timings, 95):.2f} ms "
        f"over {len(timings)} replies (goal <= 5 ms)"
    )


async def main_async(args: argparse.Namespace, console: Console) -> None:
    """Run the parts asked for and print them."""
    console.print(
        f"machine: {platform.machine()}, Python {platform.python_version()}, "
        f"{time.strftime('%Y-%m-%d')}"
    )
    if not args.skip_platform:
        fake = FakeBackend()
        timings = await measure_platform(
            args.characters, args.history, args.replies, fake.count_message_tokens
        )
        print_platform(console, "fake counts", timings, args)
        if not args.skip_model:
            from personae.llm.embedded import EmbeddedBackend

            backend = EmbeddedBackend(
                "embedded", BackendSettings(kind="embedded", n_parallel=1, n_ctx=4096)
            )
            try:
                # One pass fills the tokenizer's per-text cache, as a running scene has.
                await measure_platform(
                    args.characters, args.history, 3, backend.count_message_tokens
                )
                timings = await measure_platform(
                    args.characters, args.history, args.replies, backend.count_message_tokens
                )
                print_platform(console, "bundled tokenizer", timings, args)
            finally:
                await backend.aclose()
    if args.skip_model:
        return
    via = args.via
    if via == "auto":
        via = "api" if core_path_available() else "direct"
    console.print(f"(b) path: {via}" + (", prefill" if args.prefill and via == "direct" else ""))
    if via == "api":
        result = await run_scene_api(args.turns, args.reply_tokens, console)
    else:
        result = await run_scene_direct(args.turns, args.reply_tokens, console, args.prefill)
    table = Table(title="scene on the bundled SmolLM2-135M (4 characters, 1 person, natural order)")
    for column in (
        "turn",
        "speaker",
        "reason",
        "client TTFT ms",
        "backend TTFT ms",
        "overhead ms",
        "assembly ms",
        "held ms",
        "prompt",
        "cached",
        "out",
    ):
        table.add_column(column, justify="right")
    for r in result["rows"]:
        table.add_row(
            str(r["turn"]),
            r["speaker"],
            r["reason"],
            f"{r['client_ttft_ms']:.1f}",
            f"{r['backend_ttft_ms']:.1f}",
            f"{r['client_ttft_ms'] - r['backend_ttft_ms']:.1f}",
            f"{r['assembly_ms']:.1f}",
            f"{r['held_ms']:.1f}",
            str(r["prompt_tokens"]),
            str(r["cached_tokens"]),
            str(r["completion_tokens"]),
        )
    console.print(table)
    console.print(
        f"(b) {result['replies']} replies over {args.turns} turns ({result['per_turn']:.2f} per "
        f"turn, {result['empty']} empty after cleaning); backend TTFT p50 "
        f"{result['backend_ttft_p50']:.1f} ms"
    )
    line = (
        f"(b) overhead p50 {result['overhead_p50']:.1f} ms, p95 {result['overhead_p95']:.1f} ms "
        "(goal p50 <= 15 ms)"
    )
    if via == "direct":
        line += (
            f"; of which turn selection + prompt assembly (token counts included) p50 "
            f"{result['assembly_p50']:.1f} ms, and the no-bleed filter holding back the "
            f"speaker's own label p50 {result['held_p50']:.1f} ms"
        )
    console.print(line)
    console.print(
        f"(b) prefix-cache hit ratio, replies 2+: {result['hit_ratio']:.3f} (goal >= 0.8)"
    )


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--characters", type=int, default=10)
    parser.add_argument("--history", type=int, default=500)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--reply-tokens", type=int, default=80)
    parser.add_argument("--skip-model", action="store_true", help="only (a), with fake counts")
    parser.add_argument("--skip-platform", action="store_true", help="only (b)")
    parser.add_argument(
        "--prefill",
        action="store_true",
        help="(b) direct: end each prompt with the speaker's `Name:` for the model to continue",
    )
    parser.add_argument(
        "--via",
        choices=("auto", "api", "direct"),
        default="auto",
        help="(b) through the HTTP API (CORE's conductor), or scenes' modules and the "
        "backend directly; auto: the API when it is installed",
    )
    args = parser.parse_args()
    if min(args.characters, args.history, args.replies, args.turns, args.reply_tokens) < 1:
        parser.error("sizes must be at least 1")
    if args.characters > len(NAMES):
        parser.error(f"--characters is at most {len(NAMES)}")
    asyncio.run(main_async(args, Console()))


if __name__ == "__main__":
    main()
