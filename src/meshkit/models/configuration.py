"""Node configuration: the vocabularies, the defaults and dbt's layering of ``config``.

A node's config is merged, lowest first, from the defaults of its resource type, the folder tree in
``dbt_project.yml`` (``models: my_project: staging: +materialized: view``), its properties YAML
(``config:``), and finally the ``config(...)`` call in its SQL file.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

Materialization = Literal["view", "table", "incremental", "ephemeral", "seed", "snapshot", "test", "unit"]
MATERIALIZATIONS: tuple[str, ...] = get_args(Materialization)

IncrementalStrategy = Literal["append", "merge", "delete+insert", "insert_overwrite"]
INCREMENTAL_STRATEGIES: tuple[str, ...] = get_args(IncrementalStrategy)

OnSchemaChange = Literal["ignore", "fail", "append_new_columns", "sync_all_columns"]
ON_SCHEMA_CHANGE: tuple[str, ...] = get_args(OnSchemaChange)

ResourceType = Literal["model", "seed", "snapshot", "test", "unit_test"]

#: Defaults per resource type (dbt's defaults).
DEFAULTS: dict[str, dict[str, Any]] = {
    "model": {
        "enabled": True,
        "materialized": "view",
        "tags": [],
        "on_schema_change": "ignore",
        "contract": {"enforced": False},
    },
    "seed": {"enabled": True, "materialized": "seed", "tags": [], "column_types": {}, "delimiter": ","},
    "snapshot": {"enabled": True, "materialized": "snapshot", "tags": [], "strategy": "timestamp"},
    "test": {
        "enabled": True,
        "materialized": "test",
        "tags": [],
        "severity": "ERROR",
        "warn_if": "!= 0",
        "error_if": "!= 0",
        "fail_calc": "count(*)",
    },  # fmt: skip
    "unit_test": {"enabled": True, "materialized": "unit", "tags": []},
}

#: Config keys whose values add up across layers instead of replacing each other.
_ADDITIVE = {"tags": list, "pre_hook": list, "post_hook": list, "meta": dict}
#: Keys of ``dbt_project.yml`` folder trees that configure rather than name a subfolder.
_ALIASES = {"pre-hook": "pre_hook", "post-hook": "post_hook", "data_tests": "tests"}


def normalize_key(key: str) -> str:
    key = key[1:] if key.startswith("+") else key
    return _ALIASES.get(key, key)


def merge_config(base: dict[str, Any], layer: dict[str, Any], written: bool = False) -> dict[str, Any]:
    """``layer`` on top of ``base``; tags, hooks and meta accumulate as dbt does. ``written``: a value
    set once stays as written (a hook as its string), as in dbt's ``unrendered_config``."""
    out = dict(base)
    for raw_key, value in layer.items():
        key = normalize_key(raw_key)
        kind = _ADDITIVE.get(key)
        if written and key not in out:
            out[key] = value
            continue
        if kind is list:
            values = [value] if isinstance(value, str) else list(value or [])
            out[key] = [*out.get(key, []), *(v for v in values if v not in out.get(key, []))]
        elif kind is dict:
            out[key] = {**out.get(key, {}), **(value or {})}
        else:
            out[key] = value
    return out


def folder_config(
    tree: dict[str, Any] | None, project_name: str, parts: list[str], written: bool = False
) -> dict[str, Any]:
    """The config a ``dbt_project.yml`` tree gives a node at folder ``parts`` (without the file name).

    Keys starting with ``+`` always configure; a plain key configures unless its value is a mapping
    (a subfolder) -- dbt's rule.
    """
    config: dict[str, Any] = {}
    if not tree:
        return config
    node: Any = tree.get(project_name, {}) if project_name in tree else {}
    config = merge_config(config, _own(tree), written)
    for part in [None, *parts]:
        if part is not None:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict):
            break
        config = merge_config(config, _own(node), written)
    return config


def _own(node: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in node.items()
        if k.startswith("+")
        or not isinstance(v, dict)
        or k in ("+meta", "meta", "contract", "column_types", "persist_docs")
    }


def configured(tree: dict[str, Any] | list[dict[str, Any] | None] | None, project_name: str, parts: list[str],
               *layers: dict[str, Any], written: bool = False) -> dict[str, Any]:  # fmt: skip
    """What the project says of a node, without defaults: the project tree (or trees: a package's own,
    then the root project's), then each of ``layers`` (properties YAML, in-file ``config``).
    ``written`` keeps values as written (dbt's ``unrendered_config``)."""
    config: dict[str, Any] = {}
    for one in tree if isinstance(tree, list) else [tree]:
        config = merge_config(config, folder_config(one, project_name, parts, written), written)
    for layer in layers:
        if layer:
            config = merge_config(config, layer, written)
    return config


def config_for(resource_type: str, tree: dict[str, Any] | list[dict[str, Any] | None] | None, project_name: str,
               parts: list[str], *layers: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The defaults of ``resource_type`` under what the project configures (``configured``)."""
    return merge_config(DEFAULTS[resource_type], configured(tree, project_name, parts, *layers))


#: Where a settings dict keeps its config trees as written, before rendering.
WRITTEN = "__written__"


def config_trees(
    layers: list[dict[str, Any]], resource: str, written: bool = False
) -> list[dict[str, Any] | None]:
    """The config trees for ``resource`` in each of the ``dbt_project.yml`` settings ``layers``."""
    key = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "data_tests"}[resource]
    out = []
    for settings in layers:
        source = settings.get(WRITTEN, settings) if written else settings
        out.append(source.get(key) or (source.get("tests") if resource == "test" else None))
    return out
