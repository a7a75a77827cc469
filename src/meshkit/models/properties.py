"""Properties YAML (``schema.yml``): models, seeds, snapshots, sources, unit tests and their data tests.

Files are read with the C YAML loader; entries keep the line they start on so errors can name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.core import specs
from meshkit.core.specs import YamlDocument
from meshkit.models.exceptions import ModelCompileError

RESOURCE_KEYS = ("models", "seeds", "snapshots")
_IGNORED_KEYS = {
    "version",
    "macros",
    "exposures",
    "metrics",
    "semantic_models",
    "saved_queries",
    "groups",
    "analyses",
}
BUILTIN_TESTS = ("not_null", "unique", "accepted_values", "relationships")
_TEST_CONFIG_KEYS = {"severity", "warn_if", "error_if", "where", "limit", "fail_calc", "enabled", "tags", "meta",
                     "store_failures", "store_failures_as", "alias", "schema", "database"}  # fmt: skip


@dataclass
class Properties:
    """Everything the properties files of a project declare, by name."""

    resources: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {k: {} for k in RESOURCE_KEYS}
    )
    sources: list[dict[str, Any]] = field(default_factory=list)
    unit_tests: list[dict[str, Any]] = field(default_factory=list)


def read_yaml(path: Path, rel: str) -> YamlDocument:
    """Parse a YAML file once, keeping the lines of its nodes; a syntax error names the file and line."""
    return specs.read_yaml(path, rel, error=ModelCompileError)


def load_properties(files: list[tuple[Path, str]]) -> Properties:
    """Merge the properties files ``(path, relative path)`` of a project."""
    props = Properties()
    for path, rel in files:
        document = read_yaml(path, rel)
        data = document.data
        if not data:
            continue
        if not isinstance(data, dict):
            raise ModelCompileError(
                "A properties file must be a mapping.", where=rel, hint="Start with `version: 2`."
            )
        for key, entries in data.items():
            if key in _IGNORED_KEYS:
                continue
            if key not in (*RESOURCE_KEYS, "sources", "unit_tests"):
                raise ModelCompileError(f"Unknown top-level key `{key}`.", where=document.where((key,)),
                                        hint="Use models, seeds, snapshots, sources or unit_tests.")  # fmt: skip
            for index, entry in enumerate(entries or []):
                if not isinstance(entry, dict) or "name" not in entry:
                    raise ModelCompileError(
                        f"Every entry under `{key}` needs a `name`.", where=document.where((key,))
                    )
                entry = {**entry, "__where__": document.where((key, index, "name")), "__file__": rel}
                if key == "sources":
                    props.sources.append(entry)
                elif key == "unit_tests":
                    props.unit_tests.append(entry)
                else:
                    if entry["name"] in props.resources[key]:
                        raise ModelCompileError(
                            f"`{entry['name']}` is described twice under `{key}`.", where=entry["__where__"]
                        )
                    props.resources[key][entry["name"]] = entry
    return props


def column_specs(entry: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``columns:`` of an entry by name (a list in YAML)."""
    columns = {}
    for col in entry.get("columns") or []:
        if isinstance(col, dict) and "name" in col:
            columns[col["name"]] = col
    return columns


def test_specs(
    entry: dict[str, Any], where: str
) -> list[tuple[str | None, str, dict[str, Any], dict[str, Any]]]:
    """Generic tests of an entry and its columns: ``(column, test name, arguments, config)``."""
    out = []
    for column, tests in [
        (None, _tests_of(entry)),
        *((c["name"], _tests_of(c)) for c in column_specs(entry).values()),
    ]:
        for spec in tests:
            name, args = _split_test(spec, where)
            config = dict(args.pop("config", None) or {})
            for key in list(args):
                if key in _TEST_CONFIG_KEYS:
                    config[key] = args.pop(key)
            args = {**args.pop("arguments", {}), **args}
            custom_name = args.pop("name", None)
            if custom_name:
                config["name"] = custom_name
            out.append((column, name, args, config))
    return out


def _tests_of(entry: dict[str, Any]) -> list[Any]:
    return [*(entry.get("data_tests") or []), *(entry.get("tests") or [])]


def _split_test(spec: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(spec, str):
        name, args = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1:
        name, args = next(iter(spec.items()))
        args = dict(args or {})
    elif isinstance(spec, dict) and "test_name" in spec:
        args = dict(spec)
        name = args.pop("test_name")
    else:
        raise ModelCompileError(
            f"Cannot read the test `{spec}`.",
            where=where,
            hint="Write `- not_null` or `- accepted_values: {values: [...]}`.",
        )
    if name.startswith("dbt."):
        name = name.split(".", 1)[1]
    return name, args
