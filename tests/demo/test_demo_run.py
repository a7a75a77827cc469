"""``meshkit demo run`` end to end at a small scale, and its report opened in Chromium."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from meshkit.testing import run_cli

CHROMIUM = "/usr/bin/chromium"


def test_demo_runs_every_stage_and_succeeds(demo):
    result, workspace = demo
    assert result.exit_code == 0, result.output
    assert "Demo succeeded" in result.stdout
    for stage in ("transfer orders-customers", "job orders_ingest 2026-11-20", "job supply_stock 2026-11-21",
                  "job customer_dimension", "build models", "publish customer", "policy access tests",
                  "query steward (audit)"):  # fmt: skip
        assert stage in result.stdout
    assert "user_error" not in result.stdout and "platform_error" not in result.stdout
    assert (workspace / ".meshkit" / "report" / "index.html").is_file()


def test_demo_built_the_domains_data(demo):
    import duckdb

    _result, workspace = demo
    con = duckdb.connect(str(workspace / ".meshkit" / "warehouse.duckdb"), read_only=True)
    try:
        pizzas = con.sql("SELECT sum(pizzas) FROM daily_sales").fetchone()[0]
        cancelled = con.sql("SELECT sum(l.quantity) FROM order_lines l JOIN orders o USING (order_id) "
                            "WHERE o.status = 'cancelled'").fetchone()[0]  # fmt: skip
        assert pizzas + cancelled == 2 * 2500
        assert con.sql("SELECT count(DISTINCT snapshot_date) FROM stock_daily").fetchone()[0] == 2
        versions, customers = con.sql(
            "SELECT count(*), count(DISTINCT customer_id) FROM dim_customer"
        ).fetchone()
        assert customers == 2000 and versions > customers  # SCD2 kept the changes as versions
        assert con.sql("SELECT count(*) FROM customers_current").fetchone()[0] == 2000
        emails = con.sql("SELECT count(*) FROM orders_customers WHERE email LIKE '%@%'").fetchone()[0]
        assert emails == 0  # digested by the transfer
    finally:
        con.close()


def test_three_roles_see_three_results(demo):
    _result, workspace = demo
    env = {"COLUMNS": "200"}
    sql = "SELECT customer_id, email, street, marketing_consent FROM customers_current ORDER BY customer_id LIMIT 50"
    analyst = run_cli(["query", "-u", "ana", "-r", "analyst", "-p", "analytics", "--format", "csv", sql],
                      workspace=workspace, env=env)  # fmt: skip
    steward = run_cli(
        ["query", "-u", "sam", "-r", "steward", "-p", "audit", "--format", "csv", sql],
        workspace=workspace,
        env=env,
    )
    marketing = run_cli(["query", "-u", "mia", "-r", "marketer", "-p", "marketing", "--format", "csv",
                         "SELECT customer_id, marketing_consent FROM customers_current"], workspace=workspace, env=env)  # fmt: skip
    assert analyst.exit_code == steward.exit_code == marketing.exit_code == 0, (
        analyst.output + steward.output + marketing.output
    )
    assert "@" not in analyst.stdout
    assert steward.stdout.count("@") == 50
    consents = [line.split(",")[1] for line in marketing.stdout.strip().splitlines()[1:]]
    assert consents and set(consents) == {"true"}
    denied = run_cli(
        ["query", "-u", "mia", "-r", "marketer", "-p", "marketing", "SELECT * FROM daily_sales"],
        workspace=workspace,
    )
    assert denied.exit_code != 0


def test_datasets_derived_from_customers_keep_their_classification(demo):
    """customer_changes copies customers from the unclassified operational database: analysts are
    denied it, stewards (granted allow_unclassified) read it; the model above the product inherits tags."""
    _result, workspace = demo
    sql = "SELECT email FROM customer_changes LIMIT 5"
    analyst = run_cli(["query", "-u", "ana", "-r", "analyst", "-p", "analytics", sql], workspace=workspace)
    assert (
        analyst.exit_code == 1
        and "classification of `warehouse/customer_changes` is unknown" in analyst.output
    )
    joined = run_cli(["query", "-u", "ana", "-r", "analyst", "-p", "analytics",
                      "SELECT * FROM customers_current POSITIONAL JOIN customer_changes"], workspace=workspace)  # fmt: skip
    assert joined.exit_code == 1 and "customer_changes" in joined.output
    steward = run_cli(["query", "-u", "sam", "-r", "steward", "-p", "audit", "--format", "csv", sql],
                      workspace=workspace)  # fmt: skip
    assert steward.exit_code == 0 and steward.stdout.count("@") == 5
    shown = run_cli(["catalog", "show", "customer_value"], workspace=workspace)
    assert (
        "marketing_consent: consent (from warehouse/customers_current.marketing_consent via build"
        in shown.stdout
    )


def test_report_shows_the_lineage_graph_in_chromium(demo, tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    _result, workspace = demo
    report = workspace / ".meshkit" / "report" / "index.html"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu",
                                                                     "--no-first-run", "--disable-background-networking"])  # fmt: skip
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(report.as_uri())
            nodes = page.locator("svg.lineage g.node")
            datasets = {nodes.nth(i).get_attribute("data-dataset") for i in range(nodes.count())}
            lanes = {page.locator("svg.lineage g.lane").nth(i).get_attribute("data-domain")
                     for i in range(page.locator("svg.lineage g.lane").count())}  # fmt: skip
            page.locator("#lineage").screenshot(path=str(tmp_path / "lineage.png"))
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
            verdict = page.locator("#verdict").inner_text()
            roles = page.locator(".read").count()
            box = page.locator("svg.lineage g.node[data-dataset='warehouse/reorder_alerts']").bounding_box()
        finally:
            browser.close()
    assert {"ops/customers", "files/raw/orders", "warehouse/orders", "warehouse/stock_daily", "warehouse/dim_customer",
            "warehouse/daily_sales", "warehouse/reorder_alerts", "warehouse/customers_current"} <= datasets  # fmt: skip
    assert {"orders", "supply", "customer"} <= lanes
    assert verdict.startswith("✓ All") and roles == 3
    assert box is not None and box["width"] > 50  # the graph is drawn, not just present in the markup
    assert (tmp_path / "lineage.png").stat().st_size > 10_000
    if os.environ.get("MESHKIT_KEEP_SCREENSHOTS"):
        shutil.copy(tmp_path / "report.png", Path(os.environ["MESHKIT_KEEP_SCREENSHOTS"]))


def test_report_lineage_comes_from_the_catalog(demo):
    """Jobs' statements, their templates and ingestion recorded the lineage the report draws."""
    from meshkit.core.context import Meshkit
    from meshkit.data.transfer import load_transfer
    from meshkit.demo.lineage import build_graph
    from meshkit.products.loader import load_product, product_files

    _result, workspace = demo
    with Meshkit.open(workspace) as mk:
        products = [load_product(p) for p in product_files(mk.workspace)]
        transfers = [load_transfer(p) for p in sorted((workspace / "transfers").glob("*.yaml"))]
        graph = build_graph(mk, products, transfers)
    jobs = {(s, t) for s, t, via in graph.edges if via == "job"}
    assert ("warehouse/customer_changes", "warehouse/dim_customer") in jobs  # the scd2 template
    assert ("warehouse/stage_stock_day", "warehouse/stock_daily") in jobs  # the periodic_snapshot template
    assert ("warehouse/stage_orders", "warehouse/orders") in jobs  # a SQL step
    assert graph.nodes["warehouse/stage_orders"].domain == "orders"  # ingested by a job of team orders
    assert ("files/raw/orders", "warehouse/stage_orders", "product") in graph.edges


