"""Chat through the API with the real bundled model: stream, swipes, edits, branches."""

from __future__ import annotations

from typing import Any

import httpx

from personae.llm.base import BackendError
from personae.llm.fake import FakeBackend
from tests.api.sse import stream_events


async def make_character(
    client: httpx.AsyncClient, headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {
        "name": "Captain Mira",
        "description": "{{char}} is a cheerful starship captain who loves tea.",
        "personality": "brave, warm",
        "first_mes": "Welcome aboard, {{user}}!",
        "alternate_greetings": ["Ahoy, {{user}}. Tea?"],
        **fields,
    }
    r = await client.post("/api/v1/characters", headers=headers, json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def open_chat(
    client: httpx.AsyncClient, headers: dict[str, str], character: str
) -> dict[str, Any]:
    r = await client.post("/api/v1/conversations", headers=headers, json={"character": character})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def test_chat_streams_a_reply_from_the_bundled_model(
    client: httpx.AsyncClient, alice: dict[str, str], db_kind: str
) -> None:
    character = await make_character(client, alice)
    conv = await open_chat(client, alice, character["handle"])
    greeting = conv["messages"][0]
    assert greeting["content"] == "Welcome aboard, alice!"
    assert greeting["swipe_count"] == 2
    events = await stream_events(
        client,
        f"/api/v1/conversations/{conv['id']}/messages",
        alice,
        {"content": "Hello captain, what do you drink?"},
    )
    names = [n for n, _ in events]
    assert names[0] == "start" and names[-1] == "done"
    assert names.count("token") >= 2
    text = "".join(d["text"] for n, d in events if n == "token")
    done = events[-1][1]
    assert done["message"]["content"] == text.strip()
    gen = done["message"]["generation"]
    assert gen["backend"] == "embedded" and "SmolLM2" in gen["model"]
    assert gen["prompt_tokens"] > 20 and gen["completion_tokens"] > 0
    assert gen["ttft_ms"] > 0 and gen["duration_ms"] >= gen["ttft_ms"]
    assert gen["finish_reason"] in ("stop", "length")
    shown = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=alice)).json()
    assert [m["role"] for m in shown["messages"]] == ["assistant", "user", "assistant"]
    assert shown["messages"][-1]["id"] == done["message"]["id"]


async def test_regenerate_makes_swipes_and_select_switches(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend
) -> None:
    character = await make_character(client, alice, backend="fake")
    conv = await open_chat(client, alice, character["id"])
    cid = conv["id"]
    fake_backend.enqueue("First answer.")
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=alice,
        json={"content": "hi", "stream": False},
    )
    assert r.status_code == 200, r.text
    first = r.json()["message"]
    fake_backend.enqueue("Second answer.")
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages/{first['id']}/regenerate",
        headers=alice,
        json={"stream": False},
    )
    second = r.json()["message"]
    assert second["parent_id"] == first["parent_id"]
    assert second["swipe_index"] == 1 and second["swipe_count"] == 2
    shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()
    assert shown["messages"][-1]["content"] == "Second answer."
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages/{first['id']}/select", headers=alice
    )
    assert r.json()["messages"][-1]["content"] == "First answer."
    # Switching the greeting swipe shows the alternate greeting and no later messages.
    alt = r.json()["messages"][0]["sibling_ids"][1]
    r = await client.post(f"/api/v1/conversations/{cid}/messages/{alt}/select", headers=alice)
    assert [m["content"] for m in r.json()["messages"]] == ["Ahoy, alice. Tea?"]


async def test_edit_delete_and_branch(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend, db_kind: str
) -> None:
    character = await make_character(client, alice, backend="fake")
    cid = (await open_chat(client, alice, character["id"]))["id"]
    for text in ("one", "two"):
        fake_backend.enqueue(f"reply to {text}")
        r = await client.post(
            f"/api/v1/conversations/{cid}/messages",
            headers=alice,
            json={"content": text, "stream": False},
        )
        assert r.status_code == 200
    shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"]
    assert [m["content"] for m in shown] == [
        "Welcome aboard, alice!",
        "one",
        "reply to one",
        "two",
        "reply to two",
    ]
    user_one = shown[1]["id"]
    r = await client.patch(
        f"/api/v1/conversations/{cid}/messages/{user_one}", headers=alice, json={"content": "ONE"}
    )
    assert r.status_code == 200 and r.json()["edited_at"]
    # Branch inside the tree: a new message under "reply to one".
    fake_backend.enqueue("branch reply")
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=alice,
        json={"content": "other path", "parent_id": shown[2]["id"], "stream": False},
    )
    assert r.status_code == 200
    shown2 = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"]
    assert [m["content"] for m in shown2][-2:] == ["other path", "branch reply"]
    assert shown2[3]["swipe_count"] == 2  # "two" and "other path" are siblings
    # Branch into a new conversation copying the path up to "reply to one".
    r = await client.post(
        f"/api/v1/conversations/{cid}/branch", headers=alice, json={"message_id": shown[2]["id"]}
    )
    assert r.status_code == 201
    assert [m["content"] for m in r.json()["messages"]] == [
        "Welcome aboard, alice!",
        "ONE",
        "reply to one",
    ]
    # Delete "other path": its reply goes too; the view moves to the sibling branch.
    r = await client.delete(
        f"/api/v1/conversations/{cid}/messages/{shown2[3]['id']}", headers=alice
    )
    assert r.status_code == 200
    assert [m["content"] for m in r.json()["messages"]][-2:] == ["two", "reply to two"]


