"""The same transfer specs on DuckDB and on a Spark standalone cluster give the same rows."""

from __future__ import annotations

import pyarrow as pa
import pytest
from transfer_helpers import ORDERS, spec_yaml, transfer

TRANSFORMS = """\
  transformation:
  - action: Digest
    columns: [email]
    options: {algo: sha256}
  - action: Redact
    columns: [created]
    options: {mode: formatted}
  - action: Filter
    options: {predicate: "amount > 0"}
  - action: Rename
    options: {paid: is_paid}
  - action: Cast
    columns: [amount]
    options: {type: DOUBLE}
  - action: RemoveColumn
    columns: [updated_at]
"""


def rows(store, asset) -> list[dict]:
    return sorted(store.read(asset).read_all().to_pylist(), key=lambda r: r["id"])


def on(engine: str | None) -> str:
    return f"  engine: {engine}\n" if engine else ""


@pytest.fixture
def pg_orders(open_mk, stores, pg_dsn, pg_schema, spark_engine):
    stores("pg", type="postgres", dsn=pg_dsn)
    mk = open_mk()
    mk.store("pg").write(f"{pg_schema}.orders", ORDERS)
    return mk, f"{pg_schema}.orders"


def test_postgres_to_parquet_gives_the_same_rows_on_spark_and_duckdb(pg_orders, spark_engine):
    mk, asset = pg_orders
    results = {}
    for engine in (None, spark_engine):
        target = f"orders_{engine or 'duckdb'}"
        result = transfer(mk, spec_yaml(f"pg-{engine or 'duckdb'}", "pg", asset, "lake", target,
                                        transformation=TRANSFORMS, extra=on(engine)))  # fmt: skip
        assert result.ok, result.error
        results[engine] = result.status
    spark = results[spark_engine]
    assert spark["plan"] == "spark jdbc -> spark engine `cluster` -> store files"
    assert spark["numRecords"] == results[None]["numRecords"] == 4
    assert rows(mk.store("lake"), "orders_cluster") == rows(mk.store("lake"), "orders_duckdb")
    assert spark["transformedColumns"] == results[None]["transformedColumns"]
    run = mk.runs.get(spark["runId"])
    assert run.status == "succeeded" and run.rows_written == 4
    edges = {
        (e.target_column, e.source_column) for e in run.lineage.columns if e.target == "lake/orders_cluster"
    }
    assert ("is_paid", "paid") in edges


def test_mariadb_and_files_through_spark_into_every_write_mode(
    open_mk, stores, mysql_dsn, mysql_db, spark_engine
):
    stores("maria", type="mysql", dsn=f"mysql://root@127.0.0.1:3306/{mysql_db}")
    stores("csv", type="files", path="csv", format="csv")
    mk = open_mk()
    mk.store("maria").write("orders", ORDERS.drop_columns(["updated_at"]))
    for engine in (None, spark_engine):
        name = engine or "duckdb"
        first = transfer(
            mk, spec_yaml(f"maria-{name}", "maria", "orders", "lite", f"o_{name}", extra=on(engine))
        )
        assert first.ok, first.error
        merged = transfer(mk, spec_yaml(f"merge-{name}", "maria", "orders", "lite", f"o_{name}", mode="merge",
                                        keys=["id"], extra=on(engine)))  # fmt: skip
        assert merged.ok, merged.error
        appended = transfer(mk, spec_yaml(f"csv-{name}", "lite", f"o_{name}", "csv", f"o_{name}.csv",
                                          mode="append", extra=on(engine)))  # fmt: skip
        assert appended.ok, appended.error
    lite = mk.store("lite")
    assert rows(lite, f"o_{spark_engine}") == rows(lite, "o_duckdb")
    assert len(rows(lite, "o_duckdb")) == 5
    assert rows(mk.store("csv"), f"o_{spark_engine}.csv") == rows(mk.store("csv"), "o_duckdb.csv")


def test_a_failing_spark_transfer_leaves_the_target_as_it_was(pg_orders, spark_engine):
    mk, asset = pg_orders
    assert transfer(mk, spec_yaml("keep", "pg", asset, "lite", "kept", extra=on(spark_engine))).ok
    before = rows(mk.store("lite"), "kept")
    bad = """\
  transformation:
  - action: Filter
    options: {predicate: "no_such_column > 0"}
"""
    result = transfer(
        mk, spec_yaml("bad", "pg", asset, "lite", "kept", transformation=bad, extra=on(spark_engine))
    )
    assert not result.ok and result.status["phase"] == "Fatal"
    error = result.status["error"]
    assert "no_such_column" in error and "at org.apache" not in error and "\tat " not in error
    assert rows(mk.store("lite"), "kept") == before


def test_an_unreachable_cluster_names_its_master_url(open_mk, stores, workspace):
    from meshkit.core.errors import PlatformError
    from meshkit.engines import open_engine
    from meshkit.engines.cluster import free_port

    url = f"spark://127.0.0.1:{free_port()}"
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[engines.gone]\ntype = "spark"\nmaster = "{url}"\n')
    with pytest.raises(PlatformError) as caught:
        open_engine(open_mk(), "gone")
    assert url in str(caught.value) and "meshkit.toml [engines.gone]" in str(caught.value)


def test_spark_reads_a_staged_arrow_stream_row_for_row(open_mk, spark_engine):
    from meshkit.engines import open_engine

    mk = open_mk()
    with open_engine(mk, spark_engine) as engine:
        relation = engine.register_arrow(ORDERS.to_reader())
        got = engine.query(f"SELECT id, email, amount FROM {relation.sql} ORDER BY id").read_all()
    assert got.to_pylist() == ORDERS.select(["id", "email", "amount"]).to_pylist()
    assert got.schema.field("amount").type == pa.decimal128(12, 2)
