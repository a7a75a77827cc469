"""Snapshots, catalog.json, dbt-spark profiles and what a build declares, on the Spark cluster as on DuckDB."""

from __future__ import annotations

import json
import textwrap
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from meshkit.models import BuildOptions, execute, open_project
from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError
from meshkit.models.models import open_warehouse
from meshkit.testing import plugin_workspace

PROJECT = {
    "dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\n",
    "profiles.yml": "shop:\n  target: dev\n  outputs:\n    dev: {type: duckdb, path: warehouse.duckdb, threads: 2}\n",
    "seeds/events.csv": """\
        id,kind,loaded_at
        1,a,2024-01-01 08:00:00
        2,b,2024-01-01 09:30:00
        """,
    "snapshots/events_snap.sql": """\
        {% snapshot events_snap %}
        {{ config(unique_key='id', strategy='timestamp', updated_at='loaded_at', hard_deletes='invalidate',
                  target_schema='main') }}
        select * from {{ ref('events') }}
        {% endsnapshot %}
        """,
    "snapshots/events_check.sql": """\
        {% snapshot events_check %}
        {{ config(unique_key='id', strategy='check', check_cols=['kind'], target_schema='main') }}
        select id, kind from {{ ref('events') }}
        {% endsnapshot %}
        """,
    "models/kinds.sql": "select kind, count(*) as n from {{ ref('events') }} group by kind\n",
    "models/busy_kinds.sql": "{{ config(materialized='table') }}\nselect kind from {{ ref('kinds') }} where n > 0\n",
}
#: The second run: event 1 changed kind, event 2 is gone, event 3 arrived.
EVENTS_LATER = "id,kind,loaded_at\n1,z,2024-02-01 10:00:00\n3,c,2024-02-02 11:00:00\n"


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _build(mk, root: Path, engine: str | None, select: list[str] | None = None) -> dict[str, str]:
    report = execute(
        mk, open_project(mk, root), BuildOptions("build", select=select, threads=2, engine=engine)
    )
    return {r.unique_id: r.status for r in report.results}


def _plain(value):
    """A timestamp as its wall-clock text (Spark's carry a time zone, DuckDB's do not)."""
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else value


def _rows(mk, root: Path, engine: str | None, sql: str) -> list[tuple]:
    cur = open_warehouse(mk, open_project(mk, root), engine).cursor()
    return sorted((tuple(_plain(v) for v in row) for row in cur.execute(sql).fetchall()), key=repr)


SNAP = (
    "select id, kind, loaded_at, dbt_scd_id, dbt_updated_at, dbt_valid_from, dbt_valid_to is null as current, "
    "case when id = 2 then null else dbt_valid_to end as closed_at from main.events_snap"  # 2's is the build's time
)
CHECK = "select id, kind, dbt_valid_to is null as current from main.events_check"


def test_snapshots_and_catalog_are_the_same_on_spark_as_on_duckdb(workspace, spark_engine, cli):
    root = workspace.root / "shop"
    _write(root, PROJECT)
    engines = ("duckdb", spark_engine)
    mk = plugin_workspace(workspace.root)
    try:
        first = {e: _build(mk, root, e) for e in engines}
        (root / "seeds" / "events.csv").write_text(EVENTS_LATER)
        second = {e: _build(mk, root, e) for e in engines}
        snap = {e: _rows(mk, root, e, SNAP) for e in engines}
        check = {e: _rows(mk, root, e, CHECK) for e in engines}
    finally:
        mk.close()

    assert first["duckdb"] == first[spark_engine] and second["duckdb"] == second[spark_engine]
    assert set(second["duckdb"].values()) == {"success"}
    assert snap[spark_engine] == snap["duckdb"]
    assert [(i, k, current, closed) for i, k, _, _, _, _, current, closed in snap["duckdb"]] == [
        (1, "a", False, "2024-02-01 10:00:00"), (1, "z", True, None), (2, "b", False, None), (3, "c", True, None)]  # fmt: skip
    assert (
        check[spark_engine]
        == check["duckdb"]
        == [(1, "a", False), (1, "z", True), (2, "b", True), (3, "c", True)]
    )

    # catalog.json describes the Spark tables and views as it does DuckDB's
    catalogs = {}
    for engine in engines:
        result = cli("docs", "generate", "--engine", engine, "--project-dir", str(root))
        assert result.exit_code == 0, result.output
        nodes = json.loads((root / "target" / "catalog.json").read_text())["nodes"]
        catalogs[engine] = {u: (n["metadata"]["type"], list(n["columns"])) for u, n in nodes.items()}
    assert catalogs[spark_engine] == catalogs["duckdb"]
    assert catalogs["duckdb"]["model.shop.kinds"] == ("VIEW", ["kind", "n"])
    assert catalogs["duckdb"]["snapshot.shop.events_snap"][0] == "BASE TABLE"


