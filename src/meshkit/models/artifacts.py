"""dbt-compatible artifacts (``manifest.json`` v12, ``run_results.json`` v6) and the fingerprints that
``state:modified`` compares against."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit import __version__

if TYPE_CHECKING:
    from meshkit.models.nodes import Node
    from meshkit.models.project import Project
    from meshkit.models.runner import NodeResult

MANIFEST_SCHEMA = "https://schemas.getdbt.com/dbt/manifest/v12.json"
RUN_RESULTS_SCHEMA = "https://schemas.getdbt.com/dbt/run-results/v6.json"
STATE_FILE = "meshkit_state.json"


def _metadata(schema: str, invocation_id: str, project: Project) -> dict[str, Any]:
    return {"dbt_schema_version": schema, "dbt_version": "1.10.0", "generated_at": _iso(datetime.now(UTC)),
            "invocation_id": invocation_id, "env": {}, "project_name": project.name, "adapter_type": "duckdb",
            "generator": f"meshkit {__version__}"}  # fmt: skip


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if value else None


def _node(project: Project, node: Node) -> dict[str, Any]:
    rel = node.relation
    data = {
        "database": rel.database if rel else project.profile.database, "schema": rel.schema if rel else project.profile.schema,
        "name": node.name, "resource_type": node.resource_type, "package_name": node.package_name,
        "path": node.original_file_path, "original_file_path": node.original_file_path, "unique_id": node.unique_id,
        "fqn": node.fqn, "alias": rel.identifier if rel else node.name,
        "checksum": {"name": "sha256", "checksum": node.fingerprint}, "config": node.config,
        "tags": node.config.get("tags", []), "description": node.description,
        "columns": {n: {"name": n, "description": c.get("description", ""), "data_type": c.get("data_type"),
                        "meta": c.get("meta", {}), "tags": c.get("tags", [])} for n, c in node.columns.items()},
        "meta": node.config.get("meta", {}),
        "depends_on": {"macros": [], "nodes": node.depends_on},
        "refs": node.ref_entries,
        "sources": [list(s) for s in node.sources], "raw_code": node.raw_code.lstrip("\n"), "language": "sql",
        "compiled": bool(node.compiled), "compiled_code": node.compiled or None,
        "relation_name": rel.render() if rel and node.is_relational else None,
    }  # fmt: skip
    if node.test is not None:
        data["test_metadata"] = {"name": node.test["name"], "kwargs": {**node.test["kwargs"], "column_name": node.test["column_name"]},
                                 "namespace": node.test.get("namespace")}  # fmt: skip
        data["column_name"] = node.test["column_name"]
        data["attached_node"] = node.test["attached"] if node.test["attached"] in project.nodes else None
    if node.unit is not None:
        data["model"] = project.nodes[node.unit["model_uid"]].name
        data["given"] = node.unit.get("given", [])
        data["expect"] = node.unit.get("expect", {})
    return data


def manifest(project: Project, invocation_id: str) -> dict[str, Any]:
    """The project as dbt's ``manifest.json``."""
    nodes = {u: _node(project, n) for u, n in project.nodes.items() if n.resource_type != "unit_test"}
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
    parent_map.update({u: [] for u in project.sources})
    child_map: dict[str, list[str]] = {u: [] for u in parent_map}
    for uid, parents in parent_map.items():
        for parent in parents:
            child_map.setdefault(parent, []).append(uid)
    units = {u: _node(project, n) for u, n in project.nodes.items() if n.resource_type == "unit_test"}
    return {"metadata": _metadata(MANIFEST_SCHEMA, invocation_id, project), "nodes": nodes, "sources": sources,
            "macros": {}, "docs": {}, "exposures": {}, "metrics": {}, "groups": {}, "selectors": {},
            "disabled": {}, "parent_map": parent_map, "child_map": child_map, "group_map": {},
            "saved_queries": {}, "semantic_models": {}, "unit_tests": units}  # fmt: skip


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


def read_state(folder: Path) -> dict[str, str] | None:
    """The fingerprints saved by the last run in ``folder``, or ``None``."""
    path = folder / STATE_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("fingerprints", {})
    except (OSError, ValueError):
        return None


def write_state(project: Project, results: list[NodeResult]) -> None:
    """Remember the fingerprints of the nodes that succeeded, keeping older ones for the rest."""
    state = read_state(project.target_dir) or {}
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
