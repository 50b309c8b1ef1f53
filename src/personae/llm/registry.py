"""The configured backends by name, built from Settings; nothing loads until used.

Each kind of backend is a plugin: an entry point in the `personae.backends` group whose
name is the kind and whose object builds a backend from `(name, BackendSettings)`. The
built-in kinds register the same way (see pyproject.toml), so adding a backend never
means editing this module; docs/backends.md says how to write one.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points
from typing import Protocol, cast

from personae.config import BackendSettings, Settings
from personae.llm.base import Backend, BackendError

GROUP = "personae.backends"


class BackendFactory(Protocol):
    """What a backend plugin's entry point loads: a class or function building one backend."""

    def __call__(self, name: str, settings: BackendSettings, /) -> Backend: ...


def backend_kinds() -> dict[str, EntryPoint]:
    """The installed backend kinds, by name (read from package metadata, nothing imported)."""
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def build_backend(name: str, settings: BackendSettings) -> Backend:
    """One backend from its settings (cheap: models and connections open on first use)."""
    kinds = backend_kinds()
    entry = kinds.get(settings.kind)
    if entry is None:
        installed = ", ".join(sorted(kinds)) or "none (is personae installed? pip install -e .)"
        raise BackendError(
            "bad_request",
            f"Backend {name!r} is of kind {settings.kind!r}, which no installed plugin "
            f"provides; installed kinds: {installed}. Install the plugin's package or "
            f"fix PERSONAE_BACKENDS__{name}__KIND.",
            name,
        )
    # Loading imports only this kind's module: using one kind never imports the others.
    factory = cast(BackendFactory, entry.load())
    backend = factory(name, settings)
    if not isinstance(backend, Backend):
        raise TypeError(
            f"the {settings.kind!r} backend plugin ({entry.value}) built a "
            f"{type(backend).__name__}, not a personae.llm.Backend"
        )
    return backend


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
