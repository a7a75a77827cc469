"""``on-run-start`` and ``on-run-end`` of ``dbt_project.yml``: SQL run before and after a command's nodes.

Each hook is rendered with ``execute`` true (it may call macros and ``run_query``); ``on-run-end``
also sees ``results`` (one per node: ``status``, ``message``, ``node.unique_id`` ...), ``schemas``
and ``database_schemas`` of the built nodes. A failing hook stops the command with the hook's place
in ``dbt_project.yml``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import duckdb

from meshkit.models.exceptions import ModelRunError
from meshkit.models.nodes import Node

if TYPE_CHECKING:
    from meshkit.models.project import Project
    from meshkit.models.runner import NodeResult
    from meshkit.models.warehouse import Warehouse


class _Object(dict):
    """A dict whose keys read as attributes, as dbt's result objects do in Jinja."""

    __getattr__ = dict.get


def run_project_hooks(
    project: Project, wh: Warehouse, key: str, results: list[NodeResult] | None = None
) -> None:
    hooks = project.settings.get(key) or []
    hooks = [hooks] if isinstance(hooks, str) else list(hooks)
    if not hooks:
        return
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
    for i, hook in enumerate(hooks):
        text = hook.get("sql", "") if isinstance(hook, dict) else str(hook)
        name = f"{project.name}-{key}-{i}"
        node = Node(f"operation.{project.name}.{name}", "operation", name, project.name, project.root / "dbt_project.yml",
                    "dbt_project.yml", raw_code=text, fqn=[project.name, "hooks", name])  # fmt: skip
        sql = project.render_hook(node, text, wh, context)
        if not sql.strip():
            continue
        try:
            wh.cursor().execute(sql)
        except duckdb.Error as exc:
            raise ModelRunError(f"The {key} hook #{i + 1} failed: {str(exc).splitlines()[0]}", where="dbt_project.yml",
                                hint="Fix the hook's SQL in dbt_project.yml.") from None  # fmt: skip
