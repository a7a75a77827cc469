"""Incremental windows: which rows of the source a run transfers, given the high-water mark.

A run first fixes its upper bound: the largest cursor value now in the source (``high``) and the
ids of the rows holding it. It then sends the rows past the last mark (``low``) up to ``high``,
skipping rows at ``low`` that the previous run sent (their ids are the ``boundary``) and rows at
``high`` inserted after the bound was taken (they are not in ``high_ids``). Rows inserted at the
boundary timestamp are therefore sent once: never missed, never duplicated. Row ids are MD5s of
the canonical text of the key columns. Rows whose cursor is null are never sent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from meshkit.core.errors import ConfigError
from meshkit.data.transforms.base import has_text, literal, quote, text_sql

if TYPE_CHECKING:
    from meshkit.engines import Engine


@dataclass
class Window:
    """The rows one incremental run sends."""

    cursor: str
    keys: list[str]
    low: str | None = None
    boundary: list[str] = field(default_factory=list)
    high: str | None = None
    high_ids: list[str] = field(default_factory=list)

    def row_id_sql(self, schema: pa.Schema) -> str:
        parts = [f"coalesce({text_sql(quote(k), schema.field(k).type)}, chr(1))" for k in self.keys]
        return f"md5({' || chr(31) || '.join(parts)})"

    def predicate(self, schema: pa.Schema) -> str:
        """The SQL predicate (DuckDB) selecting the window's rows of a relation of ``schema``."""
        if self.high is None:
            return "false"
        c, rid = quote(self.cursor), self.row_id_sql(schema)
        upper = f"({c} < {literal(self.high)} OR ({c} = {literal(self.high)} AND {rid} IN ({_list(self.high_ids)})))"
        if self.low is None:
            return upper
        skip = f" AND {rid} NOT IN ({_list(self.boundary)})" if self.boundary else ""
        return f"({c} > {literal(self.low)} OR ({c} = {literal(self.low)}{skip})) AND {upper}"

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


def _list(ids: list[str]) -> str:
    return ", ".join(literal(i) for i in ids) if ids else "NULL"


def open_window(engine: Engine, relation: str, schema: pa.Schema, cursor: str, keys: list[str],
                mark: dict[str, Any] | None) -> Window:  # fmt: skip
    """Fix the window's upper bound by querying ``relation`` (a relation of the source on ``engine``, DuckDB's SQL)."""
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
    c = quote(cursor)
    lower = f"{c} >= {literal(window.low)}" if window.low is not None else f"{c} IS NOT NULL"
    # NOTE: one scan (an Arrow stream can be scanned only once): the window's cursors and row ids.
    found = engine.fetch_one(
        f"WITH s AS MATERIALIZED (SELECT {c} AS c, {window.row_id_sql(schema)} AS rid FROM {relation} WHERE {lower}) "
        f"SELECT {text_sql('c', schema.field(cursor).type)}, list(DISTINCT rid ORDER BY rid) FROM s "
        f"WHERE c = (SELECT max(c) FROM s) GROUP BY c"
    )
    if found is not None:
        window.high, window.high_ids = found[0], list(found[1])
    return window
