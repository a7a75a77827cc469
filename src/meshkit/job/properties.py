"""Job properties: small, durable state and settings of a data job (VDK's properties API).

A properties backend keeps a JSON object per scope: a job name, or ``""`` for the whole workspace.
Backends come from the ``register_properties_backends`` hook and the ``properties_backend`` key
picks one: ``local`` (the metadata database, default), ``env`` (read-only ``MESHKIT_PROPERTY_<NAME>``
variables) or ``memory`` (for tests).
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from meshkit.core.backends import PropertiesBackend
from meshkit.core.errors import ConfigError, UserError
from meshkit.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

ENV_PREFIX = "MESHKIT_PROPERTY_"


def scope_label(scope: str) -> str:
    """How a scope is named in messages."""
    return f"job `{scope}`" if scope else "the workspace"


def check_json(values: dict[str, Any], scope: str) -> None:
    """Raise a UserError naming the first key whose value is not JSON."""
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise UserError(
                f"Property names must be non-empty strings, got {key!r} for {scope_label(scope)}."
            )
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise UserError(
                f"Property `{key}` of {scope_label(scope)} is a {type(value).__name__}, which is not JSON.",
                hint="Store strings, numbers, booleans, lists or dicts.",
            ) from None


class LocalProperties:
    """Properties in the metadata database table ``properties`` (one row per key)."""

    def __init__(self, meshkit: Meshkit):
        self._engine = meshkit.metadata.engine

    def get_all(self, scope: str) -> dict[str, Any]:
        import sqlalchemy as sa

        from meshkit.core.metadata import properties as properties_table

        query = sa.select(properties_table.c.key, properties_table.c.value).where(
            properties_table.c.scope == scope
        )
        with self._engine.connect() as conn:
            return {key: value for key, value in conn.execute(query.order_by(properties_table.c.key))}

    def set_all(self, scope: str, values: dict[str, Any]) -> None:
        import sqlalchemy as sa

        from meshkit.core.metadata import properties as properties_table

        check_json(values, scope)
        now = datetime.now(timezone.utc)
        with self._engine.begin() as conn:
            conn.execute(sa.delete(properties_table).where(properties_table.c.scope == scope))
            if values:
                rows = [{"scope": scope, "key": k, "value": v, "updated_at": now} for k, v in values.items()]
                conn.execute(sa.insert(properties_table), rows)


class EnvProperties:
    """Read-only properties from ``MESHKIT_PROPERTY_<NAME>`` variables, the same for every scope."""

    def __init__(self, meshkit: Meshkit | None = None, environ: dict[str, str] | None = None):
        self._environ = os.environ if environ is None else environ

    def get_all(self, scope: str) -> dict[str, Any]:
        return {
            k[len(ENV_PREFIX) :]: v
            for k, v in self._environ.items()
            if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX)
        }

    def set_all(self, scope: str, values: dict[str, Any]) -> None:
        raise ConfigError(
            "The `env` properties backend is read-only.",
            hint=f"Set environment variables {ENV_PREFIX}<NAME> instead, or use `-c properties_backend=local`.",
        )


class MemoryProperties:
    """Properties in a dict, gone with the process: for tests of jobs and plugins."""

    def __init__(self, meshkit: Meshkit | None = None):
        self._scopes: dict[str, dict[str, Any]] = {}

    def get_all(self, scope: str) -> dict[str, Any]:
        return json.loads(json.dumps(self._scopes.get(scope, {})))

    def set_all(self, scope: str, values: dict[str, Any]) -> None:
        check_json(values, scope)
        self._scopes[scope] = json.loads(json.dumps(values))


def properties_backend(meshkit: Meshkit) -> PropertiesBackend:
    """The properties backend configured for ``meshkit`` (key ``properties_backend``)."""
    return meshkit.backend("properties")


@hookimpl
def register_properties_backends():
    return {"local": LocalProperties, "env": EnvProperties, "memory": MemoryProperties}


@hookimpl
def configure(config):
    config.add(
        "properties_backend",
        "local",
        "Where job properties live: local (metadata DB), env, memory or a plugin's.",
    )
