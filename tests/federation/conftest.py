"""Shared by the federation tests."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from personae.accounts import service as account_service


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2 at its smallest cost: sign-ups stay real but take milliseconds."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(account_service, "_hasher", cheap)
