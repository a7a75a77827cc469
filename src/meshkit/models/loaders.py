"""Nodes declared in properties YAML: sources, generic data tests and unit tests."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit.models.configuration import DEFAULTS, config_for, config_trees, configured, merge_config
from meshkit.models.context import RenderError, RenderState
from meshkit.models.datatests import apply_macro_config
from meshkit.models.exceptions import ModelCompileError
from meshkit.models.nodes import Node, Relation, Source
from meshkit.models.properties import column_specs, test_specs

if TYPE_CHECKING:
    from meshkit.models.project import Project

_REF_ARG = re.compile(r"""^\s*(?:\{\{)?\s*ref\(\s*['"]([^'"]+)['"]\s*\)\s*(?:\}\})?\s*$""")
_SOURCE_ARG = re.compile(
    r"""^\s*(?:\{\{)?\s*source\(\s*['"]([^'"]+)['"]\s*,\s*['"]([^'"]+)['"]\s*\)\s*(?:\}\})?\s*$"""
)


def add_sources(project: Project, props, package: str) -> None:
    """The sources declared in ``package``'s properties YAML."""
    for entry in props.sources:
        for table in entry.get("tables") or []:
            uid = f"source.{package}.{entry['name']}.{table['name']}"
            # NOTE: dbt's schema of a source is its name; a workspace's jobs and transfers write to its schema
            default_schema = project.profile.schema if project.kind == "workspace" else entry["name"]
            relation = Relation(table.get("database") or entry.get("database") or project.profile.database,
                                table.get("schema") or entry.get("schema") or default_schema,
                                table.get("identifier") or table["name"])  # fmt: skip
            project.sources[uid] = Source(
                uid, entry["name"], table["name"], relation, entry["__file__"], table.get("description", ""),
                column_specs(table), {**(entry.get("meta") or {}), **(table.get("meta") or {})},
                list(table.get("checks") or []), test_specs(table, entry["__where__"]),
                table.get("loaded_at_field") or entry.get("loaded_at_field"), table.get("freshness") or entry.get("freshness"),
            )  # fmt: skip


def resolve_relation_arg(project: Project, value: str, where: str, node: Node) -> tuple[str, str]:
    """``(unique id, rendered relation)`` of a test argument such as ``ref('customers')``, for ``node``."""
    ref, src = _REF_ARG.match(str(value)), _SOURCE_ARG.match(str(value))
    try:
        if ref:
            uid = project.ref_uid(ref.group(1), node)
            return uid, project._relation_to(uid)
        if src:
            uid = project.source_uid(src.group(1), src.group(2), node)
            return uid, project.sources[uid].relation.render()
    except RenderError as exc:
        raise ModelCompileError(exc.message, where=where) from None
    raise ModelCompileError(
        f"Cannot read the relation `{value}`.",
        where=where,
        hint="Write `ref('model')` or `source('src', 'table')`.",
    )


def test_names(test: str, target: str, args: dict[str, Any]) -> tuple[str, str]:
    """dbt's synthesized test names: ``(short, full)``; the short one is hashed past 63 characters."""
    flat: list[str] = []
    for key in sorted(args):
        value = args[key]
        parts = (
            list(value.values())
            if isinstance(value, dict)
            else list(value)
            if isinstance(value, list | tuple)
            else [value]
        )
        flat += [re.sub(r"[^0-9a-zA-Z_]+", "_", str(p)) for p in parts]
    identifier = f"{test}_{target}"
    full = f"{identifier}_{'__'.join(flat)}"
    if len(full) >= 64:
        return f"{identifier[:30]}_{hashlib.md5(full.encode()).hexdigest()}", full
    return full, full


def test_digest(name: str, metadata: dict[str, Any]) -> str:
    """The suffix of a generic test's unique id, as dbt computes it from its name and arguments."""

    def hashable(value: Any) -> Any:
        if type(value) is dict:
            return {k: hashable(value[k]) for k in sorted(value)}
        if type(value) is list:
            return [hashable(v) for v in value]
        return str(value)

    return hashlib.md5(f"{name}{hashable(metadata)!r}".encode()).hexdigest()[-10:]


def macro_package(renderer, name: str, namespace: str | None) -> str:
    """The package whose macro ``name`` a call resolves to (``dbt`` for dbt's own)."""
    macro = renderer.find_macro(name, namespace)
    return next((pkg for pkg, macros in renderer.packages.items() if macros.get(name) is macro), "dbt")


