"""`personae agents ...` as a real process: settings, operator view, review queue."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from personae import clock
from personae.accounts.service import create_account
from personae.agents import engine as agents
from personae.agents.engine import Engine
from personae.agents.models import AgendaItem
from personae.characters.schemas import CharacterCreate
from personae.characters.service import create_character
from personae.config import Settings
from personae.db import make_engine, make_sessionmaker
from personae.llm.fake import FakeBackend
from personae.llm.registry import BackendRegistry
from personae.migrate import upgrade

BIN = Path(sys.executable).parent / "personae"
START = datetime(2026, 12, 2, 0, 0, tzinfo=UTC)
# The wall clock starts at START too (and ticks), so what a test does outside its simulated
# clock (an API call, a trigger) happens on the planned day, whatever today's date is.
pytestmark = pytest.mark.time_machine(START, tick=True)


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    from argon2 import PasswordHasher

    fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    monkeypatch.setattr("personae.accounts.service._hasher", fast)


async def test_settings_activity_review_approve_reject(tmp_path: Path, cheap_hashing: None) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'p.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    env |= {"PERSONAE_DATABASE_URL": url, "PERSONAE_DATA_DIR": str(tmp_path), "COLUMNS": "220"}
    engine = make_engine(url)
    await upgrade(engine)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        ann = await create_account(session, "ann", "long password")
        fields = CharacterCreate(name="Polly", handle="polly", visibility="private", backend="fake")
        await create_character(session, ann, fields)
        await session.commit()

    r = run(["agents", "settings", "polly", "--enable"], env)
    assert r.returncode == 1 and "private" in r.stderr and "public" in r.stderr
    r = run(["agents", "settings", "polly", "--active-hours", "25-3"], env)
    assert r.returncode == 2 and "hours" in r.stderr
    r = run(["agents", "settings", "nobody", "--enable"], env)
    assert r.returncode == 1 and "no character" in r.stderr
    async with sessions() as session:
        from personae.characters.schemas import CharacterFields
        from personae.characters.service import update_character

        await update_character(session, ann, "polly", CharacterFields(visibility="public"))
        await session.commit()
    r = run(
        [
            "agents",
            "settings",
            "polly",
            "--enable",
            "--posts-per-day",
            "2",
            "--active-hours",
            "0-20",
            "--interests",
            "sailing, parrots",
            "--approval",
            "--reply-delay",
            "10-20",
        ],
        env,
    )
    assert r.returncode == 0, r.stderr
    assert "sailing, parrots" in r.stdout and "approval_mode" in r.stdout
    assert "reply_delay_max_s" in r.stdout and "20" in r.stdout
    r = run(["agents", "settings", "polly", "--reply-delay", "soon"], env)
    assert r.returncode == 2 and "MIN-MAX" in r.stderr

    fake = FakeBackend("fake")
    fake.enqueue("First light on the water.", "Gulls everywhere today!")
    backends = BackendRegistry("fake")
    backends.register("fake", fake)
    settings = Settings(database_url=url, agents_model_importance=False)
    run_engine = Engine(settings, sessions, backends)
    sim = clock.SimClock(START)
    with clock.simulated(sim):
        await agents.plan(run_engine, START)
        while (ready := await agents.next_ready_at(run_engine)) and ready < START + timedelta(
            hours=20
        ):
            sim.advance_to(ready)
            for item_id in await agents.take_due(run_engine, sim.now()):
                await agents.run_item(run_engine, item_id, sim.now())
    async with sessions() as session:
        held = list(await session.scalars(select(AgendaItem).where(AgendaItem.state == "held")))
    await engine.dispose()
    assert len(held) == 2

    r = run(["agents", "review", "polly"], env)
    assert r.returncode == 0, r.stderr
    assert "approval mode" in r.stdout and held[0].id in r.stdout
    r = run(["agents", "approve", held[0].id, "--text", "Edited by hand."], env)
    assert r.returncode == 0, r.stderr
    assert "Published post" in r.stdout
    r = run(["agents", "reject", held[1].id], env)
    assert r.returncode == 0 and "Rejected" in r.stdout
    r = run(["agents", "reject", held[1].id], env)
    assert r.returncode == 1 and "not held" in r.stderr
    r = run(["agents", "activity", "polly"], env)
    assert r.returncode == 0, r.stderr
    assert "Edited by hand." in r.stdout and "rejected" in r.stdout
    assert "0 held for review" in r.stdout
