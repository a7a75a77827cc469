"""Properties and secrets backends: the protocols core reads through, chosen by config.

The backends themselves are plugins (``register_properties_backends``,
``register_secrets_backends``); the job runtime registers the built-in ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from meshkit.core.errors import ConfigError

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


class SecretsBackend(Protocol):
    """Where secrets live. ``scope`` is a job name, or ``""`` for the workspace."""

    def get(self, scope: str, key: str) -> str | None:
        """The secret ``key`` of ``scope``, or ``None``."""

    def get_all(self, scope: str) -> dict[str, str]:
        """All secrets of ``scope``."""

    def set_all(self, scope: str, values: dict[str, str]) -> None:
        """Replace all secrets of ``scope`` with ``values``, at once."""


class PropertiesBackend(Protocol):
    """Where properties live. ``scope`` is a job name, or ``""`` for the workspace."""

    def get_all(self, scope: str) -> dict[str, Any]:
        """All properties of ``scope`` (an empty dict when it has none)."""

    def set_all(self, scope: str, values: dict[str, Any]) -> None:
        """Replace all properties of ``scope`` with ``values``, at once."""


def build_backend(meshkit: Meshkit, kind: str) -> Any:
    """The ``{kind}_backend`` (``properties`` or ``secrets``) named by config, built from its registry."""
    key = f"{kind}_backend"
    name = meshkit.config.get(key)
    known = meshkit.registry(f"{kind}_backends")
    if name not in known:
        raise ConfigError(
            f"Unknown {kind} backend `{name}`.",
            where=f"config key `{key}` ({meshkit.config.source(key)})",
            hint=f"Use one of: {', '.join(sorted(known))}.",
        )
    return known[name](meshkit)
