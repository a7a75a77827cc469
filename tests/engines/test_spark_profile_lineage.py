"""A dbt project on a ``type: spark`` target records its datasets under the engine's name, not a DuckDB store."""

from __future__ import annotations

import pytest
from test_snapshots_on_engines import PROJECT, _write

from meshkit.models import BuildOptions, execute, open_project
from meshkit.models.models import open_warehouse
from meshkit.testing import plugin_workspace

TARGET = "shop:\n  target: dev\n  outputs:\n    dev:\n      type: spark\n      method: session\n      schema: analytics\n"


@pytest.mark.parametrize("named", [False, True])
def test_a_spark_targets_datasets_are_named_after_its_engine(workspace, spark_engine, spark_master, named):
    root = workspace.root / "shop"
    where = "      engine: cluster\n" if named else f"      master: {spark_master}\n      threads: 2\n" \
        "      server_side_parameters: {spark.cores.max: '2', spark.executor.memory: 512m}\n"  # fmt: skip
    files = {k: v for k, v in PROJECT.items() if not k.startswith("snapshots/")}
    _write(root, {**files, "profiles.yml": TARGET + where})
    store = "spark:cluster" if named else "spark:dev"
    mk = plugin_workspace(workspace.root)
    try:
        project = open_project(mk, root)
        report = execute(mk, project, BuildOptions("build", threads=2))
        assert {r.status for r in report.results} == {"success"}
        assert open_warehouse(mk, project).store_name == store
        run = mk.runs.get(report.run.id)
    finally:
        mk.close()
    assert run.details["store"] == store
    datasets = {d for t in run.lineage.tables for d in (t.source, t.target)}
    datasets |= {d for c in run.lineage.columns for d in (c.source, c.target)}
    assert f"{store}/analytics.busy_kinds" in datasets, datasets
    assert all(d.startswith(f"{store}/") for d in datasets), datasets