def test_a_build_declares_only_the_tables_it_reads(workspace, spark_engine):
    root = workspace.root / "shop"
    _write(root, PROJECT)
    mk = plugin_workspace(workspace.root)
    try:
        _build(mk, root, spark_engine)  # every table, the snapshots' too
        session = open_warehouse(mk, open_project(mk, root), spark_engine).engine().session
        for table in session.catalog.listTables("main"):  # forget what this process declared so far
            session.sql(
                f"DROP {'VIEW' if table.tableType == 'VIEW' else 'TABLE'} IF EXISTS main.`{table.name}`"
            )
        statuses = _build(mk, root, spark_engine, ["busy_kinds"])
        declared = sorted(t.name for t in session.catalog.listTables("main"))
    finally:
        mk.close()
    assert statuses == {"model.shop.busy_kinds": "success"}
    assert declared == ["busy_kinds", "events", "kinds"]  # not the snapshots', nor anything else


def test_a_dbt_spark_profile_builds_on_spark(workspace, spark_master):
    root = workspace.root / "shop"
    profile = ("shop:\n  target: dev\n  outputs:\n    dev:\n      type: spark\n      method: session\n"
               f"      schema: analytics\n      master: {spark_master}\n      threads: 2\n"
               "      server_side_parameters: {spark.cores.max: '2', spark.executor.memory: 512m}\n")  # fmt: skip
    _write(
        root,
        {**{k: v for k, v in PROJECT.items() if not k.startswith("snapshots/")}, "profiles.yml": profile},
    )
    mk = plugin_workspace(workspace.root)
    try:
        statuses = _build(mk, root, None)
        wh = open_warehouse(mk, open_project(mk, root))
        rows = _rows(mk, root, None, "select kind from analytics.busy_kinds")
    finally:
        mk.close()
    assert set(statuses.values()) == {"success"}
    assert type(wh.engine()).__name__ == "SparkEngine" and wh.engine().url == spark_master
    assert rows == [("a",), ("b",)]


@pytest.mark.parametrize("method", ["thrift", "http", "odbc"])
def test_a_spark_profile_method_meshkit_cannot_run_is_named(tmp_path, method):
    root = tmp_path / "shop"
    profile = (
        f"shop:\n  target: dev\n  outputs:\n    dev: {{type: spark, method: {method}, host: h, schema: s}}\n"
    )
    _write(root, {**PROJECT, "profiles.yml": profile})
    mk = plugin_workspace(tmp_path / "ws")
    try:
        with pytest.raises(UnsupportedFeatureError) as caught:
            open_project(mk, root)
    finally:
        mk.close()
    error = caught.value
    assert f"`method: {method}`" in str(error) and "profiles.yml" in str(error.where)
    assert "method: session" in error.hint and "master: spark://" in error.hint


def test_a_spark_profile_setting_that_is_not_sparks_is_named(tmp_path):
    root = tmp_path / "shop"
    profile = "shop:\n  target: dev\n  outputs:\n    dev: {type: spark, schema: s, server_side_parameters: {memory: 2g}}\n"
    _write(root, {**PROJECT, "profiles.yml": profile})
    mk = plugin_workspace(tmp_path / "ws")
    try:
        with pytest.raises(
            ModelCompileError, match=r"Spark settings \(`spark\.\*`\).*\['memory'\]"
        ) as caught:
            open_project(mk, root)
    finally:
        mk.close()
    assert "profiles.yml" in str(caught.value.where) and "master" in caught.value.hint


WIDER_SNAP = """\
    {% snapshot events_snap %}
    {{ config(unique_key='id', strategy='timestamp', updated_at='loaded_at', target_schema='main') }}
    select *, cast(loaded_at as timestamp) + interval 1 hour as seen_at,
           cast(loaded_at as timestamptz) as seen_tz, cast(id * 1.25 as decimal(12, 2)) as price, {'a': id} as tags
    from {{ ref('events') }}
    {% endsnapshot %}
    """


def test_columns_added_to_a_snapshot_source_keep_their_types_on_spark(workspace, spark_engine):
    """A TIMESTAMP_NTZ, a TIMESTAMP (with time zone), a decimal and a struct column added to the source of a
    snapshot: the old rows get NULLs of Spark's types, read by sqlglot into the project's SQL and back."""
    root = workspace.root / "shop"
    _write(root, {k: v for k, v in PROJECT.items() if k != "snapshots/events_check.sql"})
    engines = ("duckdb", spark_engine)
    mk = plugin_workspace(workspace.root)
    try:
        first = {e: _build(mk, root, e) for e in engines}
        _write(root, {"seeds/events.csv": EVENTS_LATER, "snapshots/events_snap.sql": WIDER_SNAP})
        second = {e: _build(mk, root, e) for e in engines}
        sql = (
            "select id, kind, seen_at, seen_tz, price, dbt_valid_to is null as current from main.events_snap"
        )
        rows = {e: _rows(mk, root, e, sql) for e in engines}
        types = dict(open_warehouse(mk, open_project(mk, root), spark_engine).columns(
            open_project(mk, root).nodes["snapshot.shop.events_snap"].relation))  # fmt: skip
    finally:
        mk.close()
    assert set(first[spark_engine].values()) == set(second[spark_engine].values()) == {"success"}
    assert second["duckdb"] == second[spark_engine]
    assert rows[spark_engine] == rows["duckdb"]
    assert (3, "c", "2024-02-02 12:00:00", "2024-02-02 11:00:00", Decimal("3.75"), True) in rows["duckdb"]
    assert (types["seen_at"], types["seen_tz"], types["price"]) == (
        "TIMESTAMP_NTZ",
        "TIMESTAMP",
        "DECIMAL(12,2)",
    )
