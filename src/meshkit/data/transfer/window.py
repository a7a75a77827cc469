"""Incremental windows: which rows of the source a run transfers, given the high-water mark.

A run first fixes its upper bound: the largest cursor value now in the source (``high``) and the
ids of the rows holding it. It then sends the rows past the last mark (``low``) up to ``high``,
skipping rows at ``low`` that the previous run sent (their ids are the ``boundary``) and rows at
``high`` inserted after the bound was taken (they are not in ``high_ids``). Rows inserted at the
boundary timestamp are therefore sent once: never missed, never duplicated. Row ids are MD5s of
the canonical text of the key columns. Rows whose cursor is null are never sent.

The predicate and the query fixing the bound are sqlglot expressions that the engine renders in its
dialect, so every engine sends the same rows and keeps the same watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from meshkit.core.errors import ConfigError
from meshkit.data.stores.sql import arrow_to_sql_type
from meshkit.data.transforms.base import column, fragment, has_text, text_expression

if TYPE_CHECKING:
    from meshkit.engines import Engine

#: The relation's place in a window query, replaced by its SQL once the query is rendered.
_RELATION = "__mk_window_source__"


@dataclass
class Window:
    """The rows one incremental run sends."""

    cursor: str
    keys: list[str]
    low: str | None = None
    boundary: list[str] = field(default_factory=list)
    high: str | None = None
    high_ids: list[str] = field(default_factory=list)

    def row_id(self, schema: pa.Schema) -> exp.Expression:
        """A row's id: the MD5 of the canonical text of its key columns."""
        parts: list[exp.Expression] = [
            fragment("coalesce(x, chr(1))", x=text_expression(column(k), schema.field(k).type))
            for k in self.keys
        ]
        joined = parts[0]
        for part in parts[1:]:
            joined = exp.DPipe(this=exp.DPipe(this=joined, expression=fragment("chr(31)")), expression=part)
        return exp.func("md5", joined)

    def predicate(self, schema: pa.Schema) -> exp.Expression:
        """The predicate selecting the window's rows of a relation of ``schema``, for any engine to render."""
        if self.high is None:
            return exp.false()
        c, rid = column(self.cursor), self.row_id(schema)
        high = _value(self.high, schema.field(self.cursor).type)
        upper = exp.or_(c.copy() < high, exp.and_(c.copy().eq(high.copy()), _in(rid, self.high_ids)))
        if self.low is None:
            return exp.paren(upper, copy=False)
        low = _value(self.low, schema.field(self.cursor).type)
        at_low = c.copy().eq(low)
        if self.boundary:
            at_low = exp.and_(at_low, exp.not_(_in(rid.copy(), self.boundary)))
        return exp.and_(exp.paren(exp.or_(c.copy() > low.copy(), at_low)), exp.paren(upper))

    def next_mark(self) -> dict[str, Any] | None:
        """The watermark to keep once the window was written."""
        if self.high is None:
            return (
                None
                if self.low is None
                else {"cursor": self.cursor, "value": self.low, "boundary": self.boundary}
            )
        boundary = sorted(set(self.high_ids) | (set(self.boundary) if self.high == self.low else set()))
        return {"cursor": self.cursor, "value": self.high, "boundary": boundary}


def _value(text: str, arrow_type: pa.DataType) -> exp.Expression:
    """A cursor value kept as its canonical text, back as a value of the cursor column's type."""
    if pa.types.is_timestamp(arrow_type) and not arrow_type.tz:
        # NOTE: a timestamp without time zone: Spark's TIMESTAMP has one (TIMESTAMP_NTZ has none)
        return exp.cast(exp.Literal.string(text), exp.DataType.build("TIMESTAMP_NTZ", dialect="spark"))
    if not pa.types.is_string(arrow_type) and not pa.types.is_large_string(arrow_type):
        return exp.cast(exp.Literal.string(text), arrow_to_sql_type(arrow_type))
    return exp.Literal.string(text)


def _in(rid: exp.Expression, ids: list[str]) -> exp.Expression:
    return rid.isin(*(exp.Literal.string(i) for i in ids)) if ids else rid.isin(exp.null())


def window_sql(engine: Engine, relation: str, window: Window, schema: pa.Schema) -> str:
    """``relation`` (SQL after ``FROM`` on ``engine``) narrowed to ``window``'s rows, in the engine's dialect."""
    query = exp.select("*").from_(_RELATION).where(window.predicate(schema))
    return f"({_rendered(engine, query, relation)}) AS _window"


def _rendered(engine: Engine, query: exp.Expression, relation: str) -> str:
    placeholder = exp.to_identifier(_RELATION).sql(dialect=engine.DIALECT)
    return engine.sql(query).replace(placeholder, relation, 1)


def open_window(engine: Engine, relation: str, schema: pa.Schema, cursor: str, keys: list[str],
                mark: dict[str, Any] | None) -> Window:  # fmt: skip
    """Fix the window's upper bound by querying ``relation`` (SQL after ``FROM`` on ``engine``, any dialect)."""
    if cursor not in schema.names:
        raise ConfigError(f"Incremental cursor column `{cursor}` is not in the source.", where="spec.incremental.cursor",
                          hint=f"Columns: {', '.join(schema.names)}.")  # fmt: skip
    if not has_text(schema.field(cursor).type):
        raise ConfigError(f"Cursor column `{cursor}` has type {schema.field(cursor).type}, which cannot be a cursor.",
                          where="spec.incremental.cursor", hint="Use a timestamp, date, integer, decimal or text column.")  # fmt: skip
    keys = keys or [f.name for f in schema if has_text(f.type)]
    missing = [k for k in keys if k not in schema.names]
    if missing:
        raise ConfigError(
            f"Incremental key column(s) {', '.join(missing)} are not in the source.",
            where="spec.incremental.keys",
        )
    if mark and mark.get("cursor") != cursor:
        mark = None  # the cursor column changed: start again from the beginning
    window = Window(
        cursor,
        keys,
        low=mark["value"] if mark else None,
        boundary=list(mark.get("boundary", [])) if mark else [],
    )
    c, cursor_type = column(cursor), schema.field(cursor).type
    lower = (
        c.copy() >= _value(window.low, cursor_type)
        if window.low is not None
        else c.copy().is_(exp.null()).not_()
    )
    # NOTE: one scan (an Arrow stream can be scanned only once): the cursors and row ids past the last mark,
    # and the largest cursor beside each row
    rows = (
        exp.select(c.copy().as_("c"), window.row_id(schema).as_("rid"))
        .from_(_RELATION)
        .where(lower)
        .subquery("s")
    )
    marked = (
        exp.select("c", "rid", exp.Window(this=exp.Max(this=exp.column("c"))).as_("m"))
        .from_(rows)
        .subquery("w")
    )
    query = (
        exp.select(text_expression(exp.column("c"), cursor_type).as_("high"), exp.column("rid"))
        .distinct()
        .from_(marked)
        .where(exp.column("c").eq(exp.column("m")))
    )
    found = engine.fetch(_rendered(engine, query, relation)).to_pydict()
    if found["high"]:
        window.high, window.high_ids = found["high"][0], sorted(set(found["rid"]))
    return window
