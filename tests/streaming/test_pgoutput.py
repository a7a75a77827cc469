"""pgoutput decoded column-wise from a real slot: typed values, ops, LSNs, TOAST, truncate; and the
reduction of such changes by key (last change wins, truncate cut, fan-out skip by LSN)."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid

import psycopg
import pyarrow as pa
import pytest

from meshkit.core.errors import UserError
from meshkit.data.stores.pgoutput import Decoder
from meshkit.data.stores.postgres_cdc import lsn_text
from meshkit.data.transfer.changes import ChangeColumns, plan_columns


@pytest.fixture
def slot(pg_dsn, pg_schema):
    """A pgoutput slot and publication on table ``t`` of a fresh schema; ``peek()`` gives its messages."""
    name = f"mk_{uuid.uuid4().hex[:10]}"
    conn = psycopg.connect(pg_dsn, autocommit=True)
    conn.execute(f"""CREATE TABLE "{pg_schema}".t (id int PRIMARY KEY, flag bool, day date, at timestamp,
                     at_tz timestamptz, price numeric(8, 2), amount numeric, ratio float8, big text)""")  # fmt: skip
    conn.execute(f'ALTER TABLE "{pg_schema}".t REPLICA IDENTITY FULL')
    conn.execute(f'CREATE PUBLICATION {name} FOR TABLE "{pg_schema}".t')
    conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (name,))

    def peek() -> list[bytes]:
        rows = conn.cursor(binary=True).execute(
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, NULL, 'proto_version', '1', "
            "'publication_names', %s)",
            (name, name),
        )
        return [r[0] for r in rows]

    yield conn, peek
    conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    conn.execute(f"DROP PUBLICATION {name}")
    conn.close()


def test_values_are_typed_by_column_and_rows_carry_op_and_lsn(pg_schema, slot):
    conn, peek = slot
    big = "x" * 300_000  # TOASTed: an update that leaves it alone does not send it
    t = f'"{pg_schema}".t'
    conn.execute(f"""INSERT INTO {t} VALUES
        (1, true, '2026-12-06', '2026-12-06 10:00:00.5', '2026-12-06 10:00:00+05:30', 12.5, 2.5, 'Infinity', %s),
        (2, NULL, NULL, NULL, NULL, NULL, 1.125, -0.5, 'small')""", (big,))  # fmt: skip
    with conn.transaction():
        conn.execute(f"UPDATE {t} SET price = 13.00 WHERE id = 1")
        conn.execute(f"DELETE FROM {t} WHERE id = 2")
    [chunk] = Decoder().decode_batch(peek(), "slot:s").columns
    assert chunk.keys == chunk.rows.column_names[:9]  # NOTE: REPLICA IDENTITY FULL flags every column
    [chunk] = Decoder(lambda schema, table: ["id"]).decode_batch(peek(), "slot:s").columns
    rows = chunk.rows.to_pylist()
    assert (chunk.table, chunk.keys, chunk.part) == ("t", ["id"], "slot:s")
    assert [r["__mk_op"] for r in rows] == ["c", "c", "u", "d"]
    assert [r["__mk_seq"] for r in rows] == [0, 1, 2, 3]
    first, second, update, delete = rows
    assert (
        first["__mk_position"] == second["__mk_position"] < update["__mk_position"] == delete["__mk_position"]
    )
    schema = chunk.rows.schema
    assert schema.field("id").type == pa.int64() and schema.field("price").type == pa.decimal128(8, 2)
    assert first["flag"] is True and second["flag"] is None
    assert first["day"] == dt.date(2026, 12, 6) and first["at"] == dt.datetime(2026, 12, 6, 10, 0, 0, 500000)
    assert first["at_tz"] == dt.datetime(2026, 12, 6, 4, 30, tzinfo=dt.UTC)
    assert first["price"] == decimal.Decimal("12.50") and first["ratio"] == float("inf")
    assert first["amount"] == decimal.Decimal("2.5") and second["amount"] == decimal.Decimal("1.125")
    assert update["price"] == decimal.Decimal("13.00") and update["big"] == big  # from the old row
    assert delete["id"] == 2 and delete["big"] == "small"


def test_transactions_up_to_the_committed_lsn_are_skipped(pg_schema, slot):
    conn, peek = slot
    for i in range(3):
        conn.execute(f'INSERT INTO "{pg_schema}".t (id) VALUES (%s)', (i,))
    everything = Decoder().decode_batch(peek(), "slot:s")
    first_end = everything.columns[0].rows["__mk_position"][0].as_py()
    rest = Decoder().decode_batch(peek(), "slot:s", skip_to=first_end)
    assert rest.columns[0].rows["id"].to_pylist() == [1, 2] and rest.end == everything.end
    assert Decoder().decode_batch(peek(), "slot:s", skip_to=everything.end).columns == []
    conn.execute(f'TRUNCATE "{pg_schema}".t')
    [chunk] = Decoder().decode_batch(peek(), "slot:s", skip_to=everything.end).columns
    assert chunk.rows["__mk_op"].to_pylist() == ["t"] and chunk.rows["id"].to_pylist() == [None]


def _chunk(table: str, ops: str, ids: list[int], lsns: list[int], start: int = 0) -> ChangeColumns:
    rows = pa.table({"id": ids, "v": [f"{o}{i}" for o, i in zip(ops, ids, strict=True)], "__mk_op": list(ops),
                     "__mk_position": lsns, "__mk_seq": range(start, start + len(ids))})  # fmt: skip
    return ChangeColumns(table, ["id"], "slot:s", rows)


def test_last_change_per_key_wins_and_a_truncate_cuts_what_came_before():
    [orders] = plan_columns([_chunk("orders", "cucud", [1, 1, 2, 2, 3], [10] * 5)], "o", [])
    assert orders.upserts.to_pylist() == [{"id": 1, "v": "u1"}, {"id": 2, "v": "u2"}]
    assert orders.deletes.to_pylist() == [{"id": 3}] and not orders.truncate
    assert orders.counts["insert"] == 2 and orders.counts["update"] == 2 and orders.counts["delete"] == 1
    [cut] = plan_columns([_chunk("orders", "ctcd", [1, None, 2, 5], [10, 20, 20, 30])], "o", ["id"])
    assert cut.truncate and cut.upserts.to_pylist() == [{"id": 2, "v": "c2"}]
    assert cut.deletes.num_rows == 0 and cut.counts["truncate"] == 1


def test_a_fan_out_table_ahead_skips_the_rows_it_holds():
    chunks = [_chunk("a", "ccc", [1, 2, 3], [10, 20, 30]), _chunk("b", "cc", [7, 8], [20, 30], start=3)]
    committed = {"x_a": {"slot:s": lsn_text(20)}, "x_b": {"slot:s": lsn_text(10)}}
    planned = {
        t.asset: t.upserts["id"].to_pylist() for t in plan_columns(chunks, "x_{table}", ["id"], committed)
    }
    assert planned == {"x_a": [3], "x_b": [7, 8]}


def test_tables_into_one_asset_keep_their_order_and_one_type_per_field():
    a, b = _chunk("a", "cu", [1, 2], [10, 20]), _chunk("b", "cu", [2, 3], [10, 20], start=2)
    b.rows = b.rows.set_column(0, "id", b.rows["id"].cast(pa.int32()))
    [one] = plan_columns([a, b], "one", ["id"])
    assert one.upserts.to_pylist() == [{"id": 1, "v": "c1"}, {"id": 2, "v": "c2"}, {"id": 3, "v": "u3"}]
    b.rows = b.rows.set_column(1, "v", pa.array([1, 2]))
    with pytest.raises(UserError, match="mix types in one field"):
        plan_columns([a, b], "one", ["id"])
