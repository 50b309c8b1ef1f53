"""Samplers reach the model: per dialect in the request body an OpenAI-compatible server
receives (a real local HTTP server records it), and in the embedded llama.cpp engine
(observed in what the bundled model writes)."""

from __future__ import annotations

import pytest
from llm_scripted_server import Reply, ScriptedServer

from personae.config import BackendSettings, SamplerSettings
from personae.llm.base import ChatMessage, GenerationParams, Samplers
from personae.llm.embedded import EmbeddedBackend
from personae.llm.openai_compat import OpenAICompatBackend
from personae.llm.wire import chat_request, effective_params

HELLO: list[ChatMessage] = [{"role": "user", "content": "Say hello."}]
EVERY = Samplers(
    min_p=0.1,
    top_k=40,
    repeat_penalty=1.1,
    frequency_penalty=0.3,
    presence_penalty=0.2,
    dry_multiplier=0.8,
    dry_base=1.75,
    dry_allowed_length=2,
)
SAMPLER_KEYS = {
    "min_p",
    "top_k",
    "repeat_penalty",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "dry_multiplier",
    "dry_base",
    "dry_allowed_length",
}


@pytest.mark.parametrize(
    ("dialect", "expected"),
    [
        ("openai", {"frequency_penalty": 0.3, "presence_penalty": 0.2}),
        (
            "vllm",
            {
                "frequency_penalty": 0.3,
                "presence_penalty": 0.2,
                "min_p": 0.1,
                "top_k": 40,
                "repetition_penalty": 1.1,
            },
        ),
        (
            "llamacpp",
            {
                "frequency_penalty": 0.3,
                "presence_penalty": 0.2,
                "min_p": 0.1,
                "top_k": 40,
                "repeat_penalty": 1.1,
                "dry_multiplier": 0.8,
                "dry_base": 1.75,
                "dry_allowed_length": 2,
            },
        ),
    ],
)
async def test_each_dialect_sends_only_its_samplers(
    scripted: ScriptedServer, dialect: str, expected: dict[str, float]
) -> None:
    settings = BackendSettings(
        kind="openai",
        base_url=scripted.url,
        model="m",
        samplers=dialect,  # type: ignore[arg-type]
    )
    backend = OpenAICompatBackend("remote", settings)
    scripted.script.append(Reply(stream=["Hi"]))
    params = GenerationParams(max_tokens=5, temperature=0.7, top_p=0.9, seed=3, samplers=EVERY)
    done = await backend.complete(HELLO, params)
    await backend.aclose()
    assert done.text == "Hi"
    (body,) = scripted.bodies
    assert {k: v for k, v in body.items() if k in SAMPLER_KEYS} == expected
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["seed"] == 3


async def test_backend_defaults_fill_what_the_character_leaves_unset(
    scripted: ScriptedServer,
) -> None:
    settings = BackendSettings(
        kind="openai",
        base_url=scripted.url,
        samplers="vllm",
        sampler_defaults=SamplerSettings(min_p=0.05, top_k=20, seed=99),
    )
    backend = OpenAICompatBackend("remote", settings)
    scripted.script += [Reply(stream=["a"]), Reply(stream=["b"])]
    await backend.complete(HELLO, GenerationParams(max_tokens=5, samplers=Samplers(top_k=5)))
    await backend.complete(HELLO, GenerationParams(max_tokens=5, seed=1))
    await backend.aclose()
    first, second = scripted.bodies
    assert (first["min_p"], first["top_k"], first["seed"]) == (0.05, 5, 99)
    assert (second["min_p"], second["top_k"], second["seed"]) == (0.05, 20, 1)


async def test_a_remote_server_gets_no_samplers_it_was_not_told(scripted: ScriptedServer) -> None:
    backend = OpenAICompatBackend("remote", BackendSettings(kind="openai", base_url=scripted.url))
    scripted.script.append(Reply(stream=["a"]))
    await backend.complete(HELLO, GenerationParams(max_tokens=5))
    await backend.aclose()
    assert not SAMPLER_KEYS & set(scripted.bodies[0]) and "seed" not in scripted.bodies[0]


