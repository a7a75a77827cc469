"""Spark through a Spark Connect server (``remote = "sc://..."``): transfers, a model build and checks
give the same rows as on DuckDB."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from test_checks_on_engines import CHECKS, STATUSES
from test_checks_on_engines import ROWS as CHECKED
from test_models_on_engines import build_twice

from meshkit.data.transfer import parse_transfer, run_transfer
from meshkit.engines import open_engine
from meshkit.models.checks import declared_checks
from meshkit.quality.runner import run_all_checks
from meshkit.testing import plugin_workspace

ORDERS = pa.table({
    "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
    "email": ["ann@example.org", "bob@example.org", None, "zoë@exämple.org", "eve@example.org"],
    "amount": pa.array([decimal.Decimal(v) for v in ("10.50", "0.01", "99999.99", "-3.00", "7.25")], pa.decimal128(12, 2)),
    "created": pa.array([dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)], pa.date32()),
    "paid": [True, False, None, True, False],
})  # fmt: skip

SPEC = """\
kind: BatchTransfer
metadata: {{name: {name}}}
spec:
  engine: {engine}
  source: {{store: pg, asset: {asset}}}
  destination: {{store: lake, asset: {target}, mode: overwrite}}
  transformation:
  - {{action: Digest, columns: [email], options: {{algo: sha256}}}}
  - {{action: Redact, columns: [created], options: {{mode: formatted}}}}
  - {{action: Filter, options: {{predicate: "amount > 0"}}}}
  - {{action: Rename, options: {{paid: is_paid}}}}
  - {{action: Cast, columns: [amount], options: {{type: DOUBLE}}}}
"""


def _declare_stores(workspace, pg_dsn: str) -> None:
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[stores.pg]\ntype = "postgres"\ndsn = "{pg_dsn}"\n'
                    '[stores.lake]\ntype = "files"\npath = "lake"\n')  # fmt: skip


def test_a_postgres_transfer_through_spark_connect_gives_duckdbs_rows(
    workspace, connect_engine, pg_dsn, pg_schema
):
    _declare_stores(workspace, pg_dsn)
    mk = plugin_workspace(workspace.root)
    try:
        mk.store("pg").write(f"{pg_schema}.orders", ORDERS)
        status = {}
        for engine in ("duckdb", connect_engine):
            spec = SPEC.format(name=f"pg-{engine}", engine=engine, asset=f"{pg_schema}.orders", target=engine)
            result = run_transfer(mk, parse_transfer(spec))
            assert result.ok, result.error
            status[engine] = result.status
        rows = {e: sorted(mk.store("lake").read(e).read_all().to_pylist(), key=lambda r: r["id"])
                for e in ("duckdb", connect_engine)}  # fmt: skip
    finally:
        mk.close()
    assert status[connect_engine]["plan"] == "spark jdbc -> spark engine `connect` -> store files"
    assert status[connect_engine]["numRecords"] == status["duckdb"]["numRecords"] == 4
    assert rows[connect_engine] == rows["duckdb"]
    assert [r["id"] for r in rows["duckdb"]] == [1, 2, 3, 5] and rows["duckdb"][0]["is_paid"] is True


def test_a_model_project_builds_the_same_tables_through_spark_connect(workspace, connect_engine):
    first, second, contents = build_twice(workspace, connect_engine)
    duckdb, connect = contents["duckdb"], contents[connect_engine]
    assert first["duckdb"] == first[connect_engine] and second["duckdb"] == second[connect_engine]
    assert connect == duckdb
    assert len(duckdb["order_facts"]) == 5 and len(duckdb["order_log"]) == 6


def test_checks_through_spark_connect_match_duckdb(workspace, connect_engine, pg_dsn, pg_schema):
    (workspace.root / "checks").mkdir(exist_ok=True)
    (workspace.root / "checks" / "orders.yaml").write_text(CHECKS.format(asset=f"{pg_schema}.orders"))
    _declare_stores(workspace, pg_dsn)
    mk = plugin_workspace(workspace.root)
    try:
        mk.store("pg").write(f"{pg_schema}.orders", CHECKED)
        blocks, names = declared_checks(mk), [f"pg/{pg_schema}.orders"]
        duckdb = run_all_checks(mk, blocks, names=names).results
        connect = run_all_checks(mk, blocks, names=names, engine=connect_engine).results
    finally:
        mk.close()

    def summary(results):
        return [(r.name, r.status, None if r.value is None or r.type == "freshness" else pytest.approx(r.value))
                for r in results]  # fmt: skip

    assert summary(connect) == summary(duckdb)
    assert [r.status for r in duckdb] == STATUSES


def test_a_connect_engine_and_a_classic_one_share_a_process(workspace, connect_engine, spark_engine):
    """pyspark's generic builder refuses a Connect session beside a classic one and, opened first, turns the
    process to Connect mode: engines of both kinds open and answer here in either order."""
    mk = plugin_workspace(workspace.root)
    try:
        for name in (spark_engine, connect_engine, spark_engine):
            with open_engine(mk, name) as engine:
                assert engine.fetch_one("SELECT 1 + 1") == (2,)
    finally:
        mk.close()


def test_an_unreachable_connect_server_names_its_url(workspace):
    from meshkit.core.errors import PlatformError
    from meshkit.engines import open_engine
    from meshkit.engines.cluster import free_port

    url = f"sc://127.0.0.1:{free_port()}"
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[engines.gone]\ntype = "spark"\nremote = "{url}"\n')
    mk = plugin_workspace(workspace.root)
    try:
        with pytest.raises(PlatformError) as caught:
            open_engine(mk, "gone")
    finally:
        mk.close()
    assert url in str(caught.value) and "Connect server" in str(caught.value)
    assert "meshkit.toml [engines.gone]" in str(caught.value)
