"""Smoke runs of the benchmark scripts at a tiny size, so that a schema or API change can never
silently break one again: each script runs as a subprocess, as a person would run it, and
must exit 0 and print its numbers. `make test` runs them; `make test-fast` skips them
(marker `bench`). The feed generator's column completion is checked directly as well."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from types import ModuleType

import pytest

from tests.conftest import POSTGRES_URL, REPO

TIMEOUT_S = 300  # the machine is shared; a tiny run takes 10-50 s
# Named for this test run, so runs side by side (and a full-size bench) never share one.
PG_DATABASE = f"personae_bench_smoke_{os.getpid()}"


def run_bench(script: str, *args: str) -> str:
    """Run bench/`script` with `args`; its standard output, after checking it exited 0."""
    # The scripts configure personae themselves; a developer's PERSONAE_* must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env["COLUMNS"] = "160"  # rich's tables keep one line per row
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / script), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert completed.returncode == 0, (
        f"bench/{script} exited with {completed.returncode}:\n"
        f"{completed.stdout[-3000:]}\n{completed.stderr[-5000:]}"
    )
    return completed.stdout


def load_feedgen() -> ModuleType:
    """bench/feedgen.py as a module (bench/ is a folder of scripts, not a package)."""
    name = "bench_feedgen"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "bench" / "feedgen.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_feed_generator_completes_rows_to_the_models_columns() -> None:
    """Columns the generator does not set (like the federation's `follows.uri`) take the
    model's default; the order of the generator's own columns is kept."""
    from personae.social.models import Follow

    feedgen = load_feedgen()
    given = ["id", "created_at", "follower_id", "followee_id", "state"]
    row = ("f1", None, "a1", "a2", "accepted")
    columns, rows = feedgen.model_rows("follows", given, [row, row])
    assert sorted(columns) == sorted(Follow.__table__.c.keys())
    assert columns[: len(given)] == given
    completed = dict(zip(columns, rows[1], strict=True))
    assert completed["state"] == "accepted"
    assert completed["uri"] is None


def test_feed_generator_stops_naming_a_column_it_cannot_fill() -> None:
    """A required column without a default, or one the models dropped, stops the run with a
    message naming it instead of loading a wrong network."""
    feedgen = load_feedgen()
    with pytest.raises(SystemExit, match=r"likes\.post_id is required"):
        feedgen.model_rows("likes", ["id", "created_at", "actor_id"], [("l1", None, "a1")])
    with pytest.raises(SystemExit, match=r"sets likes\.weight, which the models no longer"):
        feedgen.model_rows(
            "likes", ["id", "post_id", "actor_id", "weight"], [("l1", "p1", "a1", 1)]
        )
    with pytest.raises(SystemExit, match="do not match their column list"):
        feedgen.model_rows("likes", ["id", "post_id", "actor_id"], [("l1", "p1")])


@pytest.mark.bench
def test_feed_bench_generates_loads_and_measures_every_timeline(db_kind: str) -> None:
    """The generator follows the current models, the load goes through the migrations, and
    every timeline answers at each concurrency without an error."""
    args = ["--db", db_kind, "--actors", "120", "--follows", "600", "--posts", "1500"]
    args += ["--tokens", "10", "--concurrency", "1,2", "--duration", "0.5", "--warmup", "0.2"]
    if db_kind == "postgres":
        admin = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://", 1)
        args += ["--pg-admin-url", admin, "--pg-database", PG_DATABASE]
    out = run_bench("feed.py", *args)

    # 10% of the actors are characters; every generated row was loaded.
    assert re.search(
        r"rows: accounts 108, characters 12, actors 120, follows 600, posts 1,500,", out
    ), out
    assert "load (migrate + insert + indexes)" in out
    for endpoint in ("home", "public", "for-you"):
        for concurrency in (1, 2):
            # endpoint │ conc. │ requests │ errors │ p50 ms │ p99 ms
            cells = [endpoint, str(concurrency), r"([\d,]+)", r"(\d+)", r"([\d.]+)", r"([\d.]+)"]
            row = re.search(" *│ *".join(cells) + " *│", out)
            assert row, f"no {endpoint} row at concurrency {concurrency}:\n{out}"
            requests, errors, p50, p99 = row.groups()
            assert int(requests.replace(",", "")) > 0
            assert int(errors) == 0
            assert 0 < float(p50) <= float(p99)


@pytest.mark.bench
def test_agents_bench_carries_out_actions_without_failures(db_kind: str) -> None:
    """(a) runs the engine's actions on the database (in two worker processes on
    PostgreSQL); (b) and (c) run on the bundled model once, with SQLite."""
    args = ["--db", db_kind, "--people", "4", "--characters", "3", "--mentions", "8"]
    args += ["--actions", "24", "--warmup", "4", "--concurrency", "2"]
    if db_kind == "postgres":
        args += ["--skip-model", "--processes", "2"]
        args += ["--pg-admin-url", POSTGRES_URL, "--pg-database", PG_DATABASE + "_agents"]
    else:
        args += ["--model-actions", "1", "--slots", "1", "--post-tokens", "16"]
    out = run_bench("agents.py", *args)

    platform = re.search(
        rf"{db_kind} +x(\d) process +([\d.]+) actions/s \(20 in [\d.]+ s; outcomes (\{{.*\}})",
        out,
    )
    assert platform, out
    processes, per_s, outcomes = platform.groups()
    assert int(processes) == (2 if db_kind == "postgres" else 1)
    assert float(per_s) > 0
    assert "'published'" in outcomes and "'retry'" not in outcomes, outcomes
    # Replies answer stored mentions: a skip means the bench's own set-up lost its posts.
    assert "'skipped'" not in outcomes, outcomes
    if db_kind == "sqlite":
        model = re.search(r"\(b\) bundled model, 1 post actions .* ratio ([\d.]+)", out)
        assert model and float(model.group(1)) > 0, out
        costs = re.search(r"\(c\) per action: (\d+) prompt \+ (\d+) output tokens", out)
        assert costs, out
        assert int(costs.group(1)) > 0
        assert 0 < int(costs.group(2)) <= 16  # --post-tokens capped the post


@pytest.mark.bench
def test_chat_bench_chats_through_the_api_and_reports_overhead_and_cache_hits() -> None:
    """Two turns with the bundled model over HTTP and SSE (chat.py runs on SQLite only)."""
    out = run_bench("chat.py", "--turns", "2", "--reply-tokens", "8", "--tiny-card")

    for turn in (1, 2):  # turn │ client TTFT │ backend TTFT │ overhead │ prompt │ cached │ out
        row = re.search(
            rf"│ +{turn} │ +([\d.]+) │ +([\d.]+) │ +(-?[\d.]+) │ +(\d+) │ +(\d+) │", out
        )
        assert row, f"no row for turn {turn}:\n{out}"
        assert float(row.group(1)) > 0 and int(row.group(4)) > 0
    assert re.search(r"overhead p50 -?[\d.]+ ms, p95 -?[\d.]+ ms", out), out
    ratio = re.search(r"prefix-cache hit ratio, turns 2\+: ([\d.]+)", out)
    assert ratio and 0 < float(ratio.group(1)) <= 1, out


@pytest.mark.bench
def test_scene_bench_times_turns_and_prompts_and_runs_a_scene_on_the_model() -> None:
    """(a) with fake counts and the bundled tokenizer at a small size, (b) three person turns
    (through the API once the scene service exists)."""
    args = ["--history", "40", "--replies", "20", "--turns", "3", "--reply-tokens", "16"]
    out = run_bench("scene.py", *args)

    for label in ("fake counts", "bundled tokenizer"):
        row = re.search(rf"\(a\) {label}: .*median ([\d.]+) ms, p95\s+([\d.]+)\s+ms", out, re.S)
        assert row and 0 < float(row.group(1)) <= float(row.group(2)), out
    replies = re.search(r"\(b\) (\d+) replies over 3 turns", out)
    assert replies and int(replies.group(1)) >= 3, out
    # "nan" when every reply of so short a run was cleaned to nothing (nothing to time).
    assert re.search(r"\(b\) overhead p50 (-?[\d.]+|nan) ms, p95 (-?[\d.]+|nan) ms", out), out
    ratio = re.search(r"\(b\) prefix-cache hit ratio, replies 2\+: ([\d.]+)", out)
    assert ratio and 0 <= float(ratio.group(1)) <= 1, out


@pytest.mark.bench
def test_weight_bench_measures_pages_and_the_goals_hold() -> None:
    """Cold and warm page weights and the largest avatar (issue 14's goals) in process."""
    out = run_bench("weight.py", "--json")
    result = json.loads(out)
    pages = result["pages"]
    assert set(pages) == {"home", "public", "explore", "profile", "thread"}
    for name, page in pages.items():
        assert 0 < page["warm_bytes"] < page["cold_bytes"], name
        assert page["cold_requests"] > page["warm_requests"] >= 1, name
    assert result["avatar_images"] > 0
    assert 0 < result["largest_avatar_bytes"] <= 20_000
    assert pages["home"]["cold_bytes"] <= 60_000 and pages["home"]["warm_bytes"] <= 15_000
    assert all(result["goals_met"].values()), result


def test_repetition_bench_reports_loops_for_both_sampler_sets() -> None:
    out = run_bench("repetition.py", "-n", "1", "--reply-tokens", "16", "--post-tokens", "16")
    for name in ("old", "new"):
        line = next(x for x in out.splitlines() if x.strip().startswith(f"{name}:"))
        assert re.search(r"replies with a sentence 3\+ times \d+\.\d%", line), line
        assert re.search(r"published looping \d+\.\d% of \d+ \(held \d+", line), line
