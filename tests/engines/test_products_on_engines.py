"""A product's contract verifies the same on DuckDB and on the Spark cluster, every aggregate in one scan."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from meshkit.products.loader import parse_product
from meshkit.products.products import verify_product
from meshkit.testing import plugin_workspace

PRODUCT = """\
name: orders
version: 1.0.0
status: active
domain: sales
owner: alice@example.com
outputPorts:
  - name: orders
    dataset: {dataset}
    contract:
      schema:
        - {{name: id, logicalType: integer, required: true, primaryKey: true}}
        - name: code
          logicalType: string
          logicalTypeOptions: {{minLength: 2, maxLength: 3, pattern: "[A-Z]+"}}
          quality:
            - {{metric: missingValues, arguments: {{missingValues: [null, ""]}}, mustBe: 0}}
            - {{metric: duplicateValues, unit: percent, mustBeLessThan: 10}}
        - name: amount
          logicalType: number
          logicalTypeOptions: {{minimum: 0, exclusiveMaximum: 100}}
          quality:
            - {{type: sql, query: "SELECT max({{column}}) FROM ${{table}} WHERE id > 2", mustBeLessThan: 50}}
        - {{name: seen_at, logicalType: timestamp}}
      quality:
        - {{metric: rowCount, mustBeBetween: [1, 10]}}
        - {{metric: duplicateValues, arguments: {{properties: [code, amount]}}, mustBe: 0}}
        - {{type: sql, query: "SELECT count(*) FROM ${{table}} a JOIN ${{table}} b ON a.code = b.code AND a.id < b.id",
            mustBe: 0}}
        - {{type: sql, query: "SELECT count(*) FROM ${{table}} GROUP BY code ORDER BY 1 DESC LIMIT 1", mustBe: 1}}
      slaProperties:
        - {{property: freshness, value: 1000000, unit: h, element: seen_at}}
"""

ROWS = pa.table({
    "id": pa.array([1, 2, 3, 4, 4], pa.int64()),
    "code": ["AB", "abc", "", "WXYZ", "AB"],
    "amount": [10.0, -1.0, 99.5, 100.0, 10.0],
    "seen_at": pa.array([dt.datetime(2024, 5, d) for d in (1, 2, 3, 4, 5)], pa.timestamp("us")),
})  # fmt: skip

FAILED = {"id.unique", "code.minLength", "code.maxLength", "code.pattern", "code.missingValues mustBe 0",
          "code.duplicateValues mustBeLessThan 10", "amount.minimum", "amount.exclusiveMaximum",
          "amount.sql mustBeLessThan 50", "duplicateValues mustBe 0", "sql mustBe 0", "sql mustBe 1"}  # fmt: skip


def _verify(workspace, engine: str, dataset: str, write) -> list[tuple]:
    mk = plugin_workspace(workspace.root, engine=engine)
    try:
        write(mk)
        (report,) = verify_product(
            mk, parse_product(PRODUCT.format(dataset=dataset), "orders.yaml"), record=False
        )
    finally:
        mk.close()
    return [(r.check, r.passed, r.observed) for r in report.results]


def _declare(workspace, text: str) -> None:
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + text)


def test_a_contract_on_postgres_verifies_the_same_on_spark_as_on_duckdb(
    workspace, spark_engine, pg_dsn, pg_schema
):
    _declare(workspace, f'\n[stores.pg]\ntype = "postgres"\ndsn = "{pg_dsn}"\n')
    table = f"{pg_schema}.orders"

    def write(mk):
        mk.store("pg").write(table, ROWS, mode="overwrite")

    duckdb = _verify(workspace, "duckdb", f"pg/{table}", write)
    spark = _verify(workspace, spark_engine, f"pg/{table}", write)
    assert spark == duckdb
    assert {check for check, passed, _ in duckdb if not passed} == FAILED
    observed = {check: value for check, _, value in duckdb}
    assert observed["code.duplicateValues mustBeLessThan 10"] == pytest.approx(20.0)
    assert observed["amount.sql mustBeLessThan 50"] == 100.0
    assert observed["sql mustBe 1"] == 2.0 and observed["sql mustBe 0"] == 1.0
    assert observed["freshness"] == "2024-05-05 00:00:00"


def test_a_contract_on_a_streamed_port_reads_it_once_per_scan(workspace):
    """A SQLite port reaches DuckDB as an Arrow stream: every aggregate shares one read, each other query reads again."""
    _declare(workspace, '\n[stores.lite]\ntype = "sqlite"\npath = "lite.db"\n')
    reads = []

    def write(mk):
        store = mk.store("lite")
        store.write("orders", ROWS, mode="overwrite")
        read = store.read
        store.read = lambda *a, **k: reads.append(a) or read(*a, **k)

    results = _verify(workspace, "duckdb", "lite/orders", write)
    assert {check for check, passed, _ in results if not passed} == FAILED
    assert len(reads) == 3  # the aggregates, the self-join (copied once), the grouped query
