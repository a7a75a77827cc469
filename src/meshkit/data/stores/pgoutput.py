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
from collections.abc import Callable
from dataclasses import dataclass, field
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
    #: ``(column, parse)`` where ``parse`` turns the value's text (bytes) into Python.
    parsers: list[tuple[str, Callable[[bytes], Any]]] = field(default_factory=list)

    def __post_init__(self):
        self.parsers = [(name, _parser(type_oid)) for name, type_oid in self.columns]


def _parser(type_oid: int) -> Callable[[bytes], Any]:
    """How a value of type ``type_oid`` is read from its text (bytes): ``int`` and ``float`` read bytes directly."""
    if type_oid in _INTEGERS:
        return int
    if type_oid in _FLOATS:
        return float
    if type_oid in (_BOOL, _NUMERIC, _DATE, _TIMESTAMP, _TIMESTAMPTZ):
        return lambda raw: parse_value(raw.decode(), type_oid)
    return _text


def _text(raw: bytes) -> str:
    return raw.decode()


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
        relation = self.relations[_int(message[1:5])]
        old, marker, at = None, message[5], 6
        if marker in (_K, _O):
            old, at = _tuple(message, at, relation)
            marker = message[at] if kind == b"U" else None
            at += 1
        new = _tuple(message, at, relation)[0] if marker == _N else None
        if kind == b"D":
            row = {k: v for k, v in (old or {}).items() if v is not _UNCHANGED}
            return Change("d", row, {k: row.get(k) for k in relation.keys}, relation.name)
        if kind == b"U" and old is not None:  # unchanged TOAST values come from the old row when it is there
            new = {k: old.get(k) if v is _UNCHANGED else v for k, v in new.items()}
        row = {k: v for k, v in new.items() if v is not _UNCHANGED}
        return Change(
            "c" if kind == b"I" else "u", row, {k: row.get(k) for k in relation.keys}, relation.name
        )


def _int(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


_U16, _I32 = struct.Struct("!H").unpack_from, struct.Struct("!i").unpack_from


_K, _O, _N, _T, _NULL = b"KONtn"  # NOTE: message bytes compared as ints: no slice per value


def _tuple(message: bytes, at: int, relation: Relation) -> tuple[dict[str, Any], int]:
    """The row of TupleData at ``at`` in ``message``, and the offset after it (a hot loop: offsets, not a reader)."""
    row: dict[str, Any] = {}
    (count,) = _U16(message, at)
    at += 2
    for name, parse in relation.parsers[:count]:
        kind = message[at]
        at += 1
        if kind == _T:
            (size,) = _I32(message, at)
            at += 4
            row[name] = parse(message[at : at + size])
            at += size
        elif kind == _NULL:
            row[name] = None
        else:  # "u": unchanged TOAST
            row[name] = _UNCHANGED
    return row, at


_UNCHANGED = object()  # an unchanged TOASTed value, which pgoutput does not send
