"""Settings: `PERSONAE_*` environment variables, then an optional TOML file, then defaults.

Every field here is listed in docs/settings.md; a test fails when one is not.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

APP_NAME = "personae"


def default_data_dir() -> Path:
    """Per-user data folder: $XDG_DATA_HOME/personae, else ~/.local/share/personae."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME


class SamplerSettings(BaseModel):
    """Samplers beyond temperature and top_p, with the bounds every form and API checks.

    Unset (None) ones are not sent. The bounds are SillyTavern's, narrowed to what
    makes sense: a repeat penalty under 1 would reward repetition.
    """

    model_config = ConfigDict(extra="forbid")

    min_p: float | None = Field(default=None, ge=0, le=1)
    top_k: int | None = Field(default=None, ge=0, le=1000)
    repeat_penalty: float | None = Field(default=None, ge=1, le=2)
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    dry_multiplier: float | None = Field(default=None, ge=0, le=5)
    dry_base: float | None = Field(default=None, ge=1, le=4)
    dry_allowed_length: int | None = Field(default=None, ge=1, le=20)
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)


# The embedded backend's defaults, tuned so the bundled 135M model stops looping
# (measured with bench/repetition.py; see docs/benchmarks.md).
SMALL_MODEL_SAMPLERS = SamplerSettings(
    min_p=0.1,
    top_k=40,
    repeat_penalty=1.1,
    dry_multiplier=0.8,
    dry_base=1.75,
    dry_allowed_length=2,
)


class BackendSettings(BaseModel):
    """One named model backend."""

    # A backend plugin's name (entry point group `personae.backends`): the built-ins are
    # "embedded", "openai" and "fake"; an unknown kind fails when the backends are built,
    # naming the installed ones.
    kind: str = "embedded"
    # embedded: a GGUF file; empty means the bundled SmolLM2-135M-Instruct.
    model_path: str = ""
    n_parallel: int = Field(default=4, ge=1, le=64)
    # 4 slots x 4096 tokens: room for a long card definition plus a real chat history.
    n_ctx: int = Field(default=16384, ge=512, le=1_048_576)
    n_threads: int = Field(default=0, ge=0, le=256)
    # openai: an OpenAI-compatible server.
    base_url: str = ""
    api_key: SecretStr = SecretStr("")
    model: str = ""
    context_window: int = Field(default=8192, ge=512, le=10_000_000)
    timeout_s: float = Field(default=60.0, gt=0, le=3600)
    max_retries: int = Field(default=3, ge=0, le=10)
    # Which samplers the server accepts: "openai", "vllm" or "llamacpp"; empty means
    # llamacpp for the embedded kind and openai for the others.
    samplers: Literal["openai", "vllm", "llamacpp"] | None = None
    # What replies use when a character sets none; empty means SMALL_MODEL_SAMPLERS for
    # the embedded kind and the server's own defaults for the others.
    sampler_defaults: SamplerSettings | None = None
    # Anything else a plugin backend reads (free-form: each plugin documents its own).
    options: dict[str, Any] = Field(default_factory=dict)


def _default_backends() -> dict[str, BackendSettings]:
    return {"embedded": BackendSettings(kind="embedded")}


class Settings(BaseSettings):
    """Instance settings."""

    model_config = SettingsConfigDict(
        env_prefix="PERSONAE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str = ""
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    base_url: str = ""
    secret_key: SecretStr = SecretStr("")
    backends: dict[str, BackendSettings] = Field(default_factory=_default_backends)
    default_backend: str = "embedded"
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # Any other request body (JSON, forms); as large as a card's JSON may be.
    max_request_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    max_message_chars: int = Field(default=20_000, ge=1)
    reply_max_tokens: int = Field(default=300, ge=1, le=32_768)
    # The most one reply may be asked for through /v1 (admins may change it at runtime).
    chat_max_tokens: int = Field(default=2048, ge=1, le=32_768)
    session_days: int = Field(default=30, ge=1, le=3650)
    # Accounts: token lifetimes, sign-in and sign-up throttles, password hashing.
    api_token_days: int = Field(default=90, ge=1, le=3650)
    api_token_max_days: int = Field(default=365, ge=1, le=3650)
    login_failures_per_account_address: int = Field(default=10, ge=1, le=1_000_000)
    login_failures_per_address: int = Field(default=50, ge=1, le=1_000_000)
    login_failures_per_account: int = Field(default=200, ge=1, le=1_000_000)
    login_window_s: int = Field(default=900, ge=10, le=7 * 86_400)
    signups_per_address: int = Field(default=10, ge=1, le=1_000_000)
    signup_window_s: int = Field(default=3600, ge=10, le=7 * 86_400)
    password_hash_threads: int = Field(default=2, ge=1, le=64)
    password_hash_queue: int = Field(default=32, ge=0, le=100_000)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    feed_ranker: Literal["balanced", "chronological"] = "balanced"
    # Autonomous characters: jobs, scheduling and instance-wide limits.
    broker_url: str = ""
    agents_tick_s: float = Field(default=15.0, gt=0, le=3600)
    agents_lease_s: float = Field(default=300.0, ge=5, le=86_400)
    agents_max_attempts: int = Field(default=4, ge=1, le=20)
    agents_retry_base_s: float = Field(default=30.0, ge=0, le=86_400)
    agents_post_max_tokens: int = Field(default=100, ge=8, le=4096)
    agents_posts_per_day: int = Field(default=2000, ge=0, le=10_000_000)
    agents_replies_per_hour: int = Field(default=500, ge=0, le=10_000_000)
    agents_tokens_per_day: int = Field(default=5_000_000, ge=0, le=10_000_000_000)
    agents_max_ai_turns: int = Field(default=2, ge=0, le=50)
    agents_reflect_every: int = Field(default=20, ge=1, le=10_000)
    agents_model_importance: bool = True
    # Moderation of autonomous output before it is published.
    moderation_blocked_terms: list[str] = Field(default_factory=list)
    moderation_allow_links: bool = False
    moderation_max_mentions: int = Field(default=3, ge=0, le=50)
    moderation_max_chars: int = Field(default=500, ge=1, le=3000)
    moderation_repeat_window: int = Field(default=20, ge=0, le=1000)
    moderation_backend: str = ""
    # Federation (ActivityPub): remote fetches, deliveries and inbound signatures.
    federation_allow_private_addresses: bool = False
    federation_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    federation_fetch_timeout_s: float = Field(default=10.0, gt=0, le=300)
    federation_signature_skew_s: int = Field(default=3600, ge=30, le=86_400)
    federation_signature_max_age_s: int = Field(default=12 * 3600, ge=0, le=7 * 86_400)
    federation_inbox_requests_per_minute: int = Field(default=300, ge=1, le=1_000_000)
    federation_delivery_max_attempts: int = Field(default=10, ge=1, le=100)
    federation_delivery_base_delay_s: float = Field(default=60.0, ge=0.01, le=86_400)
    federation_delivery_max_delay_s: float = Field(default=6 * 3600.0, ge=0.01, le=7 * 86_400)
    federation_worker_tick_s: float = Field(default=2.0, gt=0, le=3600)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Environment wins over the TOML file named by PERSONAE_CONFIG."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("PERSONAE_CONFIG")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, else a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'personae.db'}"

    @property
    def effective_base_url(self) -> str:
        """Public URL of this instance."""
        return self.base_url.rstrip("/") or f"http://{self.host}:{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings read once per process (tests build their own Settings instead)."""
    return Settings()


def settings_from(**overrides: Any) -> Settings:
    """Settings with explicit overrides, for tests and the CLI."""
    return Settings(**overrides)
