"""Incremental strategies with late-arriving rows, snapshots, contracts, severities and unit tests."""

from __future__ import annotations

import pytest

from meshkit.models import BuildOptions, execute, open_project

SOURCES = """
version: 2
sources:
  - name: raw
    schema: raw
    tables: [{name: events}]
"""


def _events(mk, root, query, rows: str, create: bool = False):
    if create:
        query(mk, root, "create schema if not exists raw")
        query(mk, root, "create table raw.events (id int, kind varchar, amount int, loaded_at timestamp)")
    query(mk, root, f"insert into raw.events values {rows}")


def _build(mk, root, **kw):
    report = execute(mk, open_project(mk, root), BuildOptions(threads=2, **kw))
    return report, {
        r.unique_id.split(".")[-1]
        if r.unique_id.startswith(("model", "seed", "snapshot"))
        else r.unique_id: r
        for r in report.results
    }


@pytest.mark.parametrize("strategy", ["merge", "delete+insert", "append"])
def test_incremental_late_arriving_rows(make_project, query, strategy):
    mk, root = make_project({
        "models/sources.yml": SOURCES,
        "models/events_inc.sql": f"""
            {{{{ config(materialized='incremental', unique_key='id', incremental_strategy='{strategy}',
                       on_schema_change='append_new_columns') }}}}
            select id, kind, amount, loaded_at from {{{{ source('raw', 'events') }}}}
            {{% if is_incremental() %}} where loaded_at > (select max(loaded_at) from {{{{ this }}}}) {{% endif %}}
        """,
    })  # fmt: skip
    _events(mk, root, query, "(1, 'a', 10, '2024-01-01'), (2, 'b', 20, '2024-01-02')", create=True)
    report, results = _build(mk, root)
    assert results["events_inc"].status == "success"
    # a late-arriving correction of id 1 and a new id 3
    _events(mk, root, query, "(1, 'a', 15, '2024-01-03'), (3, 'c', 30, '2024-01-03')")
    report, results = _build(mk, root)
    assert results["events_inc"].status == "success", results["events_inc"].message
    rows = query(mk, root, "select id, amount from main.events_inc order by id, amount")
    if strategy == "append":
        assert rows == [(1, 10), (1, 15), (2, 20), (3, 30)]
    else:
        assert rows == [(1, 15), (2, 20), (3, 30)]
    # full refresh rebuilds from the source
    _build(mk, root, full_refresh=True)
    assert query(mk, root, "select count(*) from main.events_inc") == [(4,)]


def test_on_schema_change_fail_keeps_the_table(make_project, query):
    mk, root = make_project(
        {
            "models/inc.sql": "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect 1 as id"
        }
    )
    _build(mk, root)
    (root / "models/inc.sql").write_text(
        "{{ config(materialized='incremental', on_schema_change='fail') }}\nselect 2 as id, 'x' as extra"
    )
    _, results = _build(mk, root)
    assert results["inc"].status == "error" and "on_schema_change" in results["inc"].message
    assert query(mk, root, "select * from inc") == [(1,)]


def test_snapshot_keeps_history(make_project, query):
    mk, root = make_project({
        "models/sources.yml": SOURCES,
        "snapshots/events_snap.sql": """
            {% snapshot events_snap %}
            {{ config(unique_key='id', strategy='timestamp', updated_at='loaded_at', hard_deletes='invalidate') }}
            select * from {{ source('raw', 'events') }}
            {% endsnapshot %}
        """,
        "snapshots/events_check.sql": """
            {% snapshot events_check %}
            {{ config(unique_key='id', strategy='check', check_cols=['kind']) }}
            select id, kind from {{ source('raw', 'events') }}
            {% endsnapshot %}
        """,
    })  # fmt: skip
    _events(mk, root, query, "(1, 'a', 10, '2024-01-01'), (2, 'b', 20, '2024-01-01')", create=True)
    _build(mk, root)
    query(mk, root, "update raw.events set kind = 'z', loaded_at = '2024-02-01' where id = 1")
    query(mk, root, "delete from raw.events where id = 2")
    _, results = _build(mk, root)
    assert results["events_snap"].status == "success", results["events_snap"].message
    rows = query(
        mk,
        root,
        "select id, kind, dbt_valid_from, dbt_valid_to is null from main.events_snap order by id, dbt_valid_from",
    )
    assert [(r[0], r[1], r[3]) for r in rows] == [(1, "a", False), (1, "z", True), (2, "b", False)]
    closed = query(mk, root, "select dbt_valid_to from main.events_snap where id = 1 and kind = 'a'")[0][0]
    assert str(closed).startswith("2024-02-01")
    ids = query(mk, root, "select count(distinct dbt_scd_id) from main.events_snap")
    assert ids == [(3,)]
    assert query(mk, root, "select id, kind, dbt_valid_to is null from main.events_check order by id, dbt_valid_from") == [
        (1, "a", False), (1, "z", True), (2, "b", True)]  # fmt: skip


CONTRACT = """
version: 2
models:
  - name: dim
    config: {contract: {enforced: true}}
    columns:
      - {name: id, data_type: int, constraints: [{type: not_null}]}
      - {name: name, data_type: varchar}
"""


