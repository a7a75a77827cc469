"""Decode PostgreSQL's ``pgoutput`` logical replication messages (protocol version 1, text values).

:class:`Decoder` keeps the relations it has seen and turns one transaction's messages into
:class:`meshkit.data.transfer.changes.Change` records (insert ``c``, update ``u``, delete ``d``,
truncate ``t``)
with typed values, each carrying its table's key columns. Message layouts follow PostgreSQL's
"Logical Replication Message Formats".
"""

from __future__ import annotations

import datetime as dt
import decimal
import struct
from dataclasses import dataclass
from typing import Any

from meshkit.data.transfer.changes import Change

_INTEGERS = {20, 21, 23, 26}  # int8, int2, int4, oid
_FLOATS = {700, 701}
_TIMESTAMP, _TIMESTAMPTZ, _DATE, _BOOL, _NUMERIC = 1114, 1184, 1082, 16, 1700


@dataclass
class Relation:
    """A table as pgoutput describes it: schema, name, columns (name, type oid) and key columns."""

    schema: str
    name: str
    columns: list[tuple[str, int]]
    keys: list[str]


def parse_value(text: str, type_oid: int) -> Any:
    """A column value from its text form, typed by its PostgreSQL type."""
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


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.at = data, 0

    def take(self, fmt: str):
        values = struct.unpack_from("!" + fmt, self.data, self.at)
        self.at += struct.calcsize("!" + fmt)
        return values if len(values) > 1 else values[0]

    def string(self) -> str:
        end = self.data.index(b"\0", self.at)
        text = self.data[self.at : end].decode()
        self.at = end + 1
        return text

    def raw(self, size: int) -> bytes:
        chunk = self.data[self.at : self.at + size]
        self.at += size
        return chunk


class Decoder:
    """Turns pgoutput messages into changes; relations are remembered across transactions."""

    def __init__(self):
        self.relations: dict[int, Relation] = {}

    def truncated(self, message: bytes) -> list[Change]:
        """The tables a Truncate message empties, as changes ``t`` (one per table)."""
        r = _Reader(message)
        r.raw(1)
        count, _options = r.take("i"), r.take("b")
        out = []
        for _ in range(count):
            relation = self.relations[r.take("I")]
            out.append(Change("t", {}, {k: None for k in relation.keys}, relation.name))
        return out

    def decode(self, message: bytes) -> Change | None:
        """The change in ``message``, or ``None`` for Begin, Commit, Relation, Type, Origin, Truncate
        (see :meth:`truncated`)."""
        r = _Reader(message)
        kind = r.raw(1)
        if kind == b"R":
            oid, schema, name = r.take("I"), r.string(), r.string()
            r.take("b")  # replica identity setting
            columns, keys = [], []
            for _ in range(r.take("h")):
                flags, column, type_oid, _typmod = r.take("b"), r.string(), r.take("I"), r.take("i")
                columns.append((column, type_oid))
                if flags & 1:
                    keys.append(column)
            self.relations[oid] = Relation(schema, name, columns, keys)
            return None
        if kind not in (b"I", b"U", b"D"):
            return None
        relation = self.relations[r.take("I")]
        old = None
        marker = r.raw(1)
        if marker in (b"K", b"O"):
            old = self._tuple(r, relation)
            marker = r.raw(1) if kind == b"U" else None
        new = self._tuple(r, relation) if marker == b"N" else None
        if kind == b"D":
            row = {k: v for k, v in (old or {}).items() if v is not _UNCHANGED}
            return Change("d", row, {k: row.get(k) for k in relation.keys}, relation.name)
        if kind == b"U" and old is not None:  # unchanged TOAST values come from the old row when it is there
            new = {k: old.get(k) if v is _UNCHANGED else v for k, v in new.items()}
        row = {k: v for k, v in new.items() if v is not _UNCHANGED}
        return Change(
            "c" if kind == b"I" else "u", row, {k: row.get(k) for k in relation.keys}, relation.name
        )

    @staticmethod
    def _tuple(r: _Reader, relation: Relation) -> dict[str, Any]:
        row: dict[str, Any] = {}
        for name, type_oid in relation.columns[: r.take("h")]:
            kind = r.raw(1)
            if kind == b"n":
                row[name] = None
            elif kind == b"u":
                row[name] = _UNCHANGED
            else:
                row[name] = parse_value(r.raw(r.take("i")).decode(), type_oid)
        return row


_UNCHANGED = object()  # an unchanged TOASTed value, which pgoutput does not send
