"""Transfers between DuckDB, SQLite, PostgreSQL, MariaDB and Parquet files, with transforms."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest
from transfer_helpers import ORDERS, spec_yaml, transfer

from meshkit.data.transforms import apply_transforms, build_transforms

TRANSFORMS = """\
  transformation:
  - name: hash email
    action: Digest
    columns: [email]
    options: {algo: sha256}
  - action: Redact
    columns: [created]
    options: {mode: formatted}
  - action: Filter
    options: {predicate: "amount > 0"}
"""


def expected(table: pa.Table = ORDERS, specs: str = TRANSFORMS) -> list[dict]:
    """The rows the transforms should give, computed by the Arrow path."""
    import yaml

    chain = build_transforms(yaml.safe_load("a:\n" + specs.replace("  transformation:\n", ""))["a"])
    out = pa.Table.from_batches([apply_transforms(chain, b) for b in table.to_batches()])
    return sorted(out.to_pylist(), key=lambda r: r["id"])


def rows(store, asset) -> list[dict]:
    return sorted(store.read(asset).read_all().to_pylist(), key=lambda r: r["id"])


def test_duckdb_to_parquet_pushdown_with_transforms(open_mk):
    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    result = transfer(
        mk, spec_yaml("wh-lake", "warehouse", "orders", "lake", "orders.parquet", transformation=TRANSFORMS)
    )
    assert result.ok, result.error
    status = result.status
    assert status["plan"] == "duckdb table -> parquet COPY"
    assert status["numRecords"] == 4 and status["bytes"] > 0
    assert rows(mk.store("lake"), "orders.parquet") == expected()
    assert (
        rows(mk.store("lake"), "orders.parquet")[0]["email"] == hashlib.sha256(b"ann@example.org").hexdigest()
    )
    assert status["transformedColumns"] == {"email": ["Digest(sha256)"], "created": ["Redact(formatted)"],
                                            "*": ["Filter(amount > 0)"]}  # fmt: skip
    assert [c["name"] for c in status["source"]["schema"]] == ORDERS.schema.names
    assert {c["name"]: c["arrow_type"] for c in status["destination"]["schema"]}["created"] == "string"
    run = mk.runs.get(status["runId"])
    assert run.status == "succeeded" and run.kind == "transfer" and run.rows_written == 4
    assert run.details["status"]["numRecords"] == 4


def test_postgres_to_parquet_and_back_to_postgres(open_mk, stores, pg_dsn, pg_schema):
    stores("pg", type="postgres", dsn=pg_dsn)
    mk = open_mk()
    mk.store("pg").write(f"{pg_schema}.orders", ORDERS)
    result = transfer(
        mk, spec_yaml("pg-lake", "pg", f"{pg_schema}.orders", "lake", "orders", transformation=TRANSFORMS)
    )
    assert result.ok, result.error
    assert result.status["plan"] == "postgres scanner -> parquet COPY"
    assert rows(mk.store("lake"), "orders") == expected()
    back = transfer(
        mk, spec_yaml("lake-pg", "lake", "orders", "pg", f"{pg_schema}.copy", mode="merge", keys=["id"])
    )
    assert back.ok, back.error
    assert back.status["plan"] == "parquet scan -> store postgres"
    assert rows(mk.store("pg"), f"{pg_schema}.copy") == expected()


def test_merge_upserts_on_keys_into_sqlite(open_mk):
    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    mk.store("lite").write("orders", ORDERS.slice(0, 2).set_column(1, "email", pa.array(["old", "old"])))
    result = transfer(
        mk, spec_yaml("wh-lite", "warehouse", "orders", "lite", "orders", mode="merge", keys=["id"])
    )
    assert result.ok, result.error
    assert result.status["plan"] == "duckdb table -> store sqlite"
    assert rows(mk.store("lite"), "orders") == rows(mk.store("warehouse"), "orders")


def test_mariadb_to_sqlite_streams_through_the_arrow_path(open_mk, stores, mysql_dsn, mysql_db):
    stores("maria", type="mysql", dsn=f"mysql://root@127.0.0.1:3306/{mysql_db}")
    mk = open_mk()
    mk.store("maria").write("orders", ORDERS)
    result = transfer(
        mk, spec_yaml("maria-lite", "maria", "orders", "lite", "orders", transformation=TRANSFORMS)
    )
    assert result.ok, result.error
    assert result.status["plan"] == "stream: store mysql -> arrow transforms -> store sqlite"
    assert rows(mk.store("lite"), "orders") == expected()
    back = transfer(mk, spec_yaml("lite-maria", "lite", "orders", "warehouse", "from_lite", mode="append"))
    assert back.ok, back.error
    assert back.status["plan"] == "arrow stream -> duckdb table"
    assert rows(mk.store("warehouse"), "from_lite") == expected()


def test_inline_store_and_url_store(open_mk, tmp_path):
    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    text = spec_yaml(
        "inline", "warehouse", "orders", f"{{type: sqlite, path: '{tmp_path / 'x.db'}'}}", "orders"
    )
    assert transfer(mk, text).ok
    url = f"sqlite:///{tmp_path / 'x.db'}"
    again = transfer(mk, spec_yaml("by-url", url, "orders", "lake", "o.parquet"))
    assert again.ok, again.error
    assert rows(mk.store("lake"), "o.parquet") == rows(mk.store("warehouse"), "orders")


def test_inline_stores_are_closed_after_the_run(open_mk, tmp_path):
    import subprocess
    import sys

    from meshkit.data.transfer import TransferRunner, parse_transfer

    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    path = tmp_path / "inline.duckdb"
    spec = spec_yaml("closing", "warehouse", "orders", f"{{type: duckdb, path: '{path}'}}", "orders")
    runner = TransferRunner(mk, parse_transfer(spec))  # kept alive: its stores are not garbage yet
    result = runner.run()
    assert result.ok, result.error
    # DuckDB lets one process open a file: another one can only once the transfer has let it go
    count = "import duckdb, sys; print(duckdb.connect(sys.argv[1]).sql('SELECT count(*) FROM orders').fetchone()[0])"
    other = subprocess.run([sys.executable, "-c", count, str(path)], capture_output=True, text=True)
    assert other.stdout.strip() == str(ORDERS.num_rows), other.stderr


def test_extra_transforms_are_appended_and_tagged(open_mk):
    from meshkit.data.transfer import TransferRunner, parse_transfer

    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    decision = build_transforms(
        [{"action": "RemoveColumn", "name": "policy: no email", "columns": ["email"]}]
    )
    runner = TransferRunner(mk, parse_transfer(spec_yaml("gov", "warehouse", "orders", "lake", "g.parquet")),
                            extra_transforms=decision)  # fmt: skip
    result = runner.run()
    assert result.ok, result.error
    assert "email" not in mk.store("lake").read("g.parquet").schema.names
    assert result.status["transformedColumns"] == {"email": ["RemoveColumn (removed)"]}


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_parquet_folder_append_and_overwrite(open_mk, mode):
    mk = open_mk()
    mk.store("warehouse").write("orders", ORDERS)
    for _ in range(2):
        result = transfer(mk, spec_yaml(f"f-{mode}", "warehouse", "orders", "lake", "folder", mode=mode))
        assert result.ok, result.error
    count = mk.store("lake").read("folder").read_all().num_rows
    assert count == (10 if mode == "append" else 5)


def test_postgres_to_warehouse_restores_the_engine_settings(open_mk, stores, pg_dsn, pg_schema):
    stores("pg", type="postgres", dsn=pg_dsn)
    mk = open_mk()
    mk.store("pg").write(f"{pg_schema}.orders", ORDERS)
    result = transfer(mk, spec_yaml("pg-wh", "pg", f"{pg_schema}.orders", "warehouse", "pg_orders"))
    assert result.ok, result.error
    assert result.status["plan"] == "postgres scanner -> duckdb table"
    assert rows(mk.store("warehouse"), "pg_orders") == rows(mk.store("pg"), f"{pg_schema}.orders")
    conn = mk.store("warehouse").connect()
    # NOTE: unordered table scans turn insertion order off for the transfer only.
    assert conn.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is True
