"""The `personae` command line, run as a real process on a fresh data folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from personae.cards import parse_card
from tests.conftest import CARDS_DIR, free_port

BIN = Path(sys.executable).parent / "personae"


def run(
    args: list[str], env: dict[str, str], stdin: str = "", timeout: int = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], input=stdin, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PERSONAE_")}
    return {**clean, "PERSONAE_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}


def test_users_import_export_and_chat(env: dict[str, str], tmp_path: Path) -> None:
    r = run(["import", str(CARDS_DIR / "default_Seraphina.png")], env)
    assert r.returncode == 1 and "personae users create" in r.stderr
    assert run(["db", "upgrade"], env).returncode == 0
    r = run(["users", "create", "root", "--password-stdin"], env, stdin="longpassword\n")
    assert r.returncode == 0 and "admin" in r.stdout
    r = run(["users", "create", "root", "--password-stdin"], env, stdin="longpassword\n")
    assert r.returncode == 1 and "taken" in r.stderr
    r = run(["import", str(CARDS_DIR / "default_Seraphina.png")], env)
    assert r.returncode == 0, r.stderr
    handle = r.stdout.strip()
    assert handle == "seraphina"
    for ext in ("png", "json", "charx"):
        out = tmp_path / f"out.{ext}"
        r = run(["export", handle, "-o", str(out)], env)
        assert r.returncode == 0, r.stderr
        assert (
            parse_card(out.read_bytes(), out.name).card
            == parse_card((CARDS_DIR / "default_Seraphina.png").read_bytes()).card
        )
    r = run(["export", handle, "-o", str(tmp_path / "out.txt")], env)
    assert r.returncode == 1 and ".charx" in r.stderr
    r = run(["export", "nobody", "-o", str(tmp_path / "x.json")], env)
    assert r.returncode == 1 and "no character" in r.stderr
    r = run(["import", str(tmp_path / "missing.png")], env)
    assert r.returncode == 1 and "no such file" in r.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    r = run(["import", str(bad)], env)
    assert r.returncode == 1 and "JSON" in r.stderr
    r = run(["chat", handle], env, stdin="Hello, who are you?\n/quit\n")
    assert r.returncode == 0, r.stderr
    # The greeting, then (after the "you:" prompt, whose input is not echoed) the reply.
    replies = [line for line in r.stdout.splitlines() if line.startswith(f"you: {handle}: ")]
    assert r.stdout.startswith(f"{handle}: ") and replies and len(replies[0]) > 20


def test_serve_starts_with_no_configuration_and_streams_a_chat(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/openapi.json").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=60) as c:
            c.post("/api/v1/accounts", json={"username": "first", "password": "longenough"})
            token = c.post(
                "/api/v1/auth/token", json={"username": "first", "password": "longenough"}
            ).json()["token"]
            h = {"Authorization": f"Bearer {token}"}
            ch = c.post(
                "/api/v1/characters",
                headers=h,
                json={"name": "Pip", "first_mes": "Hi!", "sampling": {"max_tokens": 30}},
            ).json()
            cid = c.post(
                "/api/v1/conversations", headers=h, json={"character": ch["handle"]}
            ).json()["id"]
            events = []
            with c.stream(
                "POST",
                f"/api/v1/conversations/{cid}/messages",
                headers=h,
                json={"content": "Hello Pip"},
            ) as resp:
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        events.append(line[7:])
                    elif line.startswith("data: ") and events[-1] == "done":
                        done = json.loads(line[6:])
            assert events[0] == "start" and "token" in events and events[-1] == "done"
            assert done["message"]["content"]
            assert c.get("/").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert (Path(env["PERSONAE_DATA_DIR"]) / "personae.db").is_file()


def test_demo_seeds_a_fresh_instance_once(env: dict[str, str]) -> None:
    r = run(["demo"], env)
    assert r.returncode == 0, r.stderr
    assert "Seeded 4 people, 6 characters, 48 posts" in r.stdout
    assert "first account you sign up becomes the admin" in r.stdout
    r = run(["demo", "--if-empty"], env)
    assert r.returncode == 0, r.stderr
    assert "The instance already has data; nothing seeded." in r.stdout
    r = run(["demo"], env)
    assert r.returncode == 1 and "mara_okafor" in r.stderr and "taken" in r.stderr
    # Demo people are never admins, so the first real account is.
    r = run(["users", "create", "root", "--password-stdin"], env, stdin="longpassword\n")
    assert r.returncode == 0 and "admin" in r.stdout