def test_demo_stages_ran_as_one_pipeline(demo):
    """pipelines/smartpizza.yaml: one pipeline run, a node run per stage, each stage's run under its node."""
    import yaml

    from meshkit.core.context import Meshkit
    from meshkit.pipelines.runner import node_runs

    _result, workspace = demo
    spec = yaml.safe_load((workspace / "pipelines" / "smartpizza.yaml").read_text())
    names = [n["name"] for n in spec["nodes"]]
    assert names[-3:] == ["publish-customer", "publish-orders", "publish-supply"]
    assert {
        "orders_ingest.2026-11-21",
        "supply_stock.2026-11-21",
        "customer_dimension",
        "build",
        "checks",
    } <= set(names)
    with Meshkit.open(workspace) as mk:
        [run] = mk.runs.list(kind="pipeline", name="smartpizza")
        nodes = node_runs(mk, run.id)
        children = {
            r.parent_id: r for r in mk.runs.list(limit=1000) if r.kind in ("job", "transfer", "build")
        }
    assert run.status == "succeeded"
    assert [n.name for n in nodes] == names and {n.status for n in nodes} == {"succeeded"}
    by_name = {n.name: n for n in nodes}
    assert children[by_name["supply_stock.2026-11-21"].id].arguments == {"day": "2026-11-21"}
    assert children[by_name["orders-customers"].id].kind == "transfer"
    assert children[by_name["build"].id].kind == "build"
    report = (workspace / ".meshkit" / "report" / "index.html").read_text()
    assert 'class="pipeline-graph"' in report and report.count('class="node status-succeeded"') == len(names)
