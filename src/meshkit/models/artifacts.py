"""dbt-compatible artifacts (``manifest.json`` v12, ``run_results.json`` v6) and meshkit's own state
(the fingerprints of the last successful build, see ``state.py``)."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit import __version__
from meshkit.models.macro_blocks import dbt_macros, macro_blocks
from meshkit.models.state import STATE_FILE, Fingerprints, read_state

if TYPE_CHECKING:
    from meshkit.models.nodes import Node
    from meshkit.models.project import Project
    from meshkit.models.runner import NodeResult

MANIFEST_SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"
RUN_RESULTS_SCHEMA = "https://schemas.getdbt.com/dbt/run-results/v6.json"


def _metadata(schema: str, invocation_id: str, project: Project) -> dict[str, Any]:
    return {"dbt_schema_version": schema, "dbt_version": "1.10.0", "generated_at": _iso(datetime.now(UTC)),
            "invocation_id": invocation_id, "env": {}, "project_name": project.name, "adapter_type": "duckdb",
            "generator": f"meshkit {__version__}"}  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


#: Config keys named differently in dbt's artifacts.
_DBT_KEYS = {"pre_hook": "pre-hook", "post_hook": "post-hook"}


def _dbt_config(config: dict[str, Any]) -> dict[str, Any]:
    return {_DBT_KEYS.get(k, k): v for k, v in config.items()}


def _raw_code(node: Node) -> str:
    """The node's code as dbt records it: the file's text stripped; a snapshot's block as written; a
    generic test as the call of its macro."""
    if node.test is not None:
        namespace = f"{node.test['namespace']}." if node.test.get("namespace") else ""
        config = ",".join(f"{k}=" + ('"' + v.replace('"', '\\"') + '"' if isinstance(v, str) else str(v))
                          for k, v in node.test.get("config", {}).items())  # fmt: skip
        call = f"{{{{ {namespace}test_{node.test['name']}(**_dbt_generic_test_kwargs) }}}}"
        return call + (f"{{{{ config({config}) }}}}" if config else "")
    if node.resource_type == "snapshot":
        return node.raw_code[node.line_offset :]
    return node.raw_code.strip()


def _relative_path(node: Node) -> str:
    """dbt's ``path``: relative to the resource folder (a generic test's is its own ``.sql`` name)."""
    if node.test is not None:
        return f"{node.config.get('alias') or node.name}.sql"
    folders = (
        node.fqn[1:-2] if node.resource_type == "snapshot" and node.path.suffix == ".sql" else node.fqn[1:-1]
    )
    return "/".join([*folders, node.path.name])


def _contract(node: Node) -> dict[str, Any]:
    """dbt's ``contract``, with the checksum dbt compares for an enforced one (columns without constraints)."""
    enforced = bool((node.config.get("contract") or {}).get("enforced"))
    checksum = None
    if enforced:
        state = "".join(f"|{n}{c.get('data_type')}{_constraints(c.get('constraints'), 'ColumnLevelConstraint')}"
                        for n, c in sorted(node.columns.items()))  # fmt: skip
        if node.materialized in ("table", "incremental"):
            state += node.materialized + _constraints(node.config.get("constraints"), "ModelLevelConstraint")
        checksum = hashlib.sha256(state.encode()).hexdigest()
    return {"enforced": enforced, "alias_types": True, "checksum": checksum}


def _unit_checksum(entry: dict[str, Any]) -> str:
    """dbt's checksum of a unit test: of its model, inputs, expected rows and overrides as dbt prints them."""

    def fixture(kind: str, item: dict[str, Any], with_input: bool) -> str:
        fmt = item.get("format", "dict")
        parts = [*([f"input={item.get('input')!r}"] if with_input else []), f"rows={item.get('rows')!r}",
                 f"format=<UnitTestFormat.{_FORMATS.get(fmt, fmt)}: {fmt!r}>", f"fixture={item.get('fixture')!r}"]  # fmt: skip
        return f"{kind}({', '.join(parts)})"

    entry = _as_written(entry)
    given = ", ".join(fixture("UnitTestInputFixture", g, True) for g in entry.get("given") or [])
    overrides = entry.get("overrides")
    if overrides is not None:
        overrides = (
            "UnitTestOverrides("
            + ", ".join(f"{k}={overrides.get(k) or {}!r}" for k in ("macros", "vars", "env_vars"))
            + ")"
        )
    data = f"{entry.get('model')}-{entry.get('versions')}-[{given}]-{fixture('UnitTestOutputFixture', entry.get('expect') or {}, False)}-{overrides}"
    return hashlib.sha256(data.encode()).hexdigest()


_FORMATS = {"csv": "CSV", "dict": "Dict", "sql": "SQL"}


