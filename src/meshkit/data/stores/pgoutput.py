"""Decode PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1, text values).

:class:`Decoder` keeps the relations it has seen and turns a batch of messages (whole transactions)
into :class:`meshkit.data.transfer.changes.ChangeColumns`, one per table: the rows as Arrow columns,
with each row's op (insert ``c``, update ``u``, delete ``d``, truncate ``t``) and its transaction's
end LSN. Values are collected per column as text and typed column-wise by Arrow (the type oid and
modifier of the Relation message), so no Python object is made per value. Message layouts follow
PostgreSQL's "Logical Replication Message Formats".
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from meshkit.data.transfer.changes import META_COLUMNS, ChangeColumns

_INTEGERS = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOATS = {700, 701}
_TIMESTAMP, _TIMESTAMPTZ, _DATE, _BOOL, _NUMERIC = 1114, 1184, 1082, 16, 1700
_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

#: Arrow types a column's text is cast to, by type oid (numeric: by its modifier, see ``_arrow_type``).
_CASTS = {
    **dict.fromkeys(_INTEGERS, pa.int64()),
    **dict.fromkeys(_FLOATS, pa.float64()),
    _DATE: pa.date32(),
    _TIMESTAMP: pa.timestamp("us"),
    _TIMESTAMPTZ: pa.timestamp("us", "UTC"),
}


@dataclass
class Relation:
    """A table as pgoutput describes it: schema, name, columns (name, type oid, modifier), key columns."""

    schema: str
    name: str
    columns: list[tuple[str, int, int]]
    keys: list[str]


def parse_value(text: str, type_oid: int) -> Any:
    """A column value from its text form, typed by its PostgreSQL type (what Arrow's casts cannot read)."""
    if type_oid in _INTEGERS:
        return int(text)
    if type_oid in _FLOATS:
        return float(text)
    if type_oid == _BOOL:
        return text == "t"
    if type_oid == _NUMERIC:
        return decimal.Decimal(text)
    if type_oid == _DATE:
        return dt.date.fromisoformat(text)
    if type_oid in (_TIMESTAMP, _TIMESTAMPTZ):
        value = dt.datetime.fromisoformat(
            text + ("00" if type_oid == _TIMESTAMPTZ and text[-3] in "+-" else "")
        )
        return value.astimezone(dt.UTC) if value.tzinfo else value
    return text


def _arrow_type(type_oid: int, typmod: int) -> pa.DataType | None:
    if type_oid == _NUMERIC:  # numeric(p, s): a modifier of ((p << 16) | s) + 4; none when unbounded
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        return pa.decimal128(precision, scale) if typmod >= 4 and scale <= precision <= 38 else None
    return _CASTS.get(type_oid)


def column_array(values: list[bytes | None], type_oid: int, typmod: int = -1) -> pa.Array:
    """One column's text values (``None``: null) as an Arrow array of the column's type."""
    text = pa.array(values, pa.binary()).cast(pa.string())
    if type_oid == _BOOL:
        return pc.equal(text, "t")
    target = _arrow_type(type_oid, typmod)
    if target is None and type_oid != _NUMERIC:
        return text
    try:
        if target is not None:
            return text.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pass  # NOTE: e.g. 'infinity' or 'NaN': value by value, as Python reads them
    return pa.array([None if v is None else parse_value(v.decode(), type_oid) for v in values])


@dataclass
class _Rows:
    """One relation's rows decoded from a batch: per column its values' text, per row op, LSN, order."""

    relation: Relation
    values: list[list[bytes | None]] = field(init=False)
    ops: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    seq: list[int] = field(default_factory=list)

    def __post_init__(self):
        self.values = [[] for _ in self.relation.columns]

    def end_transaction(self, lsn: int, keep: bool) -> None:
        """Give the rows of the transaction that ends its LSN, or drop them (``keep`` false)."""
        done = len(self.positions)
        if keep:
            self.positions += [lsn] * (len(self.ops) - done)
            return
        for column in (*self.values, self.ops, self.seq):
            del column[done:]

    def columns(self, part: str) -> ChangeColumns:
        relation = self.relation
        arrays = [
            column_array(v, oid, mod) for v, (_, oid, mod) in zip(self.values, relation.columns, strict=True)
        ]
        meta = [
            pa.array(self.ops, pa.string()),
            pa.array(self.positions, pa.int64()),
            pa.array(self.seq, pa.int64()),
        ]
        names = [c[0] for c in relation.columns] + list(META_COLUMNS)
        return ChangeColumns(relation.name, relation.keys, part, pa.Table.from_arrays(arrays + meta, names))


@dataclass
class Decoded:
    """A batch of pgoutput messages decoded: changes per table, the last commit's end LSN and time."""

    columns: list[ChangeColumns]
    end: int | None
    commit_time: dt.datetime | None


class Decoder:
    """Turns pgoutput messages into changes per table; relations are remembered across batches.

    A table's keys are its replica identity columns; with ``REPLICA IDENTITY FULL`` (every column)
    they are what ``primary_key(schema, table)`` gives, when it gives any.
    """

    def __init__(self, primary_key: Callable[[str, str], list[str]] | None = None):
        self.relations: dict[int, Relation] = {}
        self.primary_key = primary_key

    def decode_batch(self, messages: Iterable[bytes], part: str, skip_to: int | None = None) -> Decoded:
        """The changes of the transactions in ``messages`` whose end LSN is after ``skip_to``."""
        chunks: list[_Rows] = []  # NOTE: a relation redefined within the batch starts a new chunk
        current: dict[int, _Rows] = {}
        end = commit_time = None
        seq = 0
        for message in messages:
            kind = message[0]
            if kind in _ROW_KINDS:
                oid = _U32(message, 1)[0]
                rows = current.get(oid)
                if rows is None:
                    rows = current[oid] = _Rows(self.relations[oid])
                    chunks.append(rows)
                _decode_row(kind, message, rows)
                rows.seq.append(seq)
                seq += 1
            elif kind == _BEGIN:
                commit_time = _EPOCH + dt.timedelta(microseconds=_I64(message, 9)[0])
            elif kind == _COMMIT:
                end = _U64(message, 10)[0]
                keep = skip_to is None or end > skip_to
                for rows in chunks:
                    rows.end_transaction(end, keep)
            elif kind == _RELATION:
                oid, relation, identity = _relation(message)
                if identity == _FULL and self.primary_key is not None:
                    relation.keys = self.primary_key(relation.schema, relation.name) or relation.keys
                self.relations[oid] = relation
                current.pop(oid, None)
            elif kind == _TRUNCATE:
                for oid in _truncated(message):
                    rows = current.get(oid)
                    if rows is None:
                        rows = current[oid] = _Rows(self.relations[oid])
                        chunks.append(rows)
                    for column in rows.values:
                        column.append(None)
                    rows.ops.append("t")
                    rows.seq.append(seq)
                    seq += 1
        return Decoded([r.columns(part) for r in chunks if r.ops], end, commit_time)


_BEGIN, _COMMIT, _RELATION, _TRUNCATE, _INSERT, _UPDATE, _DELETE = b"BCRTIUD"
_ROW_KINDS = {_INSERT, _UPDATE, _DELETE}
_K, _O, _N, _T, _NULL, _FULL = b"KONtnf"  # NOTE: message bytes compared as ints: no slice per value
_U16, _U32, _I32 = (
    struct.Struct("!H").unpack_from,
    struct.Struct("!I").unpack_from,
    struct.Struct("!i").unpack_from,
)
_I64, _U64 = struct.Struct("!q").unpack_from, struct.Struct("!Q").unpack_from
_UNCHANGED = object()  # an unchanged TOASTed value, which pgoutput does not send


def _relation(message: bytes) -> tuple[int, Relation, int]:
    """The relation oid, the table, and its replica identity setting (``f``: full)."""
    (oid,) = _U32(message, 1)
    at = 5
    schema, at = _string(message, at)
    name, at = _string(message, at)
    identity = message[at]
    at += 1
    (count,) = _U16(message, at)
    at += 2
    columns, keys = [], []
    for _ in range(count):
        flags = message[at]
        column, at = _string(message, at + 1)
        type_oid, typmod = struct.unpack_from("!Ii", message, at)
        at += 8
        columns.append((column, type_oid, typmod))
        if flags & 1:
            keys.append(column)
    return oid, Relation(schema, name, columns, keys), identity


def _string(message: bytes, at: int) -> tuple[str, int]:
    end = message.index(b"\0", at)
    return message[at:end].decode(), end + 1


def _truncated(message: bytes) -> list[int]:
    """The relation oids a Truncate message empties."""
    (count,) = _I32(message, 1)
    return list(struct.unpack_from(f"!{count}I", message, 6))


def _decode_row(kind: int, message: bytes, rows: _Rows) -> None:
    """Append the row of an Insert, Update or Delete message to ``rows`` (a delete's row is its old key)."""
    marker, at = message[5], 6
    if kind == _INSERT or (kind == _UPDATE and marker == _N):
        _append_tuple(message, at, rows.values)
        rows.ops.append("c" if kind == _INSERT else "u")
        return
    old, at = _tuple(message, at, len(rows.values))
    if kind == _DELETE:
        row = old
    else:  # unchanged TOAST values come from the old row when it is there
        new, _ = _tuple(message, at + 1, len(rows.values))
        row = [o if v is _UNCHANGED else v for o, v in zip(old, new, strict=True)]
    for column, value in zip(rows.values, row, strict=True):
        column.append(None if value is _UNCHANGED else value)
    rows.ops.append("d" if kind == _DELETE else "u")


def _append_tuple(message: bytes, at: int, columns: list[list]) -> None:
    """Append the values of TupleData at ``at`` to ``columns`` (a hot loop: offsets, not a reader).

    An unchanged TOASTed value without an old row to take it from is null, as a column the tuple
    does not have.
    """
    (count,) = _U16(message, at)
    at += 2
    for values in columns[:count]:
        kind = message[at]
        at += 1
        if kind == _T:
            (size,) = _I32(message, at)
            at += 4
            values.append(message[at : at + size])
            at += size
        else:  # null, or unchanged TOAST
            values.append(None)
    for values in columns[count:]:
        values.append(None)


def _tuple(message: bytes, at: int, width: int) -> tuple[list, int]:
    """The values of TupleData at ``at`` (``_UNCHANGED`` for unchanged TOAST), and the offset after it."""
    (count,) = _U16(message, at)
    at += 2
    out: list = []
    for _ in range(count):
        kind = message[at]
        at += 1
        if kind == _T:
            (size,) = _I32(message, at)
            at += 4
            out.append(message[at : at + size])
            at += size
        else:
            out.append(None if kind == _NULL else _UNCHANGED)
    return out + [None] * (width - count), at
