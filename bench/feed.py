"""Feed benchmark: home, public and 'for you' timeline latency on a generated network.

Method:
1. A seeded generator (not the model) builds a network: ~90% people and ~10% public AI
   characters; follows with a Zipf-like choice of followee (and a milder skew on who
   follows), so some actors have thousands of followers and some people follow hundreds;
   posts over the last 30 days with Zipf-like authors (the popular also post the most),
   70% public / 10% unlisted / 15% followers-only / 5% direct, ~20% replies to recent
   posts, ~3% reposts, hashtags, mentions for replies and direct posts, and likes.
   Ids are time-first like `personae.db.new_id`, made from each row's synthetic
   `created_at`, so id order is creation order; counters match the generated rows.
   Each table's columns come from the SQLAlchemy models (`feedgen.model_rows`): a column
   the generator does not set takes the model's default, and a schema change it cannot
   follow stops the run with a message naming the column.
2. Each database is created fresh and migrated with personae's own migrations, then loaded:
   SQLite with SQLAlchemy Core executemany in big batches (FTS5 triggers included),
   PostgreSQL with COPY. Secondary indexes are dropped for the load and rebuilt after it;
   PostgreSQL is then VACUUM ANALYZEd, as autovacuum would do on a live instance. SQLite
   is not ANALYZEd: personae never runs ANALYZE or PRAGMA optimize, so neither does this.
3. API tokens are issued to 200 random people; personae is served by uvicorn (one worker,
   in a subprocess so client and server do not share an event loop or a GIL) on loopback;
   after a warm-up, each timeline is loaded by C concurrent httpx clients for D seconds,
   each request with a random person's token and `limit=20`, a quarter of them followed
   by the next page through `next_cursor`.
4. It prints p50/p99 latency and requests/s per endpoint, concurrency and database, the
   dataset sizes, load times and the machine. Goal: p99 <= 50 ms for home and public.
   It exits with status 1 when a request failed (the test suite runs it at a tiny size).

Run (from the repository root):
  .venv/bin/python bench/feed.py                      # both databases, full size
  .venv/bin/python bench/feed.py --db sqlite --actors 1000 --follows 10000 --posts 20000
  .venv/bin/python bench/feed.py --keep               # keep the databases, then rerun
  .venv/bin/python bench/feed.py --reuse KEPT_DIR/feed.db \\
      --reuse postgresql+asyncpg://postgres@127.0.0.1:5432/personae_bench
A PostgreSQL database kept with --keep is marked (COMMENT ON DATABASE) and never dropped by
a later run. `--log-sql FILE` makes the server log every SQL statement (for EXPLAIN).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import platform
import random
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from feedgen import Network, generate
from feedload import (
    LOADED_TABLES,
    create_pg_database,
    drop_pg_database,
    load_postgres,
    load_sqlite,
    migrate,
    pg_database_kept,
    plain_pg_url,
)
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "personae_bench"
ENDPOINTS = ("home", "public", "for-you")
GOAL_P99_MS = 50.0
TOKEN_NAME = "bench"
COUNTED_TABLES = (*LOADED_TABLES, "auth_tokens")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def issue_tokens(url: str, count: int, seed: int) -> list[str]:
    """Replace earlier benchmark tokens with API tokens for `count` random people."""
    from sqlalchemy import delete, select

    from personae.accounts.models import Account, AuthToken
    from personae.db import make_engine, new_id, utcnow

    rng = random.Random(seed)
    # Valid for the run, counted from now (never a fixed date); columns left out take the
    # model's defaults.
    expires = utcnow() + timedelta(days=30)
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(delete(AuthToken).where(AuthToken.name == TOKEN_NAME))
            people = sorted((await conn.execute(select(Account.id))).scalars())
            chosen = rng.sample(people, min(count, len(people)))
            tokens = [secrets.token_urlsafe(32) for _ in chosen]
            await conn.execute(
                AuthToken.__table__.insert(),
                [
                    {
                        "id": new_id(),
                        "created_at": utcnow(),
                        "account_id": account,
                        "token_hash": hashlib.sha256(token.encode()).hexdigest(),
                        "kind": "api",
                        "name": TOKEN_NAME,
                        "expires_at": expires,
                    }
                    for account, token in zip(chosen, tokens, strict=True)
                ],
            )
    finally:
        await engine.dispose()
    return tokens


async def dataset_sizes(url: str) -> dict[str, Any]:
    """Row counts, post kinds and the database's size on disk."""
    from sqlalchemy import text

    from personae.db import make_engine

    engine = make_engine(url)
    sizes: dict[str, Any] = {}
    try:
        async with engine.connect() as conn:
            for name in COUNTED_TABLES:
                sizes[name] = (await conn.execute(text(f"SELECT count(*) FROM {name}"))).scalar()
            kinds = await conn.execute(
                text(
                    "SELECT visibility, count(*), sum(CASE WHEN is_reply THEN 1 ELSE 0 END), "
                    "sum(CASE WHEN repost_of_id IS NOT NULL THEN 1 ELSE 0 END) "
                    "FROM posts GROUP BY visibility ORDER BY visibility"
                )
            )
            sizes["by visibility"] = {row[0]: row[1] for row in kinds}
            replies = await conn.execute(text("SELECT count(*) FROM posts WHERE is_reply"))
            reposts = await conn.execute(
                text("SELECT count(*) FROM posts WHERE repost_of_id IS NOT NULL")
            )
            sizes["replies"] = replies.scalar()
            sizes["reposts"] = reposts.scalar()
            if url.startswith("sqlite"):
                sizes["version"] = "SQLite " + sqlite3.sqlite_version
            else:
                size = await conn.execute(text("SELECT pg_database_size(current_database())"))
                sizes["bytes"] = size.scalar()
                version = (await conn.execute(text("SHOW server_version"))).scalar()
                sizes["version"] = f"PostgreSQL {version}"
    finally:
        await engine.dispose()
    if url.startswith("sqlite"):
        path = Path(url.split(":///", 1)[1])
        sizes["bytes"] = sum(
            p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file()
        )
    return sizes


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(url: str, port: int, data_dir: str, log_sql: str | None) -> None:
    """Run personae on loopback (the server subprocess)."""
    import logging

    import uvicorn

    from personae.app import create_app
    from personae.config import Settings

    if log_sql:
        handler = logging.FileHandler(log_sql)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger = logging.getLogger("sqlalchemy.engine")
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    app = create_app(Settings(data_dir=Path(data_dir), database_url=url), migrate=False)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_server(
    url: str, data_dir: str, log_sql: str | None
) -> tuple[subprocess.Popen[bytes], str]:
    """Start the server subprocess and wait until it answers."""
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--serve", url, "--port", str(port)]
    command += ["--data-dir", data_dir]
    if log_sql:
        command += ["--log-sql", log_sql]
    process = subprocess.Popen(command)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            httpx.get(base + "/api/v1/timelines/public", timeout=5)
            return process, base
        except httpx.TransportError:
            time.sleep(0.1)
    process.terminate()
    raise SystemExit("the server did not start within 60 s")