def test_contract_violation_keeps_the_old_table(make_project, query):
    mk, root = make_project(
        {
            "models/schema.yml": CONTRACT,
            "models/dim.sql": "{{ config(materialized='table') }}\nselect 1 as id, 'a' as name",
        }
    )
    _, results = _build(mk, root)
    assert results["dim"].status == "success"
    (root / "models/dim.sql").write_text("{{ config(materialized='table') }}\nselect 2 as id")
    _, results = _build(mk, root)
    assert results["dim"].status == "error"
    assert "column `name` is missing" in results["dim"].message and "schema.yml:3" in results["dim"].message
    (root / "models/dim.sql").write_text("{{ config(materialized='table') }}\nselect 'x' as id, 'b' as name")
    _, results = _build(mk, root)
    assert "id` is VARCHAR, the contract says INTEGER" in results["dim"].message
    (root / "models/dim.sql").write_text(
        "{{ config(materialized='table') }}\nselect cast(null as int) as id, 'b' as name"
    )
    _, results = _build(mk, root)
    assert results["dim"].status == "error" and "NOT NULL" in results["dim"].message
    assert query(mk, root, "select * from dim") == [(1, "a")]


def test_severity_thresholds_and_downstream_skips(make_project):
    mk, root = make_project({
        "models/base.sql": "select * from (values (1, 'a'), (2, null), (2, 'c')) t(id, name)",
        "models/child.sql": "select * from {{ ref('base') }}",
        "models/schema.yml": """
            version: 2
            models:
              - name: base
                columns:
                  - name: name
                    data_tests:
                      - not_null: {config: {severity: warn}}
                      - accepted_values: {values: ['a'], config: {warn_if: '>0', error_if: '>5'}}
                  - name: id
                    data_tests: [unique]
        """,
    })  # fmt: skip
    report, results = _build(mk, root)
    by_test = {r.unique_id.split(".")[2]: r for r in report.results if r.unique_id.startswith("test.")}
    assert by_test["not_null_base_name"].status == "warn" and by_test["not_null_base_name"].failures == 1
    assert by_test["accepted_values_base_name__a"].status == "warn"
    assert by_test["unique_base_id"].status == "fail" and by_test["unique_base_id"].failures == 1
    assert results["child"].status == "skipped"
    assert mk.runs.get(report.run.id).status == "user_error"


def test_unit_test_failure_skips_its_model(make_project):
    mk, root = make_project({
        "models/src.sql": "select 1 as id, 5 as amount",
        "models/doubled.sql": "select id, amount * 3 as amount from {{ ref('src') }}",
        "models/schema.yml": """
            version: 2
            unit_tests:
              - name: doubles
                model: doubled
                given:
                  - input: ref('src')
                    format: csv
                    rows: |
                      id,amount
                      1,2
                expect:
                  rows: [{id: 1, amount: 4}]
        """,
    })  # fmt: skip
    report, results = _build(mk, root)
    unit = next(r for r in report.results if r.unique_id.startswith("unit_test"))
    assert unit.status == "fail" and "missing" in unit.message and "'amount': 4" in unit.message
    assert results["doubled"].status == "skipped" and results["src"].status == "success"


def test_hook_register_materializations_adds_a_materialization(make_project, query):
    import meshkit
    from meshkit.models import materialize

    built = []

    def audited_table(project, warehouse, node, full_refresh):
        built.append(node.name)
        return materialize.table(project, warehouse, node, full_refresh)

    class Audited:
        @meshkit.hookimpl
        def register_materializations(self):
            return {"audited_table": audited_table}

    mk, root = make_project({"models/m.sql": "{{ config(materialized='audited_table') }} select 1 as x"},
                            plugins=[Audited()])  # fmt: skip
    report, results = _build(mk, root)
    assert results["m"].status == "success", results["m"].message
    assert built == ["m"]
    assert query(mk, root, "select x from m") == [(1,)]


def test_unknown_materialization_lists_the_registered_ones(make_project):
    mk, root = make_project({"models/m.sql": "{{ config(materialized='tabel') }} select 1 as x"})
    report, results = _build(mk, root)
    assert results["m"].status == "error"
    assert "Unknown materialization `tabel`" in results["m"].message


def test_a_databases_information_schema_and_dateadd_over_a_literal(make_project, query):
    """What packages write for Postgres or Snowflake and DuckDB lacks: ``<db>.information_schema.tables``
    (one per database; DuckDB keeps one for all) and ``dbt.dateadd`` from a quoted date."""
    mk, root = make_project({
        "models/a_table.sql": "select 1 as id",
        "models/tables_seen.sql": """
            {% set found = run_query("select table_name from " ~ target.database ~ ".information_schema.tables "
                                     ~ "where table_name = 'a_table'") if execute else none %}
            select {{ found.columns[0].values() | length if execute else 0 }} as n, count(*) as in_sql
            from warehouse.information_schema.tables where table_name = 'a_table'
            -- depends_on: {{ ref('a_table') }}
        """,
        "models/days.sql": "select {{ dbt.dateadd('day', 2, \"'2018-01-30'\") }} as d",
    })  # fmt: skip
    report, results = _build(mk, root)
    assert not report.failed, [(r.unique_id, r.message) for r in report.results]
    assert query(mk, root, "select n, in_sql from main.tables_seen") == [(1, 1)]
    assert query(mk, root, "select cast(d as varchar) from main.days") == [("2018-02-01 00:00:00",)]
