"""Purposes: the declared vocabulary of why data is read, and the roles granted each purpose.

Policy data (``policies/*.json``) declares them under ``purposes``; the roles listed are the only
ones that may read for that purpose, and at most one purpose is the ``default`` of a read that
names none::

    {"purposes": {
        "analytics": {"roles": ["analyst", "steward"], "default": true},
        "marketing": {"roles": ["marketer"], "description": "Campaigns to consenting customers."}}}

Every channel (governed SQL, Flight, transfers, ``meshkit policy eval``) passes the purpose it was
given through ``normalize_purpose``, the one normalisation: surrounding spaces dropped, case folded,
blank meaning none. A purpose that is missing without a default, not declared, or not granted to
the reader's role is refused before any policy is evaluated.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from meshkit.core.errors import ConfigError, UserError

#: The longest purpose name a reader may give (longer ones are refused unread).
MAX_PURPOSE_LENGTH = 100


def normalize_purpose(value: str | None) -> str | None:
    """The purpose as policies see it: stripped and case-folded; ``None`` when missing or blank.

    >>> normalize_purpose("  Marketing ")
    'marketing'
    >>> normalize_purpose("") is None
    True
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise UserError(f"A purpose is a name such as `analytics`, not {type(value).__name__}.")
    normal = value.strip().casefold()
    if len(normal) > MAX_PURPOSE_LENGTH:
        raise UserError(f"A purpose name has at most {MAX_PURPOSE_LENGTH} characters.")
    return normal or None


class _Purpose(BaseModel):
    model_config = ConfigDict(extra="forbid")

    roles: list[str]
    default: bool = False
    description: str | None = None


@dataclass(frozen=True)
class Purposes:
    """The declared purposes: ``{purpose: roles granted it}`` and the default purpose."""

    granted: dict[str, frozenset[str]] = field(default_factory=dict)
    default: str | None = None

    def resolve(self, purpose: str | None) -> str | None:
        """The purpose a read is decided for: ``purpose`` normalised, or the default when it is missing."""
        return normalize_purpose(purpose) or self.default

    def for_role(self, role: str | None) -> list[str]:
        """The purposes ``role`` may read for."""
        return sorted(p for p, roles in self.granted.items() if role in roles)

    def refusal(self, role: str | None, purpose: str | None) -> str | None:
        """Why ``role`` may not read for ``purpose`` (already resolved), or ``None`` when it may."""
        if not self.granted:
            return "no purposes are declared (`purposes` in policies/*.json), so no read is allowed"
        allowed = self.for_role(role)
        may = (
            f"role `{role}` may read for: {', '.join(allowed)}"
            if allowed
            else f"role `{role}` is granted no purpose"
        )
        if purpose is None:
            return f"no purpose was given and none is declared the default ({may})"
        if purpose not in self.granted:
            return f"purpose `{purpose}` is not declared ({may})"
        if purpose not in allowed:
            return f"purpose `{purpose}` is not granted to role `{role}` ({may})"
        return None


def load_purposes(paths: Iterable[Path], where: Callable[[Path], str]) -> Purposes:
    """The ``purposes`` declared in the policy data files ``paths``; a ConfigError names the file and key."""
    found: tuple[str, dict] | None = None
    for path in paths:
        try:
            data = json.loads(path.read_bytes())
        except (ValueError, RecursionError) as exc:
            raise ConfigError(
                f"Cannot load policy data: {exc}.", where=where(path), hint="Fix the JSON."
            ) from None
        if not isinstance(data, dict) or "purposes" not in data:
            continue
        if found is not None:
            raise ConfigError(f"`purposes` is declared in {found[0]} too.", where=where(path),
                              hint="Declare every purpose in one policy data file.")  # fmt: skip
        found = (where(path), data["purposes"])
    if found is None:
        return Purposes()
    return _parse(*found)


def _parse(where: str, declared: object) -> Purposes:
    if not isinstance(declared, dict):
        raise ConfigError("`purposes` must map each purpose to its grant, e.g. "
                          '{"analytics": {"roles": ["analyst"]}}.', where=where)  # fmt: skip
    granted, defaults = {}, []
    for name, entry in declared.items():
        if not name or name != name.strip().casefold():
            raise ConfigError(f"Purpose `{name}` must be written as readers' purposes are compared: "
                              f"lower case, without surrounding spaces (`{name.strip().casefold()}`).", where=where,
                              hint="Policies compare `input.purpose` with that form too.")  # fmt: skip
        try:
            spec = _Purpose.model_validate(entry)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(str(p) for p in ("purposes", name, *first["loc"]))
            raise ConfigError(f"`{key}`: {first['msg']}.", where=where,
                              hint='A purpose is {"roles": [ROLE, ...], "default": false, "description": "..."}.') from None  # fmt: skip
        granted[name] = frozenset(spec.roles)
        if spec.default:
            defaults.append(name)
    if len(defaults) > 1:
        raise ConfigError(f"Purposes {', '.join(f'`{d}`' for d in defaults)} are all marked `default`.",
                          where=where, hint="Mark at most one purpose as the default.")  # fmt: skip
    return Purposes(granted, defaults[0] if defaults else None)