def add_tests(project: Project, props, package: str) -> None:
    """Generic data tests of ``package``'s properties YAML on models, seeds, snapshots and sources;
    singular tests got their deps at render."""
    layers = [*(p.settings for p in project.packages if p.name == package), project.settings]
    trees, written = config_trees(layers, "test"), config_trees(layers, "test", written=True)
    renderer = project.renderer
    targets: list[tuple[str, str, list, bool]] = []
    for key in ("models", "seeds", "snapshots"):
        for name, entry in props.resources[key].items():
            uid = project.by_package.get((package, name))
            if uid is not None and project.nodes[uid].resource_type + "s" == key:
                targets.append((uid, name, test_specs(entry, entry["__where__"]), False))
    for uid, source in project.sources.items():
        if uid.split(".")[1] == package:
            targets.append((uid, f"{source.source_name}_{source.name}", source.tests, True))
    package_root = next((p.root for p in project.packages if p.name == package), project.root)
    for attached, label, specs, is_source in targets:
        where = (
            project.nodes[attached].yaml_where
            if attached in project.nodes
            else project.sources[attached].path
        )
        if is_source:
            source = project.sources[attached]
            model_arg = f"source('{source.source_name}', '{source.name}')"
        else:
            model_arg = f"ref('{project.nodes[attached].name}')"
        for column, test, args, config in specs:
            args = dict(args)
            column = column or args.pop("column_name", None)
            namespace, _, short = test.rpartition(".")
            namespace = namespace or None
            depends = [attached]
            kind = ("source_" if is_source else "") + (f"{namespace}_{short}" if namespace else short)
            name_args = {**args, **({"column_name": column} if column else {})}
            short_name, full_name = test_names(kind, label, name_args)
            name = config.pop("name", None) or full_name
            if "alias" not in config and short_name != full_name and name == full_name:
                config["alias"] = short_name
            path = where.split(":")[0]
            # as dbt: the folders of the YAML file below the resource folder, then the test's name
            folders = Path(os.path.relpath(project.root / path, package_root)).parts[1:-1]
            node = Node("", "test", name, package, Path(project.root / path), path, fqn=[package, *folders, name],
                        depends_on=depends, yaml_where=where)  # fmt: skip
            config = renderer.native(config, where, RenderState(node, project._final_ref, project._source))
            if config.get("enabled", True) in (False, "false", "False"):
                continue
            node.unrendered_config = configured(written, package, [], config, written=True)
            node.config = merge_config(DEFAULTS["test"], configured(trees, package, [], config))
            node.test = {"name": short, "namespace": namespace, "kwargs": args, "column_name": column,
                         "attached": attached, "config": dict(config)}  # fmt: skip
            if test == "relationships":
                if "to" not in args or "field" not in args:
                    raise ModelCompileError("A `relationships` test needs `to` and `field`.", where=where)
                to_uid, to_rel = resolve_relation_arg(project, args["to"], where, node)
                node.test["kwargs"] = {**args, "to": to_rel}
                depends.append(to_uid)
            elif namespace or test not in ("not_null", "unique", "accepted_values"):
                if renderer.find_macro(f"test_{short}", namespace) is None:
                    raise ModelCompileError(f"Unknown test `{test}`.", where=where,
                                            hint=f"Define it with `{{% test {short}(model, column_name) %}}` in tests/generic/ or macros/, "
                                            "or install the package that has it (meshkit deps).")  # fmt: skip
                state = RenderState(node, project._final_ref, project._source)
                renderer.native(args, where, state)
                for ref_package, ref_name in state.refs:
                    depends.append(project.ref_uid(ref_name, node, ref_package))
                for source_name, table in state.sources:
                    depends.append(project.source_uid(source_name, table, node))
                apply_macro_config(project, node)
            metadata = {"namespace": namespace, "name": short,
                        "kwargs": {**{k: v for k, v in args.items() if k != "description"},
                                   **({"column_name": column} if column else {}),
                                   "model": f"{{{{ get_where_subquery({model_arg}) }}}}"}}  # fmt: skip
            node.unique_id = f"test.{package}.{name}.{test_digest(name, metadata)}"
            node.macros = [f"macro.{macro_package(renderer, f'test_{short}', namespace)}.test_{short}",
                           "macro.dbt.get_where_subquery"]  # fmt: skip
            node.depends_on = list(dict.fromkeys(depends))
            project.nodes[node.unique_id] = node


def add_unit_tests(project: Project, props) -> None:
    for entry in props.unit_tests:
        model = entry.get("model")
        if model not in project.by_name:
            raise ModelCompileError(
                f"Unit test `{entry['name']}` names no model `{model}`.", where=entry["__where__"]
            )
        if "expect" not in entry:
            raise ModelCompileError(f"Unit test `{entry['name']}` has no `expect`.", where=entry["__where__"])
        model_uid = project.by_name[model]
        uid = f"unit_test.{project.name}.{model}.{entry['name']}"
        project.nodes[uid] = Node(uid, "unit_test", entry["name"], project.name, project.root / entry["__file__"],
                                  entry["__file__"], config=config_for("unit_test", None, project.name, [], entry.get("config") or {}),
                                  fqn=[project.name, model, entry["name"]], depends_on=[*project.nodes[model_uid].depends_on],
                                  yaml_where=entry["__where__"], unit={**entry, "model_uid": model_uid})  # fmt: skip
