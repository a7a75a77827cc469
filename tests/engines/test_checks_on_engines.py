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
  - {{type: duplicate_percent, columns: [email, paid_at], max: 0}}
"""

ROWS = pa.table({
    "id": pa.array(range(1, 7), pa.int64()),
    "email": ["ann@example.org", "bob@example.org", None, "Zoe@example.org", "eve@example.org", "eve@example.org"],
    "amount": [10.5, -1.0, 250.0, 3.0, 7.25, 101.0],
    "updated_at": pa.array([dt.datetime(2024, 1, 1, tzinfo=dt.UTC)] * 6, pa.timestamp("us", "UTC")),
    "paid_at": pa.array([None, None, None, None, dt.date(2024, 1, 2), dt.date(2024, 1, 2)], pa.date32()),
})  # fmt: skip


#: The status of each check of ``CHECKS`` over ``ROWS``, in order.
STATUSES = ["pass", "fail", "fail", "fail", "fail", "fail", "pass", "fail", "fail"]


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
    assert [r.status for r in duckdb] == STATUSES
    assert [r.value for r in duckdb][:5] == pytest.approx([6, 1, 1, 100 / 6, 100 / 6])
    assert duckdb[-1].value == pytest.approx(100 / 6)  # (eve, 2024-01-02) twice
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
    assert folded == ["row_count", "numeric_range", "regex", "missing_percent", "duplicate_percent", "freshness", "sql",
                      "duplicate_percent"]  # fmt: skip

    def summary(results):
        return [(r.name, r.status, None if r.value is None or r.type == "freshness" else pytest.approx(r.value))
                for r in results]  # fmt: skip

    assert summary(spark) == summary(duckdb)
    assert [r.status for r in duckdb] == STATUSES


STREAMED = [
    {"type": "duplicate_percent", "columns": ["email", "paid"], "max": 0},
    {"type": "sql", "name": "folded", "query": "SELECT sum(amount) FROM {{ dataset }} WHERE email IS NULL OR amount > 100"},
    {"type": "sql", "name": "alone", "query": "SELECT max(amount) FROM {{ dataset }} HAVING count(*) > 3", "min": 0},
    {"type": "sql", "name": "self_join", "query": "SELECT count(*) FROM {{ dataset }} a JOIN {{ dataset }} b "
                                                  "ON a.email = b.email AND a.id < b.id"},
]  # fmt: skip


def test_checks_of_a_streamed_dataset_read_it_once_per_scan(workspace):
    """A SQLite table reaches DuckDB as an Arrow stream: the folded checks share one read, the others read again."""
    from meshkit.engines import open_engine
    from meshkit.quality.scans import DatasetScans

    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + '\n[stores.lite]\ntype = "sqlite"\npath = "lite.db"\n')
    mk = plugin_workspace(workspace.root)
    reads = []
    try:
        store = mk.store("lite")
        store.write(
            "orders",
            ROWS.drop_columns(["paid_at"]).append_column(
                "paid", pa.array([True, True, None, None, False, False])
            ),
        )
        read = store.read
        store.read = lambda *a, **k: reads.append(a) or read(*a, **k)
        results = run_checks(mk, "lite", "orders", STREAMED)
        with open_engine(mk) as engine:
            scans = DatasetScans(engine, store, "orders")
            assert not scans.first.rescannable
            scans.close()
    finally:
        mk.close()
    # one read for the two folded checks, one for `alone`, one copied for the self-join; one by the test
    assert len(reads) == 4
    got = {r.name: (r.status, r.value) for r in results}
    assert got == {"duplicate_percent_email_paid": ("fail", pytest.approx(100 / 6)),
                   "folded": ("fail", pytest.approx(250.0 + 101.0)), "alone": ("pass", pytest.approx(250.0)),
                   "self_join": ("fail", 1)}  # fmt: skip


FOLDS = [
    ("SELECT count(*) FROM ds WHERE amount > 100", "COUNT(CASE WHEN amount > 100 THEN 1 END)"),
    ("SELECT 100.0 * sum(x) / count(*) AS share FROM ds AS d WHERE d.y IS NULL",
     "100.0 * SUM(CASE WHEN y IS NULL THEN x END) / COUNT(CASE WHEN y IS NULL THEN 1 END)"),
    ("SELECT count(DISTINCT a) FROM ds WHERE b > 1", "COUNT(DISTINCT CASE WHEN b > 1 THEN a END)"),
    ("SELECT max(amount) FROM ds", "MAX(amount)"),
    ("SELECT string_agg(a, ',') FROM ds WHERE b > 1", None),  # not among the aggregates known to skip nulls
    ("SELECT count(*) FROM ds a JOIN ds b ON a.id = b.id", None),
    ("SELECT count(*) FROM ds GROUP BY a", None),
    ("SELECT max(x) FROM ds WHERE x IN (SELECT 1)", None),
    ("SELECT count(*) FROM (SELECT * FROM ds)", None),
    ("SELECT count(*) FROM other", None),
    ("SELECT amount FROM ds LIMIT 1", None),
    ("SELECT count(*) FROM ds; SELECT 1", None),
]  # fmt: skip


@pytest.mark.parametrize(("query", "folded"), FOLDS)
def test_a_query_folds_into_the_shared_scan_only_when_its_value_cannot_change(query, folded):
    from meshkit.quality.fold import fold_query

    assert fold_query(query, "ds") == folded
