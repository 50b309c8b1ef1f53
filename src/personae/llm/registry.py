"""The configured backends by name, built from Settings; nothing loads until used."""

from __future__ import annotations

from personae.config import BackendSettings, Settings
from personae.llm.base import Backend, BackendError


def build_backend(name: str, settings: BackendSettings) -> Backend:
    """One backend from its settings (cheap: models and connections open on first use)."""
    # Imported here so that using only one kind never imports the others' modules.
    if settings.kind == "embedded":
        from personae.llm.embedded import EmbeddedBackend

        return EmbeddedBackend(name, settings)
    if settings.kind == "openai":
        from personae.llm.openai_compat import OpenAICompatBackend

        return OpenAICompatBackend(name, settings)
    from personae.llm.fake import FakeBackend

    return FakeBackend(name, context_window=settings.context_window)


class BackendRegistry:
    """Backends by configured name, with a default."""

    def __init__(self, default: str = "") -> None:
        self._backends: dict[str, Backend] = {}
        self.default = default
        # Names admins added at runtime (personae.instance), kept apart from configured ones.
        self.managed: set[str] = set()

    @classmethod
    def from_settings(cls, settings: Settings) -> BackendRegistry:
        """One backend per entry of `settings.backends`."""
        registry = cls(settings.default_backend)
        for name, backend_settings in settings.backends.items():
            registry.register(name, build_backend(name, backend_settings))
        return registry

    def register(self, name: str, backend: Backend) -> None:
        """Add or replace a backend (tests use this to put in a FakeBackend)."""
        self._backends[name] = backend
        if not self.default:
            self.default = name

    def unregister(self, name: str) -> Backend | None:
        """Remove a backend and return it (the caller closes it); None when unknown."""
        self.managed.discard(name)
        return self._backends.pop(name, None)

    def names(self) -> list[str]:
        """The configured backend names, in configuration order."""
        return list(self._backends)

    def get(self, name: str | None = None) -> Backend:
        """The backend called `name`, or the default one when `name` is None."""
        wanted = self.default if name is None else name
        backend = self._backends.get(wanted)
        if backend is None:
            available = ", ".join(self._backends) or "none"
            what = "default backend" if name is None else "backend"
            raise BackendError(
                "bad_request",
                f"There is no {what} named {wanted!r}; configured: {available}. "
                "Check PERSONAE_DEFAULT_BACKEND and PERSONAE_BACKENDS.",
                wanted,
            )
        return backend

    async def aclose(self) -> None:
        """Close every backend, even when one of them fails to close."""
        errors: list[Exception] = []
        for backend in self._backends.values():
            try:
                await backend.aclose()
            except Exception as exc:  # close the rest, then report
                errors.append(exc)
        if errors:
            raise errors[0]