async def test_backend_failure_ends_with_error_event_and_saves_no_reply(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend
) -> None:
    character = await make_character(client, alice, backend="fake")
    cid = (await open_chat(client, alice, character["id"]))["id"]
    fake_backend.enqueue(BackendError("unavailable", "The model server is down; start it.", "fake"))
    events = await stream_events(
        client, f"/api/v1/conversations/{cid}/messages", alice, {"content": "hello?"}
    )
    assert [n for n, _ in events] == ["start", "error"]
    assert events[-1][1] == {
        "code": "backend_unavailable",
        "message": "The model server is down; start it.",
    }
    shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"]
    assert [m["role"] for m in shown] == ["assistant", "user"]  # the user's message stays, no reply
    # Regenerating under the user message now works.
    fake_backend.enqueue("back online")
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages/{shown[1]['id']}/regenerate",
        headers=alice,
        json={"stream": False},
    )
    assert r.status_code == 200 and r.json()["message"]["content"] == "back online"


async def test_timeout_and_unknown_backend_are_clear_errors(
    client: httpx.AsyncClient, alice: dict[str, str], fake_backend: FakeBackend
) -> None:
    character = await make_character(client, alice, backend="fake")
    cid = (await open_chat(client, alice, character["id"]))["id"]
    fake_backend.enqueue(BackendError("timeout", "No answer within 60 s.", "fake"))
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages",
        headers=alice,
        json={"content": "x", "stream": False},
    )
    assert r.status_code == 504 and r.json()["error"]["code"] == "backend_timeout"
    other = await make_character(client, alice, name="Ghost", backend="nonexistent")
    cid2 = (await open_chat(client, alice, other["id"]))["id"]
    r = await client.post(
        f"/api/v1/conversations/{cid2}/messages", headers=alice, json={"content": "x"}
    )
    assert r.status_code == 422 and "nonexistent" in r.json()["error"]["message"]
    shown = (await client.get(f"/api/v1/conversations/{cid2}", headers=alice)).json()["messages"]
    assert [m["role"] for m in shown] == ["assistant"]  # nothing half-saved


async def test_context_overflow_is_refused_before_saving(
    client: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    character = await make_character(client, alice)
    cid = (await open_chat(client, alice, character["id"]))["id"]
    huge = "word " * 19_000
    r = await client.post(
        f"/api/v1/conversations/{cid}/messages", headers=alice, json={"content": huge[:19_999]}
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "context_overflow"
    shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"]
    assert len(shown) == 1


async def test_conversations_are_private(
    client: httpx.AsyncClient,
    alice: dict[str, str],
    bob: dict[str, str],
    fake_backend: FakeBackend,
    db_kind: str,
) -> None:
    character = await make_character(client, alice, backend="fake", visibility="public")
    conv = await open_chat(client, alice, character["id"])
    cid, mid = conv["id"], conv["messages"][0]["id"]
    for method, url, body in [
        ("GET", f"/api/v1/conversations/{cid}", None),
        ("DELETE", f"/api/v1/conversations/{cid}", None),
        ("POST", f"/api/v1/conversations/{cid}/messages", {"content": "hi"}),
        ("PATCH", f"/api/v1/conversations/{cid}/messages/{mid}", {"content": "hacked"}),
        ("DELETE", f"/api/v1/conversations/{cid}/messages/{mid}", None),
        ("POST", f"/api/v1/conversations/{cid}/messages/{mid}/select", None),
        ("POST", f"/api/v1/conversations/{cid}/branch", {"message_id": mid}),
    ]:
        r = await client.request(method, url, headers=bob, json=body)
        assert r.status_code == 404, (method, url, r.text)
        r = await client.request(method, url, json=body)
        assert r.status_code == 401, (method, url)
    assert (await client.get("/api/v1/conversations", headers=bob)).json() == []
    # Bob can chat with the public character in his own conversation.
    assert (
        await client.post(
            "/api/v1/conversations", headers=bob, json={"character": character["handle"]}
        )
    ).status_code == 201


async def test_bad_chat_input(client: httpx.AsyncClient, alice: dict[str, str]) -> None:
    character = await make_character(client, alice, backend="fake")
    cid = (await open_chat(client, alice, character["id"]))["id"]
    url = f"/api/v1/conversations/{cid}/messages"
    for body in (
        {"content": ""},
        {"content": "   "},
        {},
        {"content": 5},
        {"content": "x", "parent_id": "nope"},
        {"content": "x" * 20_001},
        {"content": "x", "extra": 1},
    ):
        r = await client.post(url, headers=alice, json=body)
        assert r.status_code in (404, 422), (body, r.text)
    r = await client.post(
        url,
        headers=alice,
        content=b"{not json",
    )
    assert r.status_code == 422
    shown = (await client.get(f"/api/v1/conversations/{cid}", headers=alice)).json()["messages"]
    assert len(shown) == 1
    r = await client.post("/api/v1/conversations", headers=alice, json={"character": "missing"})
    assert r.status_code == 404
