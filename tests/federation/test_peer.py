"""Against a real ActivityPub peer written outside this project: fediverse-pasture.

`../shared/peers/fediverse-pasture.sh` installs it (from PyPI, into `.peer/venv`) and runs
its `one_actor` (an actor with a signed inbox, port 2910) and `verify_actor` (a checker,
port 2917) on loopback. A real `personae run` process, with federation allowed to reach
private addresses, plays our side. The tests run in order: each builds on the last.
"""

from __future__ import annotations

import ast
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import REPO, SHARED, free_port

PEER_SCRIPT = SHARED / "peers" / "fediverse-pasture.sh"
PEER_DIR = REPO / ".peer"
ONE_ACTOR = "http://127.0.0.1:2910"
VERIFY = "http://127.0.0.1:2917"
PASSWORD = "correct horse battery"
CHARACTER = "peer_friend"
AP = {"Accept": "application/activity+json"}

# The peer's own client (bovine) sends a Follow from its actor; run in the peer's venv.
FOLLOW_SCRIPT = """
import asyncio, secrets, sys
from fediverse_pasture.one_actor import bovine_actor_and_session

async def main(target):
    async with bovine_actor_and_session(sys.argv[2]) as (actor, _, _session):
        inbox = (await actor.get(target))["inbox"]
        follow = {
            "@context": "https://www.w3.org/ns/activitystreams",
            "type": "Follow",
            "id": actor.actor_id + "/follows/" + secrets.token_hex(8),
            "actor": actor.actor_id,
            "object": target,
        }
        response = await actor.post(inbox, follow)
        print(response.status)

asyncio.run(main(sys.argv[1]))
"""


