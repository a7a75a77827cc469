"""The model commands through the command line, on the shop dbt project."""

from __future__ import annotations

import json

from meshkit.testing import run_cli


def test_build_test_ls_compile_lineage_commands(shop):
    mk, root = shop
    mk.close()
    args = ["--project-dir", str(root)]

    def run(*argv):
        return run_cli([*argv, *args], workspace=root)

    result = run("seed")
    assert result.exit_code == 0, result.output
    assert "SUCCESS" in result.stdout and "2" in result.stdout
    result = run("build", "--threads", "2")
    assert result.exit_code == 0, result.output
    assert "Completed successfully" in result.stdout
    result = run("models", "run", "-s", "marts")
    assert result.exit_code == 0, result.output
    run_results = json.loads((root / "target" / "run_results.json").read_text())
    assert {r["unique_id"] for r in run_results["results"]} == {
        "model.shop.customers",
        "model.shop.orders",
        "model.shop.daily_revenue",
    }
    result = run("test", "stg_orders")
    assert result.exit_code == 0 and "PASS" in result.stdout, result.output
    result = run("snapshot")
    assert result.exit_code == 0, result.output
    result = run("ls", "--resource-type", "model", "--output", "path")
    assert (
        result.stdout.split() == sorted(result.stdout.split()) or "models/marts/orders.sql" in result.stdout
    )
    assert "models/staging/stg_orders.sql" in result.stdout and "seeds/" not in result.stdout
    result = run("compile", "--dialect", "trino", "customers")
    assert result.exit_code == 0, result.output
    compiled = (root / "target" / "compiled" / "shop" / "models" / "marts" / "customers.sql").read_text()
    assert '"shop"."main"."stg_orders"' in compiled.replace("\n", " ")
    result = run("lineage", "customers.total_amount")
    assert result.exit_code == 0, result.output
    assert "stg_orders.amount" in result.stdout and "raw_orders.amount_cents" in result.stdout
    result = run("lineage", "stg_orders", "--downstream", "--json")
    edges = json.loads(result.stdout)
    assert {"source": "model.shop.orders", "target": "model.shop.daily_revenue"} in edges


def test_failures_set_exit_codes(shop):
    mk, root = shop
    mk.close()
    (root / "models" / "marts" / "daily_revenue.sql").write_text("select * from {{ ref('missing_model') }}")
    result = run_cli(["build", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 2
    assert "models/marts/daily_revenue.sql:1" in result.stderr and "ref('missing_model')" in result.stderr
    (root / "models" / "marts" / "daily_revenue.sql").write_text(
        "select date '2024-05-01' as order_date, 1.0 as revenue, 1 as orders union all select date '2024-05-01', 2.0, 3"
    )
    result = run_cli(["build", "--project-dir", str(root), "--fail-fast", "--threads", "1"], workspace=root)
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.stdout and "revenue_skips_returns" in result.stdout
    run_results = json.loads((root / "target" / "run_results.json").read_text())
    statuses = {r["unique_id"]: r["status"] for r in run_results["results"]}
    assert statuses["unit_test.shop.daily_revenue.revenue_skips_returns"] == "fail"
    assert statuses["model.shop.daily_revenue"] == "skipped"
