"""Engines: where SQL runs (DuckDB embedded by default, Spark for data that outgrows one machine).

Engine classes come from the ``register_engines`` hook; ``[engines.NAME]`` tables of
``meshkit.toml`` configure named engines (``type = "spark"``, ``master = "spark://..."``...), and
the ``engine`` config key names the workspace default. ``open_engine`` gives the engine a spec or
a command chose::

    [engines.cluster]
    type = "spark"
    master = "spark://10.0.0.5:7077"
    "spark.executor.memory" = "2g"
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import ConfigError

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.data.stores.base import Store
    from meshkit.engines.base import Engine, Relation

__all__ = ["Engine", "Relation", "engine_class", "engine_names", "engine_types", "open_engine"]


def __getattr__(name: str):
    # NOTE: the base module imports pyarrow and sqlglot: loaded when an engine is used, not at start-up.
    if name in ("Engine", "Relation"):
        from meshkit.engines import base

        return getattr(base, name)
    raise AttributeError(name)


def engine_types(meshkit: Meshkit) -> dict[str, type[Engine]]:
    """Every registered engine class by its ``type``."""
    return meshkit.registry("engines")


def engine_class(type_name: str, meshkit: Meshkit | None = None) -> type[Engine] | None:
    """The engine class registered as ``type_name`` (among the built-in ones without ``meshkit``), or ``None``."""
    if meshkit is not None:
        return engine_types(meshkit).get(type_name)
    from meshkit.engines.plugin import register_engines

    entry = register_engines().get(type_name)
    return None if entry is None else entry.load()


def _settings(meshkit: Meshkit) -> dict[str, dict[str, Any]]:
    return dict(meshkit.workspace.settings.get("engines", {}))


def engine_names(meshkit: Meshkit) -> list[str]:
    """The engines a spec or ``--engine`` may name: those of ``meshkit.toml`` and the built-in ``duckdb``."""
    return sorted({"duckdb", *_settings(meshkit)})


def open_engine(meshkit: Meshkit, name: str | None = None, *, stores: tuple[Store, ...] = (),
                where: str | None = None) -> Engine:  # fmt: skip
    """The engine ``name`` (default: the ``engine`` config key), ready to run; the caller closes it.

    ``stores`` are the stores the work touches: DuckDB runs in the file of a DuckDB store among them.
    ``where`` names the spec field or option that chose the engine, for errors.
    """
    name = name or meshkit.config.get("engine") or "duckdb"
    settings = _settings(meshkit)
    if name not in settings and name != "duckdb":
        close = difflib.get_close_matches(name, engine_names(meshkit), n=1)
        hint = f"Did you mean `{close[0]}`? " if close else ""
        raise ConfigError(f"Unknown engine `{name}`.", where=where,
                          hint=f"{hint}Engines: {', '.join(engine_names(meshkit))}; declare others in meshkit.toml "
                               "[engines.NAME] with a `type`.")  # fmt: skip
    options = dict(settings.get(name, {"type": "duckdb"}))
    type_name = options.pop("type", None)
    types = engine_types(meshkit)
    if type_name not in types:
        raise ConfigError(f"Engine `{name}` has {'no `type`' if type_name is None else f'the unknown type `{type_name}`'}.",
                          where=f"meshkit.toml [engines.{name}]",
                          hint=f"Engine types: {', '.join(sorted(types))} (plugins add others).")  # fmt: skip
    cls = types[type_name]
    return cls.open(name, options, meshkit, stores=stores)
