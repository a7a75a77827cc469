"""Credential references in specs and config: ``env:VAR``, ``secret:NAME`` and Fybrik-style ``vaultPath``.

Specs committed to git hold references, never values; they are resolved at run time, in memory,
and every resolved value is registered for redaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from meshkit.core.errors import ConfigError


def is_reference(value: Any) -> bool:
    """Whether ``value`` is a reference (``env:VAR``, ``secret:NAME`` or ``{vaultPath: ...}``), safe to show."""
    if isinstance(value, dict):
        return set(value) == {"vaultPath"}
    return isinstance(value, str) and value.partition(":")[0] in ("env", "secret") and ":" in value


def resolve(
    value: Any,
    *,
    get_secret: Callable[[str], str | None] = lambda name: None,
    redact: Callable[[str], None] = lambda value: None,
) -> Any:
    """The value a reference stands for; other values are returned unchanged.

    ``{"vaultPath": "/v1/kv/db"}`` is looked up as the secret named by the path. Without
    ``get_secret`` only ``env:`` references can be resolved.
    """
    if not is_reference(value):
        return value
    if isinstance(value, dict):
        value = f"secret:{value['vaultPath']}"
    kind, _, name = value.partition(":")
    if kind == "env":
        if name not in os.environ:
            raise ConfigError(
                f"Environment variable `{name}` is not set (referenced as `{value}`).",
                hint=f"export {name}=...",
            )
        resolved = os.environ[name]
    else:
        resolved = get_secret(name)
        if resolved is None:
            raise ConfigError(
                f"Secret `{name}` is not set (referenced as `{value}`).", hint=f"meshkit secrets set {name}"
            )
    redact(str(resolved))
    return resolved