@dataclass
class Result:
    """Latencies of one endpoint at one concurrency."""

    endpoint: str
    concurrency: int
    first: list[float] = field(default_factory=list)
    next: list[float] = field(default_factory=list)
    items: int = 0
    errors: int = 0
    sample_error: str = ""
    seconds: float = 0.0

    @property
    def all(self) -> list[float]:
        """Every measured latency, first and next pages."""
        return self.first + self.next


async def hammer(
    client: httpx.AsyncClient,
    endpoint: str,
    tokens: list[str],
    concurrency: int,
    seconds: float,
    seed: int,
) -> Result:
    """C workers request the timeline (and sometimes its next page) for `seconds`."""
    result = Result(endpoint, concurrency)
    path = f"/api/v1/timelines/{endpoint}"
    deadline = time.perf_counter() + seconds

    async def fetch(token: str, params: dict[str, Any], into: list[float]) -> str | None:
        started = time.perf_counter()
        try:
            response = await client.get(
                path, params=params, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            result.errors += 1
            result.sample_error = result.sample_error or repr(exc)
            return None
        into.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            result.errors += 1
            result.sample_error = result.sample_error or f"{response.status_code} {response.text}"
            return None
        body = response.json()
        result.items += len(body.get("items", []))
        cursor: str | None = body.get("next_cursor")
        return cursor

    async def worker(number: int) -> None:
        rng = random.Random(seed * 1000 + number)
        while time.perf_counter() < deadline:
            token = rng.choice(tokens)
            cursor = await fetch(token, {"limit": 20}, result.first)
            if cursor and rng.random() < 0.25 and time.perf_counter() < deadline:
                await fetch(token, {"limit": 20, "cursor": cursor}, result.next)

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(concurrency)))
    result.seconds = time.perf_counter() - started
    return result


