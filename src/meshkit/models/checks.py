"""The ``checks:`` blocks a workspace declares: on models and sources, and in ``checks/*.yaml``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from meshkit.models.models import store_name
from meshkit.models.project import find_project_root, load_project
from meshkit.quality.runner import CheckBlock, workspace_checks

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


def declared_checks(meshkit: Meshkit, project_dir: str | Path | None = None, *, target: str | None = None,
                    vars: dict | None = None) -> list[CheckBlock]:  # fmt: skip
    """Every ``checks:`` block of the models project (when there is one) and of ``checks/``."""
    out: list[CheckBlock] = []
    root, kind = find_project_root(project_dir, meshkit.workspace.root)
    if kind == "dbt" or (root / "models").is_dir():
        project = load_project(project_dir, meshkit=meshkit, target=target, vars=vars)
        store = store_name(project)
        for node in project.nodes.values():
            if node.checks and node.relation is not None:
                out.append(
                    (
                        store,
                        node.relation.asset,
                        node.checks,
                        node.yaml_where or node.original_file_path,
                        None,
                    )
                )
        for source in project.sources.values():
            if source.checks:
                out.append((store, source.relation.asset, source.checks, source.path, None))
    return out + workspace_checks(meshkit)
