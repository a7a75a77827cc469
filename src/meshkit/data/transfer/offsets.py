"""Stream positions committed with the data, in the same atomic step: exactly once into a destination.

A SyncTransfer's positions (Kafka ``{"topic:partition": next offset}``, PostgreSQL
``{"slot:NAME": LSN}``) are stored where the data goes, by a :class:`Ledger`:

- Iceberg: in the summary properties of the snapshot that adds the batch
  (``meshkit.positions.<transfer>``), as the Iceberg Kafka Connect sink does; the positions of a
  table are those of the newest snapshot of its current history that has them.
- SQL databases (PostgreSQL, MariaDB/MySQL, DuckDB, SQLite): in the table
  ``meshkit_stream_offsets`` (beside the destination, same schema), written in the transaction
  that writes the batch (the store's own write path, on one connection).

On start the runner asks the ledger for the positions and the source resumes from them, so a
process killed at any moment neither loses nor repeats a row. Several assets written by one
transfer (fan-out) each keep their own positions; the source resumes from the oldest, and the
rows an asset already holds are skipped for that asset (``already_written``). A truncate in change
data empties the asset in the same step: an Iceberg overwrite commit, a ``DELETE`` in the SQL
transaction.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa
from sqlglot import exp

from meshkit.data.stores.base import DataLike, Store, WriteResult, as_reader
from meshkit.data.stores.sql import added_fields
from meshkit.engines import engine_class

OFFSETS_TABLE = "meshkit_stream_offsets"
PROPERTY_PREFIX = "meshkit.positions."
_OFFSETS_SCHEMA = pa.schema([("stream", pa.string()), ("asset", pa.string()), ("part", pa.string()),
                             ("position", pa.string())])  # fmt: skip


@dataclass
class Write:
    """One asset's share of a batch."""

    asset: str
    data: DataLike
    mode: str = "append"
    keys: Sequence[str] | None = None
    #: Rows to delete by key before the upsert (change data), as a table of the key columns.
    deletes: pa.Table | None = None
    #: Empty the asset first (a TRUNCATE in change data), in the same atomic step.
    truncate: bool = False


class Ledger:
    """Where one kind of destination keeps positions with its data."""

    def __init__(self, store: Store, stream: str):
        self.store, self.stream = store, stream

    def committed(self, asset: str) -> dict[str, str]:
        """The positions committed with ``asset``'s data (empty when none)."""
        raise NotImplementedError

    def write(self, writes: Sequence[Write], positions: dict[str, Any]) -> list[WriteResult]:
        """Write every asset's share and record ``positions`` with it, atomically per asset at least."""
        raise NotImplementedError

    def close(self) -> None:
        """Release what the ledger keeps between batches."""


class IcebergLedger(Ledger):
    """Positions in the snapshot summary: one Iceberg commit holds the rows and where they ended."""

    @property
    def key(self) -> str:
        return PROPERTY_PREFIX + self.stream

    def committed(self, asset: str) -> dict[str, str]:
        if not self.store.exists(asset):
            return {}
        table = self.store._table(asset)
        snapshot = table.current_snapshot()
        while snapshot is not None:
            value = snapshot.summary.additional_properties.get(self.key) if snapshot.summary else None
            if value is not None:
                return json.loads(value)
            snapshot = (
                table.snapshot_by_id(snapshot.parent_snapshot_id) if snapshot.parent_snapshot_id else None
            )
        return {}

    def write(self, writes: Sequence[Write], positions: dict[str, Any]) -> list[WriteResult]:
        props = {self.key: json.dumps(positions, sort_keys=True)}
        results = []
        for w in writes:
            if w.truncate:  # one overwrite commit: the table holds the rows after the truncate, nothing else
                results.append(self.store.write(w.asset, _padded(self.store, w.asset, w.data), "overwrite",
                                                snapshot_properties=props))  # fmt: skip
            else:
                results.append(self.store.write(w.asset, w.data, w.mode, w.keys, snapshot_properties=props,
                                                deletes=w.deletes))  # fmt: skip
        return results


