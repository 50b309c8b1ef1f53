"""Settings: every one documented, environment and TOML both read, bad values refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from personae.config import BackendSettings, Settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "settings.md"


def documented_names() -> set[str]:
    return set(re.findall(r"^\| `([a-z_]+)` \|", DOC.read_text(), flags=re.MULTILINE))


def test_every_setting_is_documented() -> None:
    names = documented_names()
    missing = [f for f in [*Settings.model_fields, *BackendSettings.model_fields] if f not in names]
    assert not missing, f"add these settings to docs/settings.md: {missing}"
    assert "config" in names  # PERSONAE_CONFIG itself


def test_environment_and_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "personae.toml"
    toml.write_text(
        'port = 9000\nreply_max_tokens = 50\n[backends.gpu]\nkind = "openai"\n'
        'base_url = "http://gpu:8000/v1"\nmodel = "m"\n'
    )
    monkeypatch.setenv("PERSONAE_CONFIG", str(toml))
    monkeypatch.setenv("PERSONAE_PORT", "9100")  # the environment wins over the file
    monkeypatch.setenv("PERSONAE_DATA_DIR", str(tmp_path / "d"))
    settings = Settings()
    assert settings.port == 9100
    assert settings.reply_max_tokens == 50
    assert settings.backends["gpu"].base_url == "http://gpu:8000/v1"
    assert settings.effective_database_url.endswith(str(tmp_path / "d" / "personae.db"))


def test_nested_backend_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERSONAE_BACKENDS__EMBEDDED__N_PARALLEL", "2")
    settings = Settings()
    assert settings.backends["embedded"].n_parallel == 2


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PERSONAE_PORT", "70000"),
        ("PERSONAE_LOG_LEVEL", "loud"),
        ("PERSONAE_REPLY_MAX_TOKENS", "0"),
    ],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, var: str, value: str) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError):
        Settings()


def test_unknown_setting_in_toml_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text("prot = 1\n")
    monkeypatch.setenv("PERSONAE_CONFIG", str(toml))
    with pytest.raises(ValidationError):
        Settings()