def _as_written(value: Any) -> Any:
    """YAML values with dates and times back as the text dbt keeps them as."""
    if isinstance(value, dict):
        return {k: _as_written(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_written(v) for v in value]
    return str(value) if isinstance(value, date) else value


def _constraints(items: list[dict[str, Any]] | None, kind: str) -> str:
    """Constraints as dbt prints them into a contract's checksum."""
    out = []
    for c in items or []:
        fields = [f"type=<ConstraintType.{c.get('type')}: {c.get('type')!r}>"]
        fields += [f"{k}={c.get(k, d)!r}" for k, d in (("name", None), ("expression", None), ("warn_unenforced", True),
                                                       ("warn_unsupported", True), ("to", None), ("to_columns", []))]  # fmt: skip
        if kind == "ModelLevelConstraint":
            fields.append(f"columns={c.get('columns', [])!r}")
        out.append(f"{kind}({', '.join(fields)})")
    return f"[{', '.join(out)}]"


def node_entry(project: Project, node: Node) -> dict[str, Any]:
    rel = node.relation
    data = {
        "database": rel.database if rel else project.profile.database, "schema": rel.schema if rel else project.profile.schema,
        "name": node.name, "resource_type": node.resource_type, "package_name": node.package_name,
        "path": _relative_path(node), "original_file_path": node.original_file_path, "unique_id": node.unique_id,
        "fqn": node.fqn, "alias": rel.identifier if rel else node.name,
        "checksum": node.checksum, "config": _dbt_config(node.config),
        "unrendered_config": _dbt_config(node.unrendered_config),
        "tags": node.config.get("tags", []), "description": node.description,
        "columns": {n: {"name": n, "description": c.get("description", ""), "data_type": c.get("data_type"),
                        "meta": c.get("meta", {}), "tags": c.get("tags", [])} for n, c in node.columns.items()},
        "meta": node.config.get("meta", {}),
        "depends_on": {"macros": node.macros, "nodes": node.depends_on},
        "refs": node.ref_entries,
        "sources": [list(s) for s in node.sources], "raw_code": _raw_code(node), "language": "sql",
        "compiled": bool(node.compiled), "compiled_code": node.compiled or None,
        "relation_name": rel.render() if rel and node.is_relational else None,
    }  # fmt: skip
    if node.resource_type == "model":
        data["contract"] = _contract(node)
    if node.resource_type == "operation":
        data.update(path=f"hooks/{node.name}.sql", tags=[node.name.rsplit("-", 1)[0].removeprefix(f"{node.package_name}-")],
                    index=int(node.name.rsplit("-", 1)[1]), relation_name=None, compiled=False, compiled_code=None,
                    contract={"enforced": False, "alias_types": True, "checksum": None})  # fmt: skip
    if node.test is not None:
        data["test_metadata"] = {"name": node.test["name"], "kwargs": {**node.test["kwargs"], "column_name": node.test["column_name"]},
                                 "namespace": node.test.get("namespace")}  # fmt: skip
        data["column_name"] = node.test["column_name"]
        data["attached_node"] = node.test["attached"] if node.test["attached"] in project.nodes else None
    if node.unit is not None:
        data["checksum"] = _unit_checksum(node.unit)
        data["model"] = project.nodes[node.unit["model_uid"]].name
        data["given"] = node.unit.get("given", [])
        data["expect"] = node.unit.get("expect", {})
    return data


def manifest(project: Project, invocation_id: str) -> dict[str, Any]:
    """The project as dbt's ``manifest.json``."""
    nodes = {u: node_entry(project, n) for u, n in project.nodes.items() if n.resource_type != "unit_test"}
    nodes.update({n.unique_id: node_entry(project, n) for n in project.operations})
    sources = {
        u: {"database": s.relation.database, "schema": s.relation.schema, "name": s.name, "source_name": s.source_name,
            "resource_type": "source", "package_name": u.split(".")[1], "path": s.path, "original_file_path": s.path,
            "unique_id": u, "fqn": [u.split(".")[1], s.source_name, s.name], "identifier": s.relation.identifier,
            "description": s.description, "loaded_at_field": s.loaded_at_field, "freshness": s.freshness,
            "columns": {n: {"name": n, "description": c.get("description", "")} for n, c in s.columns.items()},
            "meta": s.meta, "relation_name": s.relation.render()}
        for u, s in project.sources.items()
    }  # fmt: skip
    parent_map = {u: list(n.depends_on) for u, n in project.nodes.items()}
    parent_map.update({u: [] for u in [*project.sources, *(n.unique_id for n in project.operations)]})
    child_map: dict[str, list[str]] = {u: [] for u in parent_map}
    for uid, parents in parent_map.items():
        for parent in parents:
            child_map.setdefault(parent, []).append(uid)
    units = {u: node_entry(project, n) for u, n in project.nodes.items() if n.resource_type == "unit_test"}
    return {"metadata": _metadata(MANIFEST_SCHEMA, invocation_id, project), "nodes": nodes, "sources": sources,
            "macros": {**dbt_macros(), **project_macros(project)}, "docs": {}, "exposures": {}, "metrics": {},
            "groups": {}, "selectors": {},
            "disabled": {}, "parent_map": parent_map, "child_map": child_map, "group_map": {},
            "saved_queries": {}, "semantic_models": {}, "unit_tests": units}  # fmt: skip


CATALOG_SCHEMA = "https://schemas.getdbt.com/dbt/catalog/v1.json"
_NO_STATS = {"has_stats": {"id": "has_stats", "label": "Has Stats?", "value": False, "include": False,
                           "description": "Indicates whether there are statistics for this table"}}  # fmt: skip


def catalog(project: Project, wh: Any, invocation_id: str) -> dict[str, Any]:
    """dbt's ``catalog.json``: the tables and views of the project's nodes and sources as the warehouse
    ``wh`` describes them (type, columns with their types and positions)."""
    found: dict[tuple[str, str, str], dict[str, Any]] = {}
    for database, schema, name, kind, column, data_type, position in wh.catalog_rows():
        entry = found.setdefault((database.lower(), schema.lower(), name.lower()), {
            "metadata": {"type": kind, "schema": schema, "name": name, "database": database, "comment": None, "owner": None},
            "columns": {}, "stats": _NO_STATS})  # fmt: skip
        entry["columns"][column] = {"type": data_type, "index": position, "name": column, "comment": None}

    def described(uid: str, relation: Any) -> dict[str, Any] | None:
        key = ((relation.database or "").lower(), relation.schema.lower(), relation.identifier.lower())
        entry = found.get(key)
        return None if entry is None else {**entry, "unique_id": uid}

    nodes = {u: described(u, n.relation) for u, n in project.nodes.items() if n.is_relational and n.relation}
    sources = {u: described(u, s.relation) for u, s in project.sources.items()}
    metadata = _metadata(CATALOG_SCHEMA, invocation_id, project)
    return {"metadata": {k: metadata[k] for k in ("dbt_schema_version", "dbt_version", "generated_at", "invocation_id", "env")},
            "nodes": {u: e for u, e in nodes.items() if e}, "sources": {u: e for u, e in sources.items() if e},
            "errors": None}  # fmt: skip


def project_macros(project: Project) -> dict[str, dict[str, Any]]:
    """The macros of the project and its packages, paths relative to each package, as dbt lists them."""
    roots = {p.name: p.root for p in project.packages}
    out: dict[str, dict[str, Any]] = {}
    for package, path, text in project.renderer.macro_files:
        if package in roots:
            path = os.path.relpath(project.root / path, roots[package])
        out.update(macro_blocks(package, Path(path).as_posix(), text))
    return out


def run_results(project: Project, results: list[NodeResult], invocation_id: str, elapsed: float,
                args: dict[str, Any]) -> dict[str, Any]:  # fmt: skip
    """The results as dbt's ``run_results.json``."""
    out = []
    for r in results:
        node = project.nodes.get(r.unique_id)
        out.append({
            "status": r.status,
            "timing": [{"name": "compile", "started_at": _iso(r.started_at), "completed_at": _iso(r.started_at)},
                       {"name": "execute", "started_at": _iso(r.started_at), "completed_at": _iso(r.completed_at)}]
            if r.started_at else [],
            "thread_id": r.thread_id, "execution_time": r.execution_time, "adapter_response": r.adapter_response,
            "message": r.message or None, "failures": r.failures, "unique_id": r.unique_id,
            "compiled": bool(r.compiled_code), "compiled_code": r.compiled_code or None,
            "relation_name": node.relation.render() if node is not None and node.relation and node.is_relational else None,
            "batch_results": None,
        })  # fmt: skip
    return {"metadata": _metadata(RUN_RESULTS_SCHEMA, invocation_id, project), "results": out,
            "elapsed_time": elapsed, "args": args}  # fmt: skip


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    tmp.replace(path)


def write_state(project: Project, results: list[NodeResult]) -> None:
    """Remember the fingerprints of the nodes that succeeded, keeping older ones for the rest."""
    previous = read_state(project.target_dir)
    state = dict(previous.fingerprints) if isinstance(previous, Fingerprints) else {}
    ok = {r.unique_id for r in results if r.status in ("success", "pass", "warn")}
    for uid in ok:
        if uid in project.nodes:
            state[uid] = project.nodes[uid].fingerprint
    for uid, node in project.nodes.items():  # ephemeral models count as built when a model using them was
        if node.materialized == "ephemeral" and any(
            uid in project.nodes[o].depends_on for o in ok if o in project.nodes
        ):
            state[uid] = node.fingerprint
    write_json(project.target_dir / STATE_FILE, {"fingerprints": state})
