"""On MySQL, which commits at every DDL statement, a batch's rows and its positions still commit
together: a failure while the positions are saved leaves the destination as it was, in every mode."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.data.stores.mysql import MySQLStore
from meshkit.data.transfer.offsets import SQLLedger, Write


@pytest.mark.parametrize("mode", ["append", "merge"])
def test_a_failed_position_write_leaves_the_batch_out(mysql_dsn, mysql_db, monkeypatch, mode):
    store = MySQLStore("dest", {"dsn": mysql_dsn.rsplit("/", 1)[0] + f"/{mysql_db}"})
    ledger = SQLLedger(store, "orders-stream")
    keys = ["id"] if mode == "merge" else None
    try:
        first = pa.table({"id": [1, 2], "item": ["a", "b"]})
        ledger.write([Write("orders", first, mode, keys)], {"t:0": 2})
        assert ledger.committed("orders") == {"t:0": "2"}

        def crash(*_args):
            raise RuntimeError("the process died here")

        monkeypatch.setattr(SQLLedger, "_save_positions", crash)
        second = pa.table({"id": [2, 3], "item": ["B", "c"], "qty": [5, 6]})
        with pytest.raises(RuntimeError):
            ledger.write([Write("orders", second, mode, keys)], {"t:0": 4})
        rows = sorted((r["id"], r["item"]) for r in store.read("orders").read_all().to_pylist())
        assert rows == [(1, "a"), (2, "b")]
        assert ledger.committed("orders") == {"t:0": "2"}
        monkeypatch.undo()
        ledger.write([Write("orders", second, mode, keys)], {"t:0": 4})
        rows = sorted((r["id"], r["item"]) for r in store.read("orders").read_all().to_pylist())
        assert rows == (
            [(1, "a"), (2, "B"), (3, "c")] if mode == "merge" else [(1, "a"), (2, "B"), (2, "b"), (3, "c")]
        )
        assert ledger.committed("orders") == {"t:0": "4"}
    finally:
        ledger.close()
        store.close()