def test_structured_outputs_keep_their_own_settings() -> None:
    params = GenerationParams(max_tokens=5, temperature=0.0, json_schema={"type": "object"})
    assert effective_params(params, EVERY, seed=5) is params
    body = chat_request(HELLO, effective_params(params, EVERY, 5), dialect="llamacpp")
    assert not SAMPLER_KEYS & set(body) and "seed" not in body


def test_the_embedded_backend_speaks_llamacpp_with_tuned_defaults() -> None:
    backend = EmbeddedBackend("e", BackendSettings(kind="embedded"))
    assert backend.sampler_dialect == "llamacpp"
    assert backend.sampler_defaults == Samplers(
        min_p=0.1,
        top_k=40,
        repeat_penalty=1.1,
        dry_multiplier=0.8,
        dry_base=1.75,
        dry_allowed_length=2,
    )
    bare = EmbeddedBackend("e", BackendSettings(kind="embedded", sampler_defaults={}))
    assert bare.sampler_defaults == Samplers() and bare.seed_default is None


# --------------------------------------------------------------- the embedded engine

SEA: list[ChatMessage] = [{"role": "user", "content": "Write a long poem about the sea."}]
SORRY: list[ChatMessage] = [{"role": "user", "content": "Say 'I am sorry.' ten times."}]
# Neutral values: with these set explicitly the backend's defaults do not apply.
OFF = Samplers(repeat_penalty=1.0, dry_multiplier=0.0, min_p=0.0, top_k=0)


async def text(backend: EmbeddedBackend, messages: list[ChatMessage], **params: object) -> str:
    """What the backend writes for `messages` (30 tokens unless `params` says otherwise)."""
    settings = GenerationParams(**{"max_tokens": 30, **params})  # type: ignore[arg-type]
    return (await backend.complete(messages, settings)).text


async def test_top_k_reaches_the_engine(embedded: EmbeddedBackend) -> None:
    # Hot sampling differs by seed; keeping the single likeliest token does not.
    wild = [await text(embedded, SEA, temperature=1.5, seed=s, samplers=OFF) for s in (1, 2)]
    assert wild[0] != wild[1]
    greedy = Samplers(top_k=1, repeat_penalty=1.0, dry_multiplier=0.0)
    tame = [await text(embedded, SEA, temperature=1.5, seed=s, samplers=greedy) for s in (1, 2)]
    assert tame[0] == tame[1]


async def test_min_p_reaches_the_engine(embedded: EmbeddedBackend) -> None:
    only_best = Samplers(min_p=1.0, top_k=0, repeat_penalty=1.0, dry_multiplier=0.0)
    tame = [await text(embedded, SEA, temperature=1.5, seed=s, samplers=only_best) for s in (1, 2)]
    assert tame[0] == tame[1]


async def test_repeat_penalty_and_dry_reach_the_engine(embedded: EmbeddedBackend) -> None:
    greedy = Samplers(top_k=1, repeat_penalty=1.0, dry_multiplier=0.0)
    plain = await text(embedded, SORRY, max_tokens=40, temperature=0.0, seed=1, samplers=greedy)
    assert plain.count("sorry") >= 3  # the bundled model, left alone, loops here
    penalised = Samplers(top_k=1, repeat_penalty=1.5, dry_multiplier=0.0)
    dry = Samplers(top_k=1, repeat_penalty=1.0, dry_multiplier=3.0, dry_allowed_length=1)
    for samplers in (penalised, dry):
        changed = await text(
            embedded, SORRY, max_tokens=40, temperature=0.0, seed=1, samplers=samplers
        )
        assert changed != plain


async def test_the_backends_default_samplers_reach_the_engine(embedded: EmbeddedBackend) -> None:
    settings = BackendSettings(
        kind="embedded",
        n_parallel=4,
        n_ctx=4096,
        n_threads=1,  # the same model as `embedded`, already loaded
        sampler_defaults=SamplerSettings(top_k=1, repeat_penalty=1.0, dry_multiplier=0.0),
    )
    backend = EmbeddedBackend("greedy", settings)
    tame = [await text(backend, SEA, temperature=1.5, seed=s) for s in (1, 2)]
    assert tame[0] == tame[1]
    await backend.aclose()