async def load_test(
    base: str, tokens: list[str], levels: list[int], seconds: float, warmup: float
) -> list[Result]:
    """Warm every endpoint up, then measure each at each concurrency."""
    results = []
    limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        for endpoint in ENDPOINTS:
            await hammer(client, endpoint, tokens, max(levels), warmup, seed=0)
        for level in levels:
            for number, endpoint in enumerate(ENDPOINTS):
                results.append(
                    await hammer(client, endpoint, tokens, level, seconds, seed=level + number)
                )
    return results


@dataclass
class Target:
    """One database to benchmark."""

    kind: str  # sqlite | postgres
    url: str
    generated: bool
    load_seconds: float = 0.0
    folder: str = ""


def machine_info() -> str:
    """Platform, CPUs and Python in one line."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (
        f"{platform.platform()}; {os.cpu_count()} CPUs ({cpu}); "
        f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d')}"
    )


def print_results(
    console: Console, target: Target, sizes: dict[str, Any], results: list[Result]
) -> bool:
    """Print the dataset and the latency table of one database; False if a request failed."""
    counts = ", ".join(f"{name} {sizes[name]:,}" for name in COUNTED_TABLES)
    visibility = ", ".join(f"{k} {v:,}" for k, v in sizes["by visibility"].items())
    console.print(f"[bold]{sizes['version']}[/] {target.url}")
    console.print(f"  rows: {counts}")
    console.print(
        f"  posts: {visibility}; replies {sizes['replies']:,}, reposts {sizes['reposts']:,}; "
        f"size on disk {sizes['bytes'] / 2**20:,.0f} MiB"
    )
    if target.generated:
        console.print(f"  load (migrate + insert + indexes): {target.load_seconds:.1f} s")
    table = Table(title=f"timelines on {sizes['version']}")
    for column in (
        "endpoint",
        "conc.",
        "requests",
        "errors",
        "p50 ms",
        "p99 ms",
        "max ms",
        "req/s",
        "page 2 p50/p99 ms",
        "items/page",
        "p99 goal",
    ):
        table.add_column(column, justify="right")
    for r in results:
        latencies = r.all
        if not latencies:
            table.add_row(r.endpoint, str(r.concurrency), "0", str(r.errors), *[""] * 7)
            continue
        p99 = percentile(latencies, 99)
        goal = ""
        if r.endpoint in ("home", "public"):
            goal = "[green]met[/]" if p99 <= GOAL_P99_MS else "[red]missed[/]"
        page2 = f"{percentile(r.next, 50):.1f} / {percentile(r.next, 99):.1f}" if r.next else "-"
        table.add_row(
            r.endpoint,
            str(r.concurrency),
            f"{len(latencies):,}",
            str(r.errors),
            f"{percentile(latencies, 50):.1f}",
            f"{p99:.1f}",
            f"{max(latencies):.1f}",
            f"{len(latencies) / r.seconds:.1f}",
            page2,
            f"{r.items / max(1, len(latencies) - r.errors):.1f}",
            goal,
        )
    console.print(table)
    for r in results:
        if r.errors:
            console.print(
                f"[red]{r.endpoint} (c={r.concurrency}): {r.errors} failed; "
                f"e.g. {r.sample_error[:300]}[/]"
            )
    return not any(r.errors or not r.all for r in results)


def main() -> None:
    """Parse arguments, generate and load, serve, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--actors", type=int, default=10_000)
    parser.add_argument("--follows", type=int, default=200_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--likes", type=int, default=None, help="default: 30%% of --posts")
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--concurrency", default="1,8", help="comma-separated levels")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per measurement")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds per endpoint")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the generated databases")
    parser.add_argument(
        "--reuse", action="append", default=[], help="a kept SQLite file or PostgreSQL URL"
    )
    parser.add_argument("--pg-admin-url", default=PG_ADMIN_URL)
    parser.add_argument("--pg-database", default=PG_DATABASE)
    parser.add_argument("--log-sql", default=None, help="the server logs its SQL to this file")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data_dir, args.log_sql)
        return
    console = Console(width=None if sys.stdout.isatty() else 140)
    levels = [int(level) for level in args.concurrency.split(",")]
    targets: list[Target] = []
    for reused in args.reuse:
        if reused.startswith("postgresql"):
            targets.append(Target("postgres", reused, generated=False))
        else:
            path = Path(reused).resolve()
            if not path.is_file():
                raise SystemExit(f"no SQLite database at {path}")
            targets.append(Target("sqlite", f"sqlite+aiosqlite:///{path}", generated=False))
    if not targets:
        kinds = ("sqlite", "postgres") if args.db == "both" else (args.db,)
        for kind in kinds:
            if kind == "sqlite":
                folder = tempfile.mkdtemp(prefix="personae-feed-")
                url = f"sqlite+aiosqlite:///{Path(folder) / 'feed.db'}"
                targets.append(Target(kind, url, generated=True, folder=folder))
            else:
                if asyncio.run(pg_database_kept(args.pg_admin_url, args.pg_database)):
                    raise SystemExit(
                        f"database {args.pg_database} was kept by an earlier run: rerun with "
                        "--reuse, pick another --pg-database, or drop it first"
                    )
                url = plain_pg_url(args.pg_admin_url).rsplit("/", 1)[0] + f"/{args.pg_database}"
                url = url.replace("postgresql://", "postgresql+asyncpg://", 1)
                targets.append(Target(kind, url, generated=True))

    try:
        failed = measure(args, console, targets, levels)
    finally:
        if not args.keep:  # also after a failed load, so no run leaves a database behind
            discard(args, console, targets)
    if failed:  # a benchmark of failing requests measures nothing: say so in the exit status
        raise SystemExit(f"requests failed or none were made on: {', '.join(failed)}")


