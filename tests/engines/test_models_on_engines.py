"""A model project builds on the Spark cluster with the same tables, row for row, as on DuckDB."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from meshkit.models import BuildOptions, execute, open_project
from meshkit.models.models import open_warehouse
from meshkit.testing import plugin_workspace

PROFILE = """\
shop:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      threads: 2
"""

FILES = {
    "dbt_project.yml": "name: shop\nprofile: shop\nconfig-version: 2\n",
    "profiles.yml": PROFILE,
    "seeds/customers.csv": "id,name,tier\n1,Ann,gold\n2,Bob,silver\n3,Cid,gold\n",
    "seeds/orders.csv": """\
        id,customer_id,amount_cents,status,ordered_on,updated_at
        1,1,1250,placed,2024-01-01,1
        2,1,300,shipped,2024-01-01,1
        3,2,999,placed,2024-01-02,1
        4,3,4500,returned,2024-01-03,1
        """,
    "models/stg_orders.sql": """\
        {{ config(materialized='ephemeral') }}
        select id as order_id, customer_id, amount_cents, status, ordered_on, updated_at
        from {{ ref('orders') }}
        """,
    "models/customer_orders.sql": """\
        {{ config(materialized='table') }}
        select c.id as customer_id, c.name, count(o.order_id) as orders,
               coalesce(sum(o.amount_cents), 0) as total_cents
        from {{ ref('customers') }} c left join {{ ref('stg_orders') }} o on o.customer_id = c.id
        group by c.id, c.name
        """,
    "models/named_customers.sql": """\
        select customer_id, upper(name) as shout, total_cents
        from {{ ref('customer_orders') }} where name <> 'Bob'
        """,
    "models/order_facts.sql": """\
        {{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge') }}
        select order_id, customer_id, status, amount_cents, updated_at from {{ ref('stg_orders') }}
        {% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
        """,
    "models/daily_revenue.sql": """\
        {{ config(materialized='incremental', incremental_strategy='insert_overwrite', partition_by='ordered_on') }}
        select ordered_on, count(*) as orders, sum(amount_cents) as cents from {{ ref('stg_orders') }}
        {% if is_incremental() %} where ordered_on >= (select max(ordered_on) from {{ this }}) {% endif %}
        group by ordered_on
        """,
    "models/order_log.sql": """\
        {{ config(materialized='incremental') }}
        select order_id, status, updated_at from {{ ref('stg_orders') }}
        {% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
        """,
    # merges into some of the table's columns: the others keep their values in matched rows
    "models/order_merge_some.sql": """\
        {{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge',
                  merge_update_columns=['status']) }}
        select order_id, status, amount_cents, updated_at from {{ ref('stg_orders') }}
        {% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
        """,
    "models/order_merge_but.sql": """\
        {{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge',
                  merge_exclude_columns=['first_status']) }}
        select order_id, status, status as first_status, updated_at from {{ ref('stg_orders') }}
        {% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
        """,
    "models/order_merge_fewer.sql": """\
        {{ config(materialized='incremental', unique_key='order_id', incremental_strategy='merge') }}
        select order_id, status{% if not is_incremental() %}, amount_cents{% endif %}, updated_at
        from {{ ref('stg_orders') }}
        {% if is_incremental() %} where updated_at > (select max(updated_at) from {{ this }}) {% endif %}
        """,
    "models/schema.yml": """\
        version: 2
        seeds:
          - name: customers
            columns:
              - name: tier
                tests:
                  - accepted_values: {values: [gold], config: {severity: warn}}
        models:
          - name: customer_orders
            columns:
              - name: customer_id
                tests: [unique, not_null]
          - name: named_customers
            columns:
              - name: shout
                tests: [not_null]
          - name: order_facts
            columns:
              - name: order_id
                tests: [unique, not_null]
              - name: status
                tests:
                  - accepted_values: {values: [placed, shipped, returned, cancelled]}
              - name: customer_id
                tests:
                  - relationships: {to: "ref('customers')", field: id}
        """,
}
#: The second run: order 2 is cancelled, order 5 arrives.
ORDERS_LATER = """\
id,customer_id,amount_cents,status,ordered_on,updated_at
1,1,1250,placed,2024-01-01,1
2,1,300,cancelled,2024-01-01,2
3,2,999,placed,2024-01-02,1
4,3,4500,returned,2024-01-03,1
5,2,700,placed,2024-01-03,2
"""
TABLES = [
    "customers",
    "orders",
    "customer_orders",
    "named_customers",
    "order_facts",
    "daily_revenue",
    "order_log",
    "order_merge_some",
    "order_merge_but",
    "order_merge_fewer",
]


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _build(mk, root: Path, engine: str) -> dict[str, tuple[str, int | None]]:
    report = execute(mk, open_project(mk, root), BuildOptions("build", threads=2, engine=engine))
    return {r.unique_id: (r.status, r.failures) for r in report.results}


def _contents(mk, root: Path, engine: str) -> dict[str, list[tuple]]:
    wh = open_warehouse(mk, open_project(mk, root), engine)
    cur = wh.cursor()
    return {t: sorted(cur.execute(f'select * from "main"."{t}"').fetchall(), key=repr) for t in TABLES}


def build_twice(workspace, engine: str) -> tuple[dict, dict, dict]:
    """The shop project built on DuckDB and on ``engine``, then again after new orders: each build's
    statuses and the tables' contents after the second, by engine."""
    root = workspace.root / "shop"
    _write(root, FILES)
    mk = plugin_workspace(workspace.root)
    try:
        first = {e: _build(mk, root, e) for e in ("duckdb", engine)}
        (root / "seeds" / "orders.csv").write_text(ORDERS_LATER)
        second = {e: _build(mk, root, e) for e in ("duckdb", engine)}
        contents = {e: _contents(mk, root, e) for e in ("duckdb", engine)}
    finally:
        mk.close()
    return first, second, contents


def test_model_project_builds_the_same_tables_on_spark_as_on_duckdb(workspace, spark_engine, cli):
    first, second, contents = build_twice(workspace, spark_engine)
    duckdb, spark, root = contents["duckdb"], contents[spark_engine], workspace.root / "shop"

    assert first["duckdb"] == first[spark_engine] and second["duckdb"] == second[spark_engine]
    statuses = second["duckdb"]
    assert (
        statuses["seed.shop.customers"] == ("success", None)
        and statuses["model.shop.order_facts"][0] == "success"
    )
    assert sorted(s for s, _ in statuses.values() if s not in ("success", "pass")) == ["warn"]
    assert spark == duckdb
    assert duckdb["order_facts"] == [(1, 1, "placed", 1250, 1), (2, 1, "cancelled", 300, 2), (3, 2, "placed", 999, 1),
                                     (4, 3, "returned", 4500, 1), (5, 2, "placed", 700, 2)]  # fmt: skip
    assert [(str(d), n, c) for d, n, c in duckdb["daily_revenue"]] == [
        ("2024-01-01", 2, 1550), ("2024-01-02", 1, 999), ("2024-01-03", 2, 5200)]  # fmt: skip
    assert len(duckdb["order_log"]) == 6  # appended: order 2 twice
    # order 2 changed: only `status` is updated, only `first_status` is not, `amount_cents` is not selected
    assert duckdb["order_merge_some"][1:] == [(2, "cancelled", 300, 1), (3, "placed", 999, 1),
                                              (4, "returned", 4500, 1), (5, "placed", 700, 2)]  # fmt: skip
    assert duckdb["order_merge_but"][1:3] == [(2, "cancelled", "shipped", 2), (3, "placed", "placed", 1)]
    assert duckdb["order_merge_fewer"][1] == (2, "cancelled", 300, 2)
    assert duckdb["order_merge_fewer"][4] == (5, "placed", None, 2)

    # a failing model names its file and line, without Spark's Java stack trace
    (root / "models" / "broken.sql").write_text(
        "select\n  customer_id,\n  no_such_column\nfrom {{ ref('customer_orders') }}\n"
    )
    result = cli("build", "--engine", spark_engine, "--project-dir", str(root), "-s", "broken")
    assert result.exit_code == 1
    assert "models/broken.sql:3" in result.output and "no_such_column" in result.output
    assert "at org.apache" not in result.output and "JVM stacktrace" not in result.output


def test_unknown_engine_and_strategy_are_named(tmp_path):
    _write(tmp_path / "p", {**FILES, "models/bad_strategy.sql": "{{ config(materialized='incremental', "
                            "incremental_strategy='upsert') }}\nselect 1 as id\n"})  # fmt: skip
    mk = plugin_workspace(tmp_path / "ws")
    try:
        project = open_project(mk, tmp_path / "p")
        with pytest.raises(Exception, match="Unknown engine `sparky`"):
            execute(mk, project, BuildOptions("build", engine="sparky"))
        report = execute(mk, project, BuildOptions("run", select=["bad_strategy"]))
    finally:
        mk.close()
    (result,) = report.results
    assert result.status == "error" and "incremental_strategy `upsert`" in result.message


PRODUCT = """\
name: customers
version: 1.0.0
status: active
domain: sales
owner: alice@example.com
outputPorts:
  - name: customers
    dataset: lake/customers.parquet
    contract:
      schema:
        - {name: id, logicalType: integer, required: true, primaryKey: true}
        - name: email
          logicalType: string
          logicalTypeOptions: {pattern: "^[^@]+@[^@]+$"}
          quality:
            - {metric: nullValues, mustBe: 0}
        - name: region
          logicalType: string
          quality:
            - {metric: invalidValues, arguments: {validValues: [EU, US]}, mustBe: 0}
        - {name: score, logicalType: number}
      quality:
        - {metric: rowCount, mustBeGreaterThan: 0}
        - {type: sql, query: "SELECT count(*) FROM ${table} WHERE score < 0", mustBe: 0}
"""


def test_product_contract_verifies_the_same_on_spark_as_on_duckdb(workspace, spark_engine):
    import pyarrow as pa

    from meshkit.products.loader import parse_product
    from meshkit.products.products import verify_product

    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + '\n[stores.lake]\ntype = "files"\npath = "lake"\n')
    rows = pa.table({"id": pa.array([1, 2, 2], pa.int64()), "email": ["a@x.org", "nope", None],
                     "region": ["EU", "MARS", "US"], "score": [1.0, -2.0, 3.5]})  # fmt: skip
    product = parse_product(PRODUCT, "customers.yaml")
    reports = {}
    for engine in ("duckdb", spark_engine):
        mk = plugin_workspace(workspace.root, engine=engine)
        try:
            mk.store("lake").write("customers.parquet", rows, mode="overwrite")
            (report,) = verify_product(mk, product, record=False)
        finally:
            mk.close()
        reports[engine] = [(r.check, r.passed, r.observed) for r in report.results]
    assert reports[spark_engine] == reports["duckdb"]
    failed = {check for check, passed, _ in reports["duckdb"] if not passed}
    assert failed == {"id.unique", "email.pattern", "email.nullValues mustBe 0", "region.invalidValues mustBe 0",
                      "sql mustBe 0"}  # fmt: skip
