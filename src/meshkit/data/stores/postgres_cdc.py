"""PostgreSQL change data capture: logical replication (``pgoutput``) read through psycopg 3.

The asset is the captured tables (``orders`` or ``public.orders, public.customers``). On its first
fetch a SyncTransfer creates a publication for them and a replication slot, through a replication
connection (``CREATE_REPLICATION_SLOT ... EXPORT_SNAPSHOT``), and reads the tables in that exported
snapshot: an initial consistent snapshot (op ``r``) that ends exactly where the slot's changes
begin. Then it reads the changes of whole transactions with
``pg_logical_slot_peek_binary_changes`` (op ``c``/``u``/``d``, and ``t`` for a TRUNCATE, each at its
transaction's end LSN)
and confirms them with ``pg_replication_slot_advance`` once the destination has committed them.

NOTE: psycopg 3 runs replication commands but has no API for the streaming replication protocol
(the ``COPY BOTH`` stream with standby status messages; psycopg issue 71). The SQL functions of
logical decoding give the same pgoutput messages on an ordinary connection, and peeking without
consuming suits positions that live in the destination: the destination's commit decides, the slot
is confirmed after it, and a restart skips the transactions the destination already holds.

Needs ``wal_level = logical`` and a role with the REPLICATION attribute (or superuser) that owns
the tables (for the publication). Options: ``slot`` and ``publication`` (default ``meshkit_`` and
the transfer's name), plus the ``postgres`` store's connection options.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pyarrow as pa

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores.base import first_line, missing_asset
from meshkit.data.stores.pgoutput import Decoded, Decoder
from meshkit.data.stores.postgres import PostgreSQLStore
from meshkit.data.transfer.changes import Change, ChangeColumns
from meshkit.data.transfer.offsets import position_order


def lsn_text(value: int) -> str:
    """An LSN as PostgreSQL writes it (``16/B374D848``)."""
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def lsn_int(text: str) -> int:
    """An LSN from the way PostgreSQL writes it (``16/B374D848``)."""
    high, low = position_order(text)
    return high << 32 | low


@dataclass
class ChangeBatch:
    """Changes fetched from a slot, until the destination has committed them: the snapshot's rows as
    ``changes``, streamed changes as ``columns`` (Arrow, per table)."""

    changes: list[Change]
    positions: dict[str, str]
    lag: int
    lag_by_partition: dict[str, int]
    lag_seconds: float
    _confirm: Any = None
    columns: list[ChangeColumns] = field(default_factory=list)

    @property
    def table(self) -> pa.Table:
        return pa.table({"change": pa.nulls(len(self.changes) + sum(c.rows.num_rows for c in self.columns))})

    @property
    def idle(self) -> bool:
        return not self.changes and not self.columns and not self.positions

    def ack(self) -> None:
        if self._confirm is not None:
            self._confirm()

    def nak(self) -> None:
        """Nothing to undo: the slot is confirmed only by ``ack``, so the changes are peeked again."""


@dataclass
class _Capture:
    """What one transfer has of its slot: names, the decoder, the snapshot being read, the skip point."""

    tables: list[str]
    slot: str
    publication: str
    conn: Any
    decoder: Decoder = field(default_factory=Decoder)
    #: The end LSN of the last transaction the destination holds.
    committed: int | None = None
    snapshot: Iterator[list[Change]] | None = None
    snapshot_end: str | None = None


class PostgresCDCStore(PostgreSQLStore):
    """Changes of PostgreSQL tables through logical replication (``pgoutput``)."""

    type = "postgres_cdc"
    url_schemes = ()
    IS_STREAM = True

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        self._captures: dict[tuple[str, str], _Capture] = {}
        self._seeks: dict[tuple[str, str], str] = {}

    @staticmethod
    def tables(asset: str) -> list[str]:
        return [t.strip() if "." in t else f"public.{t.strip()}" for t in asset.split(",") if t.strip()]

    def exists(self, asset: str) -> bool:
        known = set(self.list_assets())
        return all(t in known or t.removeprefix("public.") in known for t in self.tables(asset))

    def names(self, consumer: str) -> tuple[str, str]:
        """The slot and publication of ``consumer`` (options ``slot``, ``publication``)."""
        default = "meshkit_" + re.sub(r"[^a-z0-9_]", "_", consumer.lower())
        return self.options.get("slot", default)[:63], self.options.get("publication", default)[:63]

    def close(self) -> None:
        for capture in self._captures.values():
            capture.conn.close()
        self._captures.clear()
        super().close()

    # ------------------------------------------------------------------ stream

    def seek(self, asset: str, consumer: str, positions: dict[str, Any]) -> None:
        """Skip the transactions the destination holds (up to its committed LSN)."""
        slot, _ = self.names(consumer)
        if f"slot:{slot}" in positions:
            self._seeks[(asset, consumer)] = str(positions[f"slot:{slot}"])

    def fetch(self, asset: str, consumer: str, max_messages: int, timeout: float) -> ChangeBatch:
        capture = self._capture(asset, consumer)
        key = f"slot:{capture.slot}"
        if capture.snapshot is not None:
            chunk = next(capture.snapshot, None)
            if chunk is not None:
                return ChangeBatch(chunk, {}, 0, {key: 0}, 0.0)
            capture.snapshot = None
            return ChangeBatch([], {key: capture.snapshot_end}, 0, {key: 0}, 0.0)
        deadline = time.monotonic() + timeout
        while True:
            decoded = self._peek(capture, max_messages)
            if decoded.columns or time.monotonic() >= deadline:
                break
            if decoded.end is not None:  # only transactions the destination already holds: confirm them now
                self._advance(capture, decoded.end)
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
        lag = self._lag(capture)
        commit_time, end = decoded.commit_time, decoded.end
        seconds = max(0.0, (dt.datetime.now(dt.UTC) - commit_time).total_seconds()) if commit_time else 0.0
        positions = {key: lsn_text(end)} if decoded.columns else {}
        return ChangeBatch([], positions, lag, {key: lag}, seconds,
                           (lambda: self._advance(capture, end)) if decoded.columns else None, decoded.columns)  # fmt: skip

    def _peek(self, capture: _Capture, limit: int) -> Decoded:
        """The changes of whole transactions after the committed LSN, up to about ``limit`` of them.

        NOTE: a binary cursor: bytea arrives as it is, not as hex text to decode.
        """
        rows = self._in_slot(
            capture,
            "SELECT data FROM pg_logical_slot_peek_binary_changes(%s, NULL, %s, 'proto_version', '1', "
            "'publication_names', %s)",
            (capture.slot, limit, capture.publication),
            binary=True,
        )
        return capture.decoder.decode_batch((r[0] for r in rows), f"slot:{capture.slot}", capture.committed)

    def _in_slot(self, capture: _Capture, sql: str, params: tuple, binary: bool = False) -> list:
        """Run ``sql`` on the slot, waiting while another backend holds it (``slot_wait_seconds``, default 60).

        NOTE: after a kill -9 the server's backend of the killed process keeps the slot until it notices
        its client is gone (at the end of the call it was running).
        """
        deadline = time.monotonic() + self.number_option("slot_wait_seconds", 60, (0, 3600), float)
        while True:
            try:
                return capture.conn.cursor(binary=binary).execute(sql, params).fetchall()
            except psycopg.errors.ObjectInUse as exc:
                if time.monotonic() >= deadline:
                    raise ConfigError(f"Replication slot `{capture.slot}` of store `{self.name}` is in use by another "
                                      f"process: {first_line(exc)}.",
                                      hint="Run one copy of the transfer at a time, or give each its own `slot`.") from None  # fmt: skip
                time.sleep(0.5)

    def _advance(self, capture: _Capture, lsn: int) -> None:
        confirmed = capture.conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                                         (capture.slot,)).fetchone()[0]  # fmt: skip
        if lsn > lsn_int(confirmed):
            self._in_slot(
                capture, "SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (capture.slot, lsn_text(lsn))
            )
        capture.committed = lsn

    def _lag(self, capture: _Capture) -> int:
        """Bytes of WAL between the server's current position and the slot's confirmed one."""
        row = capture.conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint "
                                   "FROM pg_replication_slots WHERE slot_name = %s", (capture.slot,)).fetchone()  # fmt: skip
        return int(row[0] or 0) if row else 0

    # ------------------------------------------------------------------ slot, publication, snapshot

    def _capture(self, asset: str, consumer: str) -> _Capture:
        capture = self._captures.get((asset, consumer))
        if capture is not None:
            return capture
        tables = self.tables(asset)
        if not tables:
            raise UserError(
                f"Asset `{asset}` of store `{self.name}` names no table.", hint="Give `schema.table, ...`."
            )
        if not self.exists(asset):
            raise missing_asset(self, asset)
        slot, publication = self.names(consumer)
        conn = self.connect()
        conn.autocommit = True
        level = conn.execute("SHOW wal_level").fetchone()[0]
        if level != "logical":
            conn.close()
            raise ConfigError(f"PostgreSQL of store `{self.name}` has wal_level = {level}; change data capture needs logical.",
                              hint="ALTER SYSTEM SET wal_level = logical, then restart PostgreSQL.")  # fmt: skip
        quoted = ", ".join(self.quote(t) for t in tables)
        if conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)).fetchone() is None:
            conn.execute(f"CREATE PUBLICATION {self.quote_column(publication)} FOR TABLE {quoted}")
        seek = self._seeks.get((asset, consumer))
        capture = _Capture(tables, slot, publication, conn, committed=None if seek is None else lsn_int(seek),
                           decoder=Decoder(lambda schema, table: self._primary_key(conn, f"{schema}.{table}")))  # fmt: skip
        exists = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        if exists is None:
            capture.snapshot, capture.snapshot_end = self._exported_snapshot(capture)
        elif capture.committed is None:  # the slot outlived a snapshot that was never committed: read again
            confirmed = conn.execute("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s",
                                     (slot,)).fetchone()[0]  # fmt: skip
            capture.snapshot, capture.snapshot_end = self._snapshot_rows(capture, None), confirmed
        self._captures[(asset, consumer)] = capture
        return capture

    def _exported_snapshot(self, capture: _Capture) -> tuple[Iterator[list[Change]], str]:
        """Create the slot and read the tables as of the snapshot it exports (where its changes begin)."""
        dsn, params = self._conninfo()
        try:
            replication = psycopg.connect(dsn, **params, replication="database", autocommit=True)
        except psycopg.OperationalError as exc:
            raise ConfigError(f"Store `{self.name}` cannot open a replication connection: {self.redact(first_line(exc))}.",
                              hint="Give the role the REPLICATION attribute and allow it in pg_hba.conf.") from None  # fmt: skip
        row = replication.execute(
            f"CREATE_REPLICATION_SLOT {self.quote_column(capture.slot)} LOGICAL pgoutput EXPORT_SNAPSHOT"
        ).fetchone()
        return self._snapshot_rows(capture, (replication, row[2])), row[1]

    def _snapshot_rows(self, capture: _Capture, exported) -> Iterator[list[Change]]:
        """The rows of every table as changes ``r``, in batches, in one repeatable-read transaction."""
        conn = self.connect()
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        if exported is not None:
            replication, name = exported
            conn.execute(f"SET TRANSACTION SNAPSHOT '{name}'")
            replication.close()  # NOTE: the snapshot stays valid in the transaction that imported it
        batch = self.number_option("snapshot_batch_rows", 10_000, (1, 10_000_000))

        def chunks():
            try:
                for table in capture.tables:
                    keys = self._primary_key(conn, table)
                    name = table.rsplit(".", 1)[1]
                    cursor = conn.cursor(name=f"mk_snap_{abs(hash(table)) % 10**8}")
                    cursor.execute(f"SELECT * FROM {self.quote(table)}")
                    columns = None
                    while rows := cursor.fetchmany(batch):
                        columns = columns or [d.name for d in cursor.description]
                        out = []
                        for values in rows:
                            row = dict(zip(columns, values, strict=True))
                            out.append(
                                Change("r", row, {k: row[k] for k in keys}, name, f"slot:{capture.slot}")
                            )
                        yield out
                    cursor.close()
            finally:
                conn.close()

        return chunks()

    def _primary_key(self, conn, table: str) -> list[str]:
        rows = conn.execute(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid "
            "AND a.attnum = ANY(i.indkey) WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
            (self.quote(table),),
        ).fetchall()
        return [r[0] for r in rows]

    def drop(self, consumer: str) -> None:
        """Drop the slot and publication of ``consumer`` (a transfer that will not run again)."""
        slot, publication = self.names(consumer)
        for capture in [c for k, c in self._captures.items() if k[1] == consumer]:
            capture.conn.close()
        self._captures = {k: c for k, c in self._captures.items() if k[1] != consumer}
        with self.connect() as conn:
            conn.autocommit = True
            if conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone():
                conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
            conn.execute(f"DROP PUBLICATION IF EXISTS {self.quote_column(publication)}")
