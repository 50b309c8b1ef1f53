"""What federation code needs from the settings, in one object: addresses, limits, the signer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from personae.config import Settings
from personae.federation import peers
from personae.federation.fetch import ACCEPT, FetchError, fetch_json
from personae.federation.httpsig import Dialect, other
from personae.federation.keys import ensure_instance_key
from personae.federation.signatures import DEFAULT_MAX_AGE_S, Signer
from personae.federation.urls import Urls


@dataclass(frozen=True)
class Federation:
    """The instance's addresses and federation limits (built from Settings, never at import)."""

    urls: Urls
    allow_private: bool = False
    max_body_bytes: int = 1024 * 1024
    timeout_s: float = 10.0
    skew_s: int = 3600
    max_age_s: int = DEFAULT_MAX_AGE_S

    @classmethod
    def from_settings(cls, settings: Settings) -> Federation:
        """The federation view of the settings."""
        return cls(
            urls=Urls.from_base(settings.effective_base_url),
            allow_private=settings.federation_allow_private_addresses,
            max_body_bytes=settings.federation_max_body_bytes,
            timeout_s=settings.federation_fetch_timeout_s,
            skew_s=settings.federation_signature_skew_s,
            max_age_s=settings.federation_signature_max_age_s,
        )

    async def instance_signer(self, session: AsyncSession) -> Signer:
        """The instance actor's signer (its key is made on first use, which commits)."""
        key = await ensure_instance_key(session)
        return Signer(self.urls.key_id(self.urls.instance_actor), key.private_pem)

    async def fetch(self, session: AsyncSession, url: str, accept: str = ACCEPT) -> dict[str, Any]:
        """GET a remote ActivityPub object, signed by the instance actor, within the limits.

        Signed in the dialect the server is known to speak; a 401 is tried once more in the
        other dialect (as Fedify does), since a server may accept only one of them.
        """
        signer = await self.instance_signer(session)
        dialect = await peers.dialect_for(session, url)
        try:
            return await self._fetch(url, signer, accept, dialect)
        except FetchError as exc:
            if exc.status != 401:
                raise
        return await self._fetch(url, signer, accept, other(dialect))

    async def _fetch(
        self, url: str, signer: Signer, accept: str, dialect: Dialect
    ) -> dict[str, Any]:
        return await fetch_json(
            url,
            signer=signer,
            allow_private=self.allow_private,
            max_bytes=self.max_body_bytes,
            timeout_s=self.timeout_s,
            accept=accept,
            dialect=dialect,
        )
