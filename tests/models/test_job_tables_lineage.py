"""A model reading a table a job wrote gets its lineage, declared or not; sources default to the workspace schema."""

from __future__ import annotations

import yaml

from meshkit.catalog.catalog import Catalog
from meshkit.testing import plugin_workspace


def _job(root) -> None:
    job = root / "jobs" / "load"
    job.mkdir(parents=True)
    (job / "10_load.sql").write_text(
        "CREATE OR REPLACE TABLE greetings AS SELECT range AS id, 'hi' AS word FROM range(3);"
    )


def test_a_model_reading_a_job_table_by_name_gets_lineage_and_the_fix(workspace, cli):
    root = workspace.root
    _job(root)
    (root / "models").mkdir()
    (root / "models" / "greeting_count.sql").write_text("select count(*) as n from greetings\n")
    assert cli("run", "load").exit_code == 0
    built = cli("build")
    assert built.exit_code == 0, built.output
    said = " ".join(built.stdout.split())
    assert "greeting_count reads greetings, by name: lineage recorded" in said, built.stdout
    suggested = built.stdout[built.stdout.index("  sources:") : built.stdout.index("and read it as")]
    assert yaml.safe_load(suggested) == {
        "sources": [{"name": "local", "schema": "main", "tables": [{"name": "greetings"}]}]
    }
    mk = plugin_workspace(root)
    try:
        graph = Catalog(mk).lineage("warehouse/greeting_count", depth=1)
        assert graph.upstream() == ["warehouse/greetings"]
    finally:
        mk.close()


def test_a_declared_source_without_schema_reads_the_workspace_schema(workspace, cli):
    root = workspace.root
    _job(root)
    (root / "models").mkdir()
    (root / "models" / "sources.yml").write_text(
        "version: 2\nsources:\n  - name: jobs\n    tables:\n      - name: greetings\n"
    )
    (root / "models" / "greeting_count.sql").write_text(
        "select count(*) as n from {{ source('jobs', 'greetings') }}\n"
    )
    assert cli("run", "load").exit_code == 0
    built = cli("build")
    assert built.exit_code == 0, built.output
    assert "Note:" not in built.stdout  # declared: nothing to say
    mk = plugin_workspace(root)
    try:
        assert Catalog(mk).lineage("warehouse/greeting_count", depth=1).upstream() == ["warehouse/greetings"]
    finally:
        mk.close()
