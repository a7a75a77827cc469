"""``on-run-start`` and ``on-run-end`` of ``dbt_project.yml``: SQL run before and after a command's nodes,
as dbt's operation nodes (the project's and its packages').

Each hook is rendered with ``execute`` true (it may call macros and ``run_query``); ``on-run-end``
also sees ``results`` (one per node: ``status``, ``message``, ``node.unique_id`` ...), ``schemas``
and ``database_schemas`` of the built nodes. A failing hook stops the command with the hook's place
in ``dbt_project.yml``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from meshkit.engines.duckdb import DuckDBEngine
from meshkit.models.exceptions import ModelRunError
from meshkit.models.runner import NodeResult

if TYPE_CHECKING:
    from meshkit.models.project import Project
    from meshkit.models.warehouse import Warehouse


class _Object(dict):
    """A dict whose keys read as attributes, as dbt's result objects do in Jinja."""

    __getattr__ = dict.get


def run_project_hooks(
    project: Project, wh: Warehouse, key: str, results: list[NodeResult] | None = None
) -> list[NodeResult]:
    """Run the ``key`` operations (the packages', then the project's); one result per operation, as
    dbt records them in ``run_results.json``."""
    hooks = [n for n in project.operations if n.name.rsplit("-", 1)[0].endswith(key)]
    if not hooks:
        return []
    context: dict[str, Any] = {}
    if results is not None:
        built = [project.nodes[r.unique_id] for r in results if r.unique_id in project.nodes]
        relations = [n.relation for n in built if n.relation is not None]
        context = {
            "results": [_Object(status=r.status, message=r.message, failures=r.failures, execution_time=r.execution_time,
                                adapter_response=r.adapter_response, unique_id=r.unique_id,
                                node=_Object(project.nodes[r.unique_id].context_model)) for r in results
                        if r.unique_id in project.nodes],
            "schemas": sorted({rel.schema for rel in relations}),
            "database_schemas": sorted({(rel.database, rel.schema) for rel in relations}),
        }  # fmt: skip
    out = []
    for node in hooks:
        started = datetime.now(UTC)
        sql = project.render_hook(node, node.raw_code, wh, context)
        where = os.path.relpath(node.path, project.root)
        index = int(node.name.rsplit("-", 1)[1])
        if sql.strip():
            try:
                wh.cursor().execute(sql)
            except DuckDBEngine.ERRORS as exc:
                raise ModelRunError(f"The {key} hook #{index + 1} of {node.package_name} failed: {str(exc).splitlines()[0]}",
                                    where=where, hint=f"Fix the hook's SQL in {where}.") from None  # fmt: skip
        out.append(NodeResult(node.unique_id, "success", f"{node.package_name}.{key}.{index} passed", failures=0,
                              started_at=started, completed_at=datetime.now(UTC), thread_id="main", compiled_code=sql))  # fmt: skip
    return out
