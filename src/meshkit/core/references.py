"""Credential references in specs: ``env:VAR``, ``secret:NAME`` and Fybrik-style ``vaultPath``.

Specs committed to git hold references, never values; they are resolved at run time, in memory,
and every resolved value is registered for redaction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from meshkit.core.errors import ConfigError


def resolve(value: Any, *, get_secret: Callable[[str], str | None], redact: Callable[[str], None]) -> Any:
    """The value a reference stands for; other values are returned unchanged.

    ``{"vaultPath": "/v1/kv/db"}`` is looked up as the secret named by the path.
    """
    if isinstance(value, dict) and set(value) == {"vaultPath"}:
        value = f"secret:{value['vaultPath']}"
    if not isinstance(value, str):
        return value
    kind, sep, name = value.partition(":")
    if not sep or kind not in ("env", "secret"):
        return value
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
