"""A tiny real HTTP server that answers chat completions from a script, for retry tests."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def sse(texts: list[str], finish: str = "stop") -> list[bytes]:
    """Server-sent events of a chat-completion stream carrying `texts`."""
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": None}]} for t in texts
    ]
    chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append(
        {
            "choices": [],
            "usage": {"prompt_tokens": 5, "completion_tokens": len(texts)},
        }
    )
    events = [f"data: {json.dumps(c)}\n\n".encode() for c in chunks]
    return [*events, b"data: [DONE]\n\n"]


@dataclass
class Reply:
    """One scripted answer: a status with a JSON body, or a stream, optionally cut or late."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: list[str] | None = None
    delay_s: float = 0.0
    cut_after: int | None = None  # close the connection after this many stream events


@dataclass
class ScriptedServer:
    """A tiny real HTTP server answering /v1/chat/completions from a script."""

    url: str
    script: list[Reply]
    requests: list[tuple[str, float]]  # (path, monotonic time)
    bodies: list[Any] = field(default_factory=list)  # the JSON request bodies, in order

    @property
    def chat_requests(self) -> list[float]:
        """Times of the chat-completion requests received."""
        return [t for path, t in self.requests if path.endswith("/chat/completions")]


@contextmanager
def scripted_server() -> Iterator[ScriptedServer]:
    """Start a scripted server on a free port; it answers 404 to anything but chat."""
    state = ScriptedServer(url="", script=[], requests=[])

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            state.requests.append((self.path, time.monotonic()))
            try:
                state.bodies.append(json.loads(raw or b"null"))
            except ValueError:
                state.bodies.append(None)
            if not self.path.endswith("/chat/completions") or not state.script:
                self._json(404, {"error": {"message": "not found"}})
                return
            reply = state.script.pop(0)
            time.sleep(reply.delay_s)
            if reply.stream is None:
                self._json(reply.status, reply.body or {}, reply.headers)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for i, event in enumerate(sse(reply.stream)):
                if reply.cut_after is not None and i >= reply.cut_after:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(event)
                self.wfile.flush()

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] = {}) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # clients that time out leave broken pipes behind; that is the point

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
