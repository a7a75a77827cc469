"""The model commands through the command line, on the shop dbt project."""

from __future__ import annotations

import json
import re
from pathlib import Path

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


def test_build_prints_a_line_per_node_and_shows_failing_rows(shop):
    mk, root = shop
    mk.close()
    with (root / "seeds" / "raw_orders.csv").open("a") as f:
        f.write("2,4,2024-05-07,lost,100,2024-05-07 10:00:00\n")
    result = run_cli(["build", "--project-dir", str(root), "--threads", "1"], workspace=root)
    assert result.exit_code == 1, result.output
    lines = [re.sub(r"^\d\d:\d\d:\d\d  | \.+ |in [\d.]+s", lambda m: " " if m[0].startswith(" ") else "in Ns" if m[0].startswith("in") else "", line)
             for line in result.stdout.splitlines()]  # fmt: skip
    number = {
        re.match(r"(\d+) of 21 START (.*) \[RUN\]", line)[2]: line.split()[0]
        for line in lines
        if " START " in line
    }
    stg_orders = number["sql view model main.stg_orders"]
    assert lines.index(f"{stg_orders} of 21 START sql view model main.stg_orders [RUN]") < lines.index(
        f"{stg_orders} of 21 OK created sql view model main.stg_orders [OK in Ns]")  # fmt: skip
    unique = number["test unique_stg_orders_order_id"]
    assert f"{unique} of 21 FAIL 1 unique_stg_orders_order_id [FAIL 1 in Ns]" in lines
    assert (
        f"{number['test not_null_stg_orders_order_id']} of 21 PASS not_null_stg_orders_order_id [PASS in Ns]"
        in lines
    )
    assert any(re.fullmatch(r"\d+ of 21 SKIP relation main\.orders \[SKIP\]", line) for line in lines)
    # the failure names its compiled SQL, which reruns to the rows shown
    at = lines.index("Failure in test unique_stg_orders_order_id (models/schema.yml)")
    assert lines[at + 1] == "  Got 1 result, configured to fail if != 0"
    path = re.fullmatch(r"  compiled code at (.*)", lines[at + 2])[1]
    compiled = root / path if not path.startswith("/") else Path(path)
    assert compiled.name == "unique_stg_orders_order_id.sql" and "group by" in compiled.read_text().lower()
    assert lines[at + 3] == "  failing rows:"
    assert lines[at + 4].split() == ["unique_field", "n_records"] and lines[at + 5].split() == ["2", "2"]
    assert result.stderr.count("2 of 21 nodes failed") == 1