def measure(
    args: argparse.Namespace, console: Console, targets: list[Target], levels: list[int]
) -> list[str]:
    """Generate and load the new databases, then measure every target; those that failed."""
    network: Network | None = None
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn()]
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        if any(t.generated for t in targets):
            likes = args.likes if args.likes is not None else args.posts * 3 // 10
            network = generate(args.actors, args.follows, args.posts, likes, args.seed, progress)
        for target in targets:
            if not target.generated or network is None:
                continue
            started = time.perf_counter()
            if target.kind == "postgres":
                asyncio.run(create_pg_database(args.pg_admin_url, args.pg_database, args.keep))
                asyncio.run(migrate(target.url))
                asyncio.run(load_postgres(target.url, network, progress))
            else:
                asyncio.run(migrate(target.url))
                asyncio.run(load_sqlite(target.url, network, progress))
            target.load_seconds = time.perf_counter() - started
    if network is not None:
        console.print(f"generated the network in Python in {network.seconds:.1f} s")
    del network

    console.print(f"machine: {machine_info()}")
    failed: list[str] = []
    for target in targets:
        tokens = asyncio.run(issue_tokens(target.url, args.tokens, args.seed))
        sizes = asyncio.run(dataset_sizes(target.url))
        data_dir = tempfile.mkdtemp(prefix="personae-feed-app-")
        if hasattr(os, "getloadavg"):  # other work on the machine skews the numbers
            load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
            console.print(f"load average before measuring {target.kind}: {load}")
        process, base = start_server(target.url, data_dir, args.log_sql)
        try:
            results = asyncio.run(load_test(base, tokens, levels, args.duration, args.warmup))
        finally:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(data_dir, ignore_errors=True)
        if not print_results(console, target, sizes, results):
            failed.append(target.kind)
        if target.generated and args.keep:
            where = target.url.split(":///", 1)[-1] if target.kind == "sqlite" else target.url
            console.print(f"kept: rerun the load with --reuse {where}")
    return failed


def discard(args: argparse.Namespace, console: Console, targets: list[Target]) -> None:
    """Remove the databases this run generated."""
    for target in targets:
        if not target.generated:
            continue
        if target.kind == "sqlite":
            shutil.rmtree(target.folder, ignore_errors=True)
            continue
        try:
            asyncio.run(drop_pg_database(args.pg_admin_url, args.pg_database))
        except Exception as exc:  # never hide the error that ended the run
            console.print(f"[red]could not drop {args.pg_database}: {exc!r}[/]")


if __name__ == "__main__":
    main()
