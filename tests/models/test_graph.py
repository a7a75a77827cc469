"""Selectors, compiling to Spark/Trino, lineage as data, and workspace models with inferred inputs."""

from __future__ import annotations

import pytest

from meshkit.models import BuildOptions, execute, open_project, project_lineage
from meshkit.models.compile import transpile
from meshkit.models.graph import select

DAG = {
    "models/staging/a.sql": "{{ config(tags=['nightly']) }}\nselect 1 as id, 'x' as v",
    "models/staging/b.sql": "select id, v from {{ ref('a') }}",
    "models/marts/c.sql": "select b.id, upper(b.v) as v from {{ ref('b') }} b",
    "models/marts/d.sql": "select c.id, c.v || a.v as vv from {{ ref('c') }} c join {{ ref('a') }} a using (id)",
    "models/other/e.sql": "select 2 as id",
    "models/schema.yml": "version: 2\nmodels:\n  - name: c\n    columns:\n      - name: id\n        data_tests: [not_null]\n",
}


def _names(project, uids):
    return {project.nodes[u].name for u in uids}


@pytest.mark.parametrize(
    ("selectors", "exclude", "expected"),
    [
        ([], [], {"a", "b", "c", "d", "e", "not_null_c_id"}),
        (["c"], [], {"c", "not_null_c_id"}),
        (["+c"], [], {"a", "b", "c", "not_null_c_id"}),
        (["1+c"], [], {"b", "c", "not_null_c_id"}),
        (["b+"], [], {"b", "c", "d", "not_null_c_id"}),
        (["b+1"], [], {"b", "c", "not_null_c_id"}),
        (["@b"], [], {"a", "b", "c", "d", "not_null_c_id"}),
        (["tag:nightly"], [], {"a"}),
        (["path:models/marts"], [], {"c", "d", "not_null_c_id"}),
        (["a+"], ["c+"], {"a", "b"}),
        (["a+,path:models/marts"], [], {"c", "d", "not_null_c_id"}),
        (["a e"], [], {"a", "e"}),
        (["config.materialized:view"], ["b", "c", "d"], {"a", "e"}),
    ],
)
def test_selector_semantics(make_project, selectors, exclude, expected):
    mk, root = make_project(DAG)
    project = open_project(mk, root)
    assert _names(project, select(project, selectors, exclude)) == expected


def test_state_modified_follows_fingerprints(make_project):
    mk, root = make_project(DAG)
    project = open_project(mk, root)
    report = execute(mk, project, BuildOptions(threads=2))
    assert not report.failed
    project = open_project(mk, root)
    from meshkit.models.state import read_state

    previous = read_state(project.target_dir)
    assert select(project, ["state:modified"], previous=previous) == set()
    (root / "models/staging/b.sql").write_text("select id, v, 1 as extra from {{ ref('a') }}")
    project = open_project(mk, root)
    assert _names(project, select(project, ["state:modified+"], previous=previous)) == {
        "b",
        "c",
        "d",
        "not_null_c_id",
    }


def test_compile_to_spark_and_trino(make_project):
    mk, root = make_project({
        "models/a.sql": "select 1 as id, date '2024-01-01' as day",
        "models/b.sql": "select id, date_diff('day', day, current_date) as age, list_value(1, 2) as xs, "
                        "strftime(day, '%Y') as y from {{ ref('a') }}",
    })  # fmt: skip
    node = open_project(mk, root).node("b")
    spark = transpile(node, "spark")
    trino = transpile(node, "trino")
    assert "`warehouse`.`main`.`a`" in spark and "DATEDIFF" in spark.upper() and "ARRAY(1, 2)" in spark
    assert '"warehouse"."main"."a"' in trino and "DATE_DIFF" in trino.upper() and "ARRAY[1, 2]" in trino
    assert "DATE_FORMAT" in spark.upper() and "DATE_FORMAT" in trino.upper()


def test_column_lineage_as_data(make_project):
    mk, root = make_project(DAG)
    project = open_project(mk, root)
    execute(mk, project, BuildOptions(threads=2))
    from meshkit.models.models import open_warehouse

    lineage = project_lineage(project, open_warehouse(mk, project), dataset_prefix="wh")
    assert {
        "source": "model.proj.c",
        "target": "model.proj.d",
        "source_dataset": "wh/c",
        "target_dataset": "wh/d",
    } in lineage["tables"]
    edges = {
        (e["source"].split(".")[-1], e["source_column"], e["target"].split(".")[-1], e["target_column"])
        for e in lineage["columns"]
    }
    assert ("c", "v", "d", "vv") in edges and ("a", "v", "d", "vv") in edges and ("b", "v", "c", "v") in edges
    assert (root / "target" / "lineage_cache.json").is_file()


def test_workspace_models_infer_inputs_from_plain_sql(workspace, mk, query):
    models = workspace.root / "models"
    models.mkdir()
    (workspace.root / "seeds").mkdir()
    (workspace.root / "seeds" / "people.csv").write_text("id,name\n1,ann\n2,bob\n")
    (models / "names.sql").write_text("select upper(name) as name from people")
    (models / "counted.sql").write_text("{{ config(materialized='table') }}\nselect count(*) as n from names")
    project = open_project(mk)
    assert project.kind == "workspace"
    assert project.node("counted").depends_on == ["model.ws.names"]
    assert project.node("names").depends_on == ["seed.ws.people"]
    report = execute(mk, project, BuildOptions(threads=2))
    assert not report.failed
    assert mk.store("warehouse").connection.cursor().execute("select n from counted").fetchall() == [(2,)]
    assert (workspace.root / ".meshkit" / "target" / "manifest.json").is_file()