@dataclass
class Peer:
    """The running peer: where it lives and what its inbox received."""

    directory: Path

    @property
    def python(self) -> str:
        """The peer's own interpreter."""
        return str(self.directory / "venv" / "bin" / "python")

    def received(self) -> list[dict[str, Any]]:
        """Every activity the peer's inbox accepted so far (it logs each at ERROR level)."""
        found: list[dict[str, Any]] = []
        for line in (self.directory / "one.log").read_text(errors="replace").splitlines():
            start = line.find("{")
            if "one_actor_app" not in line or start < 0:
                continue
            try:
                value = ast.literal_eval(line[start:])
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, dict):
                found.append(value)
        return found

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the peer's Python in its `one` folder (where its keys are)."""
        return subprocess.run(
            [self.python, *args],
            cwd=self.directory / "one",
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


@dataclass
class Instance:
    """Our side: a `personae run` process and a signed-in person's token."""

    base_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization for the person's API calls."""
        return {"Authorization": f"Bearer {self.token}"}

    def character_id(self) -> str:
        """The character's ActivityPub id."""
        return f"{self.base_url}/users/{CHARACTER}"


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    """fediverse-pasture, installed on first use and started on loopback."""
    PEER_DIR.mkdir(exist_ok=True)
    started = subprocess.run(
        ["bash", str(PEER_SCRIPT), "start", str(PEER_DIR)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert started.returncode == 0, started.stderr[-3000:]
    try:
        yield Peer(PEER_DIR)
    finally:
        subprocess.run(["bash", str(PEER_SCRIPT), "stop", str(PEER_DIR)], check=False)


@pytest.fixture(scope="module")
def instance(tmp_path_factory: pytest.TempPathFactory, peer: Peer) -> Iterator[Instance]:
    """`personae run` on a free loopback port, federating with private addresses allowed."""
    data_dir = tmp_path_factory.mktemp("federating-instance")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PERSONAE_DATA_DIR": str(data_dir),
        "PERSONAE_PORT": str(port),
        "PERSONAE_BASE_URL": base_url,
        "PERSONAE_BROKER_URL": "",
        "PERSONAE_DATABASE_URL": "",
        "PERSONAE_AGENTS_TICK_S": "0.5",
        "PERSONAE_FEDERATION_ALLOW_PRIVATE_ADDRESSES": "true",
        "PERSONAE_FEDERATION_WORKER_TICK_S": "0.5",
        "PERSONAE_LOG_LEVEL": "info",
    }
    log_path = data_dir / "server.log"
    log = log_path.open("wb")
    command = [str(Path(sys.executable).parent / "personae"), "run", "--no-demo"]
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    try:
        _wait_until_up(base_url, process, log_path)
        token = _sign_up_with_character(base_url)
        yield Instance(base_url, token)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if os.environ.get("PERSONAE_TEST_KEEP_LOGS"):
            print(log_path.read_text()[-5000:])


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        if process.poll() is not None:
            raise RuntimeError(log_path.read_text()[-3000:])
        try:
            if httpx.get(f"{base_url}/nodeinfo/2.1", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("personae run did not start in 90 s")
        time.sleep(0.3)


def _sign_up_with_character(base_url: str) -> str:
    """A person with a public character that acts on its own and answers within seconds."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        made = client.post("/api/v1/accounts", json={"username": "ada", "password": PASSWORD})
        assert made.status_code == 201, made.text
        token = client.post(
            "/api/v1/auth/token", json={"username": "ada", "password": PASSWORD}
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        character = client.post(
            "/api/v1/characters",
            headers=headers,
            json={
                "name": "Peer Friend",
                "handle": CHARACTER,
                "description": "A cheerful lighthouse keeper who loves talking about the sea.",
                "personality": "warm, curious, brief",
                "visibility": "public",
            },
        )
        assert character.status_code == 201, character.text
        autonomy = client.put(
            f"/api/v1/characters/{CHARACTER}/autonomy",
            headers=headers,
            json={
                "enabled": True,
                "active_from": 0,
                "active_until": 24,
                "reply_delay_min_s": 1,
                "reply_delay_max_s": 2,
                "approval_mode": False,
            },
        )
        assert autonomy.status_code == 200, autonomy.text
        return str(token)


def wait_for(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


def test_verify_actor_fetches_our_character_and_checks_signatures(instance: Instance) -> None:
    actor_uri = instance.character_id()
    answer = httpx.get(
        f"{VERIFY}/",
        params={"actor_uri": actor_uri},
        headers={"Accept": "application/json"},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    report = answer.json()
    result = report["result"]
    messages = report["messages"]
    assert result["webfinger"] is True, messages
    # Actors that sign their POSTs (some also demand signed fetches of their own key).
    for name in ("bob", "claire", "emily", "frank"):
        assert result[name] == {"get_actor": True, "post_inbox": True}, (name, messages)
    # Actors that POST without a signature: fetching works, the inbox refuses them.
    for name in ("alice", "dean"):
        assert result[name] == {"get_actor": True, "post_inbox": False}, (name, messages)


def test_peer_follows_the_character_and_gets_an_accept(instance: Instance, peer: Peer) -> None:
    target = instance.character_id()
    sent = peer.run("-c", FOLLOW_SCRIPT, target, ONE_ACTOR)
    assert sent.returncode == 0, sent.stderr[-3000:]
    assert sent.stdout.strip() in ("200", "201", "202"), sent.stdout

    def accept_received() -> dict[str, Any] | None:
        for activity in peer.received():
            inner = activity.get("object")
            if (
                activity.get("type") == "Accept"
                and activity.get("actor") == target
                and isinstance(inner, dict)
                and inner.get("type") == "Follow"
                and inner.get("actor") == f"{ONE_ACTOR}/actor"
            ):
                return activity
        return None

    wait_for(accept_received, 60, "the Accept of the peer's Follow")
    followers = httpx.get(f"{target}/followers", headers=AP, timeout=10).json()
    assert followers["totalItems"] == 1
    # Our side lists the remote follower too.
    listed = httpx.get(
        f"{instance.base_url}/api/v1/actors/{CHARACTER}/followers", headers=instance.headers
    ).json()
    handles = [item["handle"] for item in listed["items"]]
    assert "actor@127.0.0.1:2910" in handles


def test_the_characters_next_post_reaches_the_peers_inbox(instance: Instance, peer: Peer) -> None:
    text = f"The fog horn sounded twice tonight {secrets.token_hex(3)}"
    posted = httpx.post(
        f"{instance.base_url}/api/v1/posts",
        params={"as": CHARACTER},
        headers=instance.headers,
        json={"text": text},
        timeout=30,
    )
    assert posted.status_code == 201, posted.text
    post_id = posted.json()["id"]
    note_id = f"{instance.character_id()}/statuses/{post_id}"

    def create_received() -> dict[str, Any] | None:
        for activity in peer.received():
            note = activity.get("object")
            if (
                activity.get("type") == "Create"
                and isinstance(note, dict)
                and note.get("id") == note_id
            ):
                return activity
        return None

    activity = wait_for(create_received, 60, "the character's post in the peer's inbox")
    note = activity["object"]
    assert activity["actor"] == instance.character_id()
    assert note["attributedTo"] == instance.character_id()
    assert text in note["content"]
    assert "https://www.w3.org/ns/activitystreams#Public" in note["to"]


def test_peer_mentions_the_character_and_receives_its_reply(instance: Instance, peer: Peer) -> None:
    target = instance.character_id()
    words = f"hello lighthouse keeper, how is the sea today? {secrets.token_hex(3)}"
    sent = peer.run(
        "-m",
        "fediverse_pasture.send",
        "--domain",
        ONE_ACTOR,
        "--text",
        words,
        "--mention",
        target,
    )
    assert sent.returncode == 0, (sent.stdout[-2000:], sent.stderr[-3000:])

    def stored_mention() -> dict[str, Any] | None:
        answer = httpx.get(
            f"{instance.base_url}/api/v1/notifications",
            headers=instance.headers,
            params={"as": CHARACTER},
            timeout=10,
        )
        if answer.status_code != 200:
            return None
        for item in answer.json()["items"]:
            if item["kind"] == "mention" and item.get("post") and words in json.dumps(item):
                return item
        return None

    mention = wait_for(stored_mention, 60, "the peer's mention to arrive here")
    mention_uri = mention["post"].get("uri")

    def reply_received() -> dict[str, Any] | None:
        for activity in peer.received():
            note = activity.get("object")
            if (
                activity.get("type") == "Create"
                and isinstance(note, dict)
                and note.get("attributedTo") == target
                and note.get("inReplyTo")
                and str(note["inReplyTo"]).startswith(ONE_ACTOR)
                and (mention_uri is None or note["inReplyTo"] == mention_uri)
            ):
                return note
        return None

    reply = wait_for(reply_received, 240, "the character's reply in the peer's inbox")
    assert reply["content"].strip()
    assert any(
        tag.get("type") == "Mention" and tag.get("href") == f"{ONE_ACTOR}/actor"
        for tag in reply.get("tag", [])
    ), reply
