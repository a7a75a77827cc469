"""A streamed batch's rows and its positions commit together on every SQL destination: a failure while
the positions are saved leaves the destination, rows and positions, as it was, in every mode. MySQL
commits at every DDL statement; a DuckDB cursor is a connection with a transaction of its own."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.data.transfer.offsets import OFFSETS_TABLE, SQLLedger, Write


@pytest.fixture(params=["duckdb", "mysql"])
def store(request, tmp_path):
    if request.param == "duckdb":
        from meshkit.data.stores.duckdb import DuckDBStore

        made = DuckDBStore("dest", {"path": str(tmp_path / "dest.duckdb")})
    else:
        from meshkit.data.stores.mysql import MySQLStore

        dsn, db = request.getfixturevalue("mysql_dsn"), request.getfixturevalue("mysql_db")
        made = MySQLStore("dest", {"dsn": dsn.rsplit("/", 1)[0] + f"/{db}"})
    yield made
    made.close()


def _rows(store) -> list[tuple]:
    return sorted((r["id"], r["item"]) for r in store.read("orders").read_all().to_pylist())


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_failed_position_write_leaves_the_batch_out(store, monkeypatch, mode):
    ledger = SQLLedger(store, "orders-stream")
    keys = ["id"] if mode == "merge" else None
    try:
        ledger.write([Write("orders", pa.table({"id": [1, 2], "item": ["a", "b"]}), mode, keys)], {"t:0": 2})
        assert ledger.committed("orders") == {"t:0": "2"}
        insert = type(store)._insert

        def dying(self, conn, asset, reader):
            if OFFSETS_TABLE in asset:
                raise RuntimeError("the process died here")
            return insert(self, conn, asset, reader)

        monkeypatch.setattr(type(store), "_insert", dying)
        second = pa.table({"id": [2, 3], "item": ["B", "c"], "qty": [5, 6]})
        with pytest.raises(RuntimeError):
            ledger.write([Write("orders", second, mode, keys)], {"t:0": 4})
        monkeypatch.undo()
        assert _rows(store) == [(1, "a"), (2, "b")]
        assert ledger.committed("orders") == {"t:0": "2"}
        ledger.write([Write("orders", second, mode, keys)], {"t:0": 4})
        expected = (
            [(1, "a"), (2, "B"), (3, "c")] if mode == "merge" else [(1, "a"), (2, "B"), (2, "b"), (3, "c")]
        )
        assert _rows(store) == expected
        assert ledger.committed("orders") == {"t:0": "4"}
    finally:
        ledger.close()