class SQLLedger(Ledger):
    """Positions in ``meshkit_stream_offsets``, written in the batch's transaction."""

    def __init__(self, store: Store, stream: str):
        super().__init__(store, stream)
        #: Offsets tables known to exist.
        self._ready: set[str] = set()
        from meshkit.data.stores.sql import SQLStore

        #: NOTE: a plain connection (no transaction opened by the store) is kept from batch to batch:
        #: connecting costs as much as writing a small batch.
        self._reusable = type(store)._write_connection is SQLStore._write_connection
        self._kept = None

    def table(self, asset: str) -> str:
        schema = exp.to_table(asset).db
        return f"{schema}.{OFFSETS_TABLE}" if schema else OFFSETS_TABLE

    def committed(self, asset: str) -> dict[str, str]:
        table = self.table(asset)
        if not self.store.exists(table):
            return {}
        where = f"stream = {_literal(self.stream)} AND asset = {_literal(asset)}"
        rows = self.store.read(table, filter=where).read_all().to_pylist()
        return {r["part"]: r["position"] for r in rows}

    def write(self, writes: Sequence[Write], positions: dict[str, Any]) -> list[WriteResult]:
        store = self.store
        for table in {self.table(w.asset) for w in writes} - self._ready:
            if not store.exists(table):  # NOTE: before the transaction: MySQL commits at every CREATE TABLE
                store.write(table, _OFFSETS_SCHEMA.empty_table())
            self._ready.add(table)
        conn, self._kept = self._kept, None
        if conn is not None and (getattr(conn, "closed", False) or getattr(conn, "broken", False)):
            conn = None  # the server closed it between batches
        if not getattr(store, "TRANSACTIONAL_DDL", True):
            writes = [_dml_only(store, w) for w in writes]  # NOTE: MySQL commits at DDL
        conn = conn or store._write_connection()
        committed = False
        try:
            results = []
            for w in writes:
                # NOTE: DELETE, not TRUNCATE: DML stays in the transaction (MySQL commits at a TRUNCATE)
                if w.truncate and store.exists(w.asset):
                    _cursor(store, conn).execute(f"DELETE FROM {store.quote(w.asset)}")
                if w.deletes is not None and w.deletes.num_rows:
                    _delete_keys(store, conn, w.asset, w.deletes)
                reader = store._checked_reader(w.asset, w.data, w.mode, w.keys)
                results.append(WriteResult(store._write(conn, w.asset, reader, w.mode, w.keys, True)))
                self._save_positions(conn, w.asset, positions)
            conn.commit()
            committed = True
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(exc, store.driver_errors):
                raise store.translate_error(exc, ", ".join(w.asset for w in writes)) from None
            raise
        finally:
            if committed and self._reusable:
                self._kept = conn
            else:
                with contextlib.suppress(Exception):
                    store._release(conn)
        return results

    def _save_positions(self, conn, asset: str, positions: dict[str, Any]) -> None:
        """Replace ``asset``'s positions by a DELETE and an INSERT, in the batch's transaction."""
        store, table = self.store, self.table(asset)
        parts = ", ".join(_literal(k) for k in positions)
        if parts:
            _cursor(store, conn).execute(
                f"DELETE FROM {store.quote(table)} WHERE {store.quote_column('stream')} = {_literal(self.stream)} "
                f"AND {store.quote_column('asset')} = {_literal(asset)} AND {store.quote_column('part')} IN ({parts})"
            )
        rows = [
            {"stream": self.stream, "asset": asset, "part": k, "position": str(v)}
            for k, v in positions.items()
        ]
        store._insert(conn, table, pa.Table.from_pylist(rows, _OFFSETS_SCHEMA).to_reader())

    def close(self) -> None:
        if self._kept is not None:
            with contextlib.suppress(Exception):
                self.store._release(self._kept)
            self._kept = None


def _padded(store: Store, asset: str, data: DataLike) -> pa.Table:
    """``data`` with the columns of ``asset`` it lacks (as nulls), so an overwrite keeps the table's columns."""
    table = data if isinstance(data, pa.Table) else as_reader(data).read_all()
    if not store.exists(asset):
        return table
    for column in store.schema(asset):
        if column.name not in table.schema.names:
            table = table.append_column(
                pa.field(column.name, column.arrow_type), pa.nulls(table.num_rows, column.arrow_type)
            )
    return table


def _dml_only(store: Store, write: Write) -> Write:
    """``write`` as statements that stay in a transaction on a store that commits at DDL: the table is
    created (and new columns added) beforehand, and a merge is a delete of its keys then an insert."""
    data = write.data if isinstance(write.data, pa.Table) else as_reader(write.data).read_all()
    if not store.exists(write.asset) or added_fields(
        data.schema, [c.name for c in store.schema(write.asset)]
    ):
        store.write(write.asset, data.schema.empty_table(), mode="append")
    if write.mode != "merge" or not write.keys:
        return replace(write, data=data)
    keys = data.select(list(write.keys))
    deletes = (
        keys if write.deletes is None else pa.concat_tables([write.deletes, keys], promote_options="default")
    )
    return replace(write, data=data, mode="append", deletes=deletes)


def _delete_keys(store, conn, asset: str, keys: pa.Table) -> None:
    """Delete the rows of ``asset`` whose key columns match a row of ``keys`` (on ``conn``, in its transaction)."""
    if not store.exists(asset):
        return
    names = keys.schema.names
    where = " AND ".join(f"{store.quote_column(n)} = {store.placeholder}" for n in names)
    cursor = _cursor(store, conn)
    rows = [tuple(r[n] for n in names) for r in keys.to_pylist()]
    cursor.executemany(f"DELETE FROM {store.quote(asset)} WHERE {where}", rows)


def _cursor(store: Store, conn):
    """Where ``conn`` (a connection of ``store``) runs statements in its transaction: the connection itself when
    the engine of the store's type says so (``Engine.is_connection``: its cursors are separate connections),
    else a cursor."""
    engine = engine_class(store.type, store.meshkit)
    return conn if engine is not None and engine.is_connection(conn) else conn.cursor()


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ledger_for(store: Store, stream: str) -> Ledger | None:
    """The ledger of ``store`` (``None`` when positions cannot be committed with its data)."""
    from meshkit.data.stores.iceberg import IcebergStore
    from meshkit.data.stores.sql import SQLStore

    if isinstance(store, IcebergStore):
        return IcebergLedger(store, stream)
    if isinstance(store, SQLStore):
        return SQLLedger(store, stream)
    return None


def resume_from(committed: Sequence[dict[str, str]]) -> dict[str, str]:
    """Where the source resumes when several assets committed: for each part, the oldest position."""
    out: dict[str, str] = {}
    for positions in committed:
        for part, position in positions.items():
            if part not in out or position_order(position) < position_order(out[part]):
                out[part] = position
    return out


def position_order(position: Any) -> tuple[int, ...]:
    """A comparable form of a position: a Kafka offset, or an LSN ``X/Y``."""
    if isinstance(position, int):
        return (0, position)
    text = str(position)
    if "/" in text:
        high, low = text.split("/")
        return (int(high, 16), int(low, 16))
    return (0, int(text))
