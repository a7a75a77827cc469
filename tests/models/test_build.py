"""End to end on the shop project: every materialization, tests, artifacts, run records, hooks."""

from __future__ import annotations

import json

from meshkit.core.hookspecs import hookimpl
from meshkit.models import BuildOptions, execute, open_project


class Capture:
    def __init__(self):
        self.written, self.finished = [], []

    @hookimpl
    def dataset_written(self, meshkit, run, dataset, rows, schema):
        self.written.append((dataset, rows, schema.names))

    @hookimpl
    def run_finished(self, meshkit, run):
        self.finished.append(run)


def test_shop_builds_every_node_and_records_the_run(shop, query):
    mk, root = shop
    capture = Capture()
    mk.pm.register(capture)
    project = open_project(mk, root)
    report = execute(mk, project, BuildOptions(threads=2))
    statuses = {r.unique_id: r.status for r in report.results}
    assert not report.failed, [(r.unique_id, r.message) for r in report.results if r.status != "success"]
    assert statuses["model.shop.customers"] == "success"
    assert statuses["unit_test.shop.daily_revenue.revenue_skips_returns"] == "pass"
    assert "model.shop.order_statuses" not in statuses  # ephemeral: inlined, not built
    assert query(mk, root, "select count(*) from customers", "shop.duckdb") == [(4,)]
    assert query(
        mk,
        root,
        "select full_name, order_count, total_amount from customers where customer_id = 1",
        "shop.duckdb",
    ) == [("Ada Lovelace", 2, 45.5)]
    # seed types follow dbt's inference; column_types override
    types = dict(
        query(
            mk,
            root,
            "select column_name, data_type from information_schema.columns where table_name = 'raw_customers'",
            "shop.duckdb",
        )
    )
    assert types == {"id": "INTEGER", "first_name": "VARCHAR", "last_name": "VARCHAR", "signup_date": "DATE",
                     "is_active": "BOOLEAN", "score": "DOUBLE"}  # fmt: skip
    kinds = dict(
        query(mk, root, "select table_name, table_type from information_schema.tables", "shop.duckdb")
    )
    assert kinds["stg_orders"] == "VIEW" and kinds["orders"] == "BASE TABLE"
    # ephemeral model inlined as a CTE
    assert query(mk, root, "select status_rank from orders where order_id = 4", "shop.duckdb") == [(4,)]
    # run record with one step per built node, lineage and results in details
    run = mk.runs.get(report.run.id)
    assert run.status == "succeeded" and run.kind == "build"
    assert {s.name for s in run.steps} == {r for r, s in statuses.items() if s == "success"}
    lineage = run.lineage
    assert any(
        t.source_node == "model.shop.stg_orders" and t.target_node == "model.shop.orders"
        for t in lineage.tables
    )
    store = report.results and lineage.columns[0].target
    assert store.endswith("/stg_customers") or "/" in store
    assert len(capture.written) == 8 and capture.finished[-1].id == run.id
    assert "customer_id" in dict((d.split("/")[-1], n) for d, _, n in capture.written)["customers"]
    # dbt-compatible artifacts
    manifest = json.loads((root / "target" / "manifest.json").read_text())
    assert manifest["metadata"]["dbt_schema_version"].endswith("manifest/v12.json")
    assert manifest["nodes"]["model.shop.orders"]["depends_on"]["nodes"] == [
        "model.shop.stg_orders",
        "model.shop.order_statuses",
    ]
    assert manifest["child_map"]["model.shop.orders"]
    results = json.loads((root / "target" / "run_results.json").read_text())
    assert {r["status"] for r in results["results"]} == {"success", "pass"}
    assert len(results["results"]) == len(report.results)


def test_incremental_second_run_and_state_modified(shop, query):
    mk, root = shop
    project = open_project(mk, root)
    execute(mk, project, BuildOptions(threads=2))
    with open(root / "seeds" / "raw_orders.csv", "a") as fh:
        fh.write("7,2,2024-05-09,placed,500,2024-05-09 10:00:00\n")
    project = open_project(mk, root)
    from meshkit.models.graph import select
    from meshkit.models.state import read_state

    modified = select(
        project, ["state:modified"], previous=read_state(project.target_dir), resource_types={"seed", "model"}
    )
    assert modified == {"seed.shop.raw_orders"}
    report = execute(mk, project, BuildOptions(select=["state:modified+"], threads=2))
    built = {r.unique_id for r in report.results if r.status == "success"}
    assert {"seed.shop.raw_orders", "model.shop.orders", "model.shop.customers"} <= built
    assert "seed.shop.raw_customers" not in built
    orders = next(r for r in report.results if r.unique_id == "model.shop.orders")
    assert orders.message.startswith("MERGE") and orders.rows == 1
    assert query(mk, root, "select count(*), count(distinct order_id) from orders", "shop.duckdb") == [(7, 7)]
