"""Chat benchmark: 20 turns with the bundled model through personae's HTTP API.

Prints, per turn and in summary:
- time to first token seen by an HTTP client of personae (SSE `token` event), and the
  backend's own time to first token for the same request (recorded on the message);
  their difference is personae's overhead (auth, database, prompt assembly, token
  counting, SSE), measured on the same request so the model's cache state is the same;
- the prefix-cache hit ratio, cached / prompt tokens, from turn 2 on.

Run: .venv/bin/python bench/chat.py [--turns 20] [--reply-tokens 100] [--tiny-card]
(`--tiny-card` chats with a two-line character instead of the Seraphina card: the test
suite's smoke run uses it with two turns.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

REPO = Path(__file__).resolve().parents[1]
CARD = REPO.parent / "shared" / "fixtures" / "cards" / "default_Seraphina.png"
PROMPTS = [
    "Hello! Where am I?",
    "What is this place called?",
    "Who are you, exactly?",
    "How long was I asleep?",
    "Can you tell me about the forest?",
    "Is it dangerous out there?",
    "What kind of magic do you use?",
    "Do you live here alone?",
    "What should I eat to get my strength back?",
    "Tell me about the creatures of the glade.",
    "Why did you help me?",
    "Can you teach me a simple spell?",
    "What happened to the people who attacked me?",
    "Is there a village nearby?",
    "What do you do every day?",
    "Do you ever leave the glade?",
    "What is your favourite season?",
    "Could I stay a little longer?",
    "What do you fear the most?",
    "Thank you for everything. Goodbye for now.",
]


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def run(turns: int, reply_tokens: int, tiny_card: bool, console: Console) -> dict[str, Any]:
    """Serve personae on loopback and chat `turns` times; return the measurements."""
    data_dir = Path(tempfile.mkdtemp(prefix="personae-bench-"))
    try:
        return await chat(data_dir, turns, reply_tokens, tiny_card, console)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


async def chat(
    data_dir: Path, turns: int, reply_tokens: int, tiny_card: bool, console: Console
) -> dict[str, Any]:
    """Serve personae from `data_dir` and chat `turns` times; return the measurements."""
    import uvicorn

    from personae.app import create_app
    from personae.config import Settings

    settings = Settings(data_dir=data_dir, port=0)
    app = create_app(settings)
    # Port 0: the system picks a free one, so runs side by side (the test suite) never clash.
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    while not server.started:  # uvicorn offers no start event
        if serving.done():
            serving.result()  # the server failed to start: raise its error
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        # Any password the sign-up rules accept (long enough, not common, not the username).
        credentials = {"username": "bench", "password": "quiet lantern harbour 42"}
        (await client.post("/api/v1/accounts", json=credentials)).raise_for_status()
        signed_in = await client.post("/api/v1/auth/token", json=credentials)
        signed_in.raise_for_status()
        token = signed_in.json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        if CARD.is_file() and not tiny_card:
            files = {"file": (CARD.name, CARD.read_bytes(), "image/png")}
            r = await client.post("/api/v1/characters/import", headers=auth, files=files)
        else:
            body = {
                "name": "Seraphina",
                "description": "A kind forest guardian.",
                "first_mes": "You wake up in a glade.",
            }
            r = await client.post("/api/v1/characters", headers=auth, json=body)
        r.raise_for_status()
        handle = r.json()["handle"]
        await client.patch(
            f"/api/v1/characters/{handle}",
            headers=auth,
            json={"sampling": {"max_tokens": reply_tokens, "temperature": 0.7}},
        )
        conversation = (
            await client.post("/api/v1/conversations", headers=auth, json={"character": handle})
        ).json()
        url = f"/api/v1/conversations/{conversation['id']}/messages"
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task("chatting", total=turns)
            for turn in range(turns):
                prompt = PROMPTS[turn % len(PROMPTS)]
                started = time.perf_counter()
                first: float | None = None
                done: dict[str, Any] | None = None
                event = ""
                async with client.stream(
                    "POST", url, headers=auth, json={"content": prompt}
                ) as response:
                    async for line in response.aiter_lines():
                        if line.startswith("event: "):
                            event = line[7:]
                        elif line.startswith("data: "):
                            if event == "token" and first is None:
                                first = time.perf_counter()
                            elif event == "done":
                                done = json.loads(line[6:])
                            elif event == "error":
                                raise RuntimeError(line)
                assert done is not None and first is not None
                gen = done["message"]["generation"]
                rows.append(
                    {
                        "turn": turn + 1,
                        "client_ttft_ms": (first - started) * 1000,
                        "backend_ttft_ms": gen["ttft_ms"],
                        "prompt_tokens": gen["prompt_tokens"],
                        "cached_tokens": gen["cached_tokens"],
                        "completion_tokens": gen["completion_tokens"],
                    }
                )
                progress.advance(task)
    server.should_exit = True
    await serving
    overheads = [r["client_ttft_ms"] - r["backend_ttft_ms"] for r in rows]
    later = rows[1:]
    return {
        "rows": rows,
        "overhead_p50": statistics.median(overheads),
        "overhead_p95": percentile(overheads, 95),
        "overhead_p95_warm": percentile(overheads[1:], 95) if later else float("nan"),
        "client_ttft_p50": statistics.median(r["client_ttft_ms"] for r in rows),
        "backend_ttft_p50": statistics.median(r["backend_ttft_ms"] for r in rows),
        "hit_ratio": sum(r["cached_tokens"] for r in later)
        / max(1, sum(r["prompt_tokens"] for r in later)),
    }


def main() -> None:
    """Parse arguments, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--reply-tokens", type=int, default=100)
    parser.add_argument(
        "--tiny-card", action="store_true", help="a two-line character instead of Seraphina"
    )
    args = parser.parse_args()
    if args.turns < 1 or args.reply_tokens < 1:
        parser.error("--turns and --reply-tokens must be at least 1")
    console = Console()
    result = asyncio.run(run(args.turns, args.reply_tokens, args.tiny_card, console))
    table = Table(title="personae chat benchmark (bundled SmolLM2-135M, SQLite)")
    for column in (
        "turn",
        "client TTFT ms",
        "backend TTFT ms",
        "overhead ms",
        "prompt",
        "cached",
        "out",
    ):
        table.add_column(column, justify="right")
    for r in result["rows"]:
        table.add_row(
            str(r["turn"]),
            f"{r['client_ttft_ms']:.1f}",
            f"{r['backend_ttft_ms']:.1f}",
            f"{r['client_ttft_ms'] - r['backend_ttft_ms']:.1f}",
            str(r["prompt_tokens"]),
            str(r["cached_tokens"]),
            str(r["completion_tokens"]),
        )
    console.print(table)
    console.print(
        f"machine: {platform.machine()}, {platform.python_version()}, {time.strftime('%Y-%m-%d')}"
    )
    console.print(
        f"TTFT p50: through personae {result['client_ttft_p50']:.1f} ms, "
        f"backend alone {result['backend_ttft_p50']:.1f} ms"
    )
    console.print(
        f"overhead p50 {result['overhead_p50']:.1f} ms, "
        f"p95 {result['overhead_p95']:.1f} ms (goal p50 <= 15 ms); p95 from turn 2 on "
        f"{result['overhead_p95_warm']:.1f} ms (turn 1 also measures the chat template once)"
    )
    console.print(f"prefix-cache hit ratio, turns 2+: {result['hit_ratio']:.3f} (goal >= 0.8)")


if __name__ == "__main__":
    main()
