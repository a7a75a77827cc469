"""The same checks give the same results on DuckDB and on the Spark cluster."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import yaml

from meshkit.models.checks import declared_checks
from meshkit.quality.runner import make_checks, run_all_checks, run_checks
from meshkit.testing import plugin_workspace

CHECKS = """\
dataset: pg/{asset}
checks:
  - {{type: row_count, min: 1, max: 100}}
  - {{type: numeric_range, column: amount, min: 0}}
  - {{type: regex, column: email, pattern: "[a-z]+@example\\\\.org"}}
  - {{type: missing_percent, column: email, max: 10}}
  - {{type: duplicate_percent, columns: [email], max: 0}}
  - {{type: freshness, column: updated_at, max_age: 1d}}
  - {{type: schema, columns: [id, email, amount]}}
  - {{type: sql, name: big_orders, query: "SELECT count(*) FROM {{{{ dataset }}}} WHERE amount > 100"}}
"""

ROWS = pa.table({
    "id": pa.array(range(1, 7), pa.int64()),
    "email": ["ann@example.org", "bob@example.org", None, "Zoe@example.org", "eve@example.org", "eve@example.org"],
    "amount": [10.5, -1.0, 250.0, 3.0, 7.25, 101.0],
    "updated_at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 6, pa.timestamp("us", "UTC")),
})  # fmt: skip


def test_checks_on_spark_match_duckdb_row_for_row(workspace, spark_engine, pg_dsn, pg_schema, cli):
    (workspace.root / "checks").mkdir(exist_ok=True)
    (workspace.root / "checks" / "orders.yaml").write_text(CHECKS.format(asset=f"{pg_schema}.orders"))
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[stores.pg]\ntype = "postgres"\ndsn = "{pg_dsn}"\n')
    mk = plugin_workspace(workspace.root)
    try:
        mk.store("pg").write(f"{pg_schema}.orders", ROWS)
        blocks = declared_checks(mk)
        duckdb = run_all_checks(mk, blocks, names=[f"pg/{pg_schema}.orders"]).results
        spark = run_all_checks(mk, blocks, names=[f"pg/{pg_schema}.orders"], engine=spark_engine).results
    finally:
        mk.close()

    def summary(results):
        return [
            (r.name, r.status, None if r.value is None or r.type == "freshness" else pytest.approx(r.value))
            for r in results
        ]

    assert summary(spark) == summary(duckdb)
    assert [r.status for r in duckdb] == ["pass", "fail", "fail", "fail", "fail", "fail", "pass", "fail"]
    assert [r.value for r in duckdb][:5] == pytest.approx([6, 1, 1, 100 / 6, 100 / 6])
    result = cli("check", "--engine", spark_engine)
    assert result.exit_code == 1 and "big_orders" in result.output


def test_checks_of_a_parquet_dataset_share_one_scan_and_agree_on_spark(workspace, spark_engine):
    """The aggregate checks fold into one ``SELECT ... FROM`` the dataset, on DuckDB and on Spark alike."""
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + '\n[stores.lake]\ntype = "files"\npath = "lake"\nformat = "parquet"\n')
    specs = yaml.safe_load(CHECKS.format(asset="orders.parquet"))["checks"]
    mk = plugin_workspace(workspace.root)
    try:
        folded = [c.type for c in make_checks(mk, specs, "checks") if c.aggregate() is not None]
        mk.store("lake").write("orders.parquet", ROWS)
        duckdb = run_checks(mk, "lake", "orders.parquet", specs)
        spark = run_checks(mk, "lake", "orders.parquet", specs, engine=spark_engine)
    finally:
        mk.close()
    assert folded == ["row_count", "numeric_range", "regex", "missing_percent", "freshness"]

    def summary(results):
        return [(r.name, r.status, None if r.value is None or r.type == "freshness" else pytest.approx(r.value))
                for r in results]  # fmt: skip

    assert summary(spark) == summary(duckdb)
    assert [r.status for r in duckdb] == ["pass", "fail", "fail", "fail", "fail", "fail", "pass", "fail"]
