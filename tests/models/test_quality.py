"""The ``checks:`` block on warehouse tables, on a dataset in another store, and through the CLI."""

from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl
from meshkit.quality import Check, run_checks
from meshkit.quality.runner import check_types


def _orders(mk):
    now = datetime.now()
    con = mk.store("warehouse").connection.cursor()
    con.execute("create table orders (id int, email varchar, amount double, updated_at timestamp)")
    con.execute("insert into orders values (1, 'a@x.io', 10, ?), (2, 'bad', 25, ?), (2, null, -1, ?)",
                [now - timedelta(hours=1), now - timedelta(hours=2), now - timedelta(days=3)])  # fmt: skip


CHECKS = [
    {"type": "row_count", "min": 1, "max": 10},
    {"type": "row_count", "min": 5, "name": "enough_rows"},
    {"type": "freshness", "column": "updated_at", "max_age": "6h"},
    {"type": "freshness", "column": "updated_at", "max_age": "10m", "severity": "warn", "name": "very_fresh"},
    {"type": "numeric_range", "column": "amount", "min": 0, "max": 100},
    {"type": "regex", "column": "email", "pattern": "[^@]+@[^@]+"},
    {"type": "schema", "columns": {"id": "integer", "email": "varchar"}},
    {"type": "schema", "columns": ["id", "missing_col"], "name": "schema_missing"},
    {"type": "duplicate_percent", "columns": ["id"], "max": 10},
    {"type": "missing_percent", "column": "email", "max": 50},
    {
        "type": "sql",
        "query": "select count(*) from {{ dataset }} where amount > 20",
        "max": 0,
        "name": "big_orders",
    },
]


def test_every_check_type_on_a_warehouse_table(mk):
    _orders(mk)
    results = {r.name: r for r in run_checks(mk, "warehouse", "orders", CHECKS)}
    status = {name: r.status for name, r in results.items()}
    assert status == {
        "row_count": "pass", "enough_rows": "fail", "freshness_updated_at": "pass", "very_fresh": "warn",
        "numeric_range_amount": "fail", "regex_email": "fail", "schema": "pass", "schema_missing": "fail",
        "duplicate_percent_id": "fail", "missing_percent_email": "pass", "big_orders": "fail",
    }  # fmt: skip
    assert results["numeric_range_amount"].value == 1
    assert results["duplicate_percent_id"].value == pytest.approx(100 / 3)
    assert "missing column missing_col" in results["schema_missing"].message


def test_checks_run_on_a_dataset_in_another_store(mk):
    sqlite = mk.store("sqlite")
    sqlite.write("people", pa.table({"id": [1, 2, 3], "name": ["a", None, "c"]}), mode="overwrite")
    results = run_checks(
        mk,
        "sqlite",
        "people",
        [{"type": "row_count", "min": 3}, {"type": "missing_percent", "column": "name", "max": 20}],
    )
    assert [(r.dataset, r.status) for r in results] == [("sqlite/people", "pass"), ("sqlite/people", "fail")]


def test_bad_check_specs_are_config_errors(mk):
    with pytest.raises(ConfigError, match="Unknown check type `nope`"):
        run_checks(mk, "warehouse", "orders", [{"type": "nope"}])
    with pytest.raises(ConfigError, match="needs `column`"):
        run_checks(mk, "warehouse", "orders", [{"type": "regex", "pattern": "x"}])


class Positive(Check):
    type = "positive"
    required = ("column",)

    def expression(self, relation):
        return f"(select count(*) from {relation} where {self.spec['column']} <= 0)"

    def judge(self, value):
        return ("pass" if value == 0 else "fail"), f"{value} non-positive"


class PositivePlugin:
    @hookimpl
    def register_check_types(self):
        return [Positive]


def test_check_types_are_plugins_and_meshkit_check_records_a_run(mk, cli, workspace):
    mk.pm.register(PositivePlugin())
    assert "positive" in check_types(mk) and "freshness" in check_types(mk)
    _orders(mk)
    assert (
        run_checks(mk, "warehouse", "orders", [{"type": "positive", "column": "amount"}])[0].status == "fail"
    )
    mk.close()
    (workspace.root / "checks").mkdir()
    (workspace.root / "checks" / "orders.yaml").write_text(
        "dataset: warehouse/orders\nchecks:\n  - {type: row_count, min: 1}\n  - {type: numeric_range, column: amount, min: 0}\n"
    )
    result = cli("check")
    assert result.exit_code == 1, result.output
    assert "numeric_range_amount" in result.stdout and "1 failed" in result.stdout
    (workspace.root / "checks" / "orders.yaml").write_text(
        "dataset: warehouse/orders\nchecks:\n  - {type: row_count, min: 1}\n"
    )
    result = cli("check")
    assert result.exit_code == 0, result.output
