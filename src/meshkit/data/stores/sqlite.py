"""SQLite store: a database file through the standard library's ``sqlite3``.

SQLite keeps few types, so meshkit declares precise column types (``TINYINT``, ``FLOAT``,
``DECIMAL_TEXT(p, s)``, ``TIMESTAMPTZ``, ``DATE``, ``TIME``, ``BOOLEAN``) and reads values back to
the Arrow type the declaration names, which keeps decimals, time zones and dates exact through a
round trip. Decimals are stored as text (a ``DECIMAL`` declaration would give them numeric
affinity, which rounds them to 15 digits); instants are stored as UTC ISO text. Lists and structs
have no SQLite type: writing them fails before anything is written.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from meshkit.core.errors import UserError
from meshkit.data.stores.base import ColumnSchema, url_path
from meshkit.data.stores.sql import SQLStore

_DECIMAL = re.compile(r"(?:DECIMAL|NUMERIC)(?:_TEXT)?\s*\(\s*(\d+)\s*(?:,\s*(\d+))?\s*\)", re.I)
#: Declared integer types that name a width; any other type containing INT is 64-bit.
_INTS = {
    "TINYINT": pa.int8(),
    "SMALLINT": pa.int16(),
    "INT": pa.int32(),
    "MEDIUMINT": pa.int32(),
    "INT4": pa.int32(),
}


def declared_to_arrow(declared: str) -> pa.DataType:
    """Arrow type for a SQLite declared column type."""
    text = (declared or "").upper().strip()
    if m := _DECIMAL.match(text):
        return pa.decimal128(int(m.group(1)), int(m.group(2) or 0))
    if text.startswith("TIMESTAMPTZ") or "WITH TIME ZONE" in text:
        return pa.timestamp("us", tz="UTC")
    if text.startswith(("TIMESTAMP", "DATETIME")):
        return pa.timestamp("us")
    if text == "DATE":
        return pa.date32()
    if text == "TIME":
        return pa.time64("us")
    if text in _INTS:
        return _INTS[text]
    if text == "FLOAT":
        return pa.float32()
    if text.startswith("BOOL"):
        return pa.bool_()
    if text == "JSON":
        return pa.string()
    if "INT" in text:
        return pa.int64()
    if any(k in text for k in ("REAL", "FLOA", "DOUB")):
        return pa.float64()
    if "BLOB" in text or "BINARY" in text:
        return pa.binary()
    return pa.string()


#: Arrow types whose Python values sqlite3 stores as they are.
_NATIVE = (pa.types.is_integer, pa.types.is_floating, pa.types.is_string, pa.types.is_large_string,
           pa.types.is_boolean, pa.types.is_binary, pa.types.is_large_binary, pa.types.is_null)  # fmt: skip


def _to_db(value):
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if value.tzinfo else value).isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    return value


def _from_db(values: list, arrow_type: pa.DataType) -> pa.Array:
    t = pa.types
    if t.is_decimal(arrow_type):
        values = [None if v is None else decimal.Decimal(str(v)) for v in values]
    elif t.is_timestamp(arrow_type):
        values = [None if v is None else _parse_ts(v, arrow_type.tz) for v in values]
    elif t.is_date(arrow_type):
        values = [None if v is None else dt.date.fromisoformat(v) for v in values]
    elif t.is_time(arrow_type):
        values = [None if v is None else dt.time.fromisoformat(v) for v in values]
    elif t.is_boolean(arrow_type):
        values = [None if v is None else bool(v) for v in values]
    elif t.is_string(arrow_type):
        values = [None if v is None else str(v) for v in values]
    return pa.array(values, type=arrow_type)


def _parse_ts(value: str, tz: str | None) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    if tz and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed


class SQLiteStore(SQLStore):
    """A SQLite database file (``path``; ``:memory:`` for a private in-memory database)."""

    type = "sqlite"
    url_schemes = ("sqlite",)
    dialect = "sqlite"
    driver_errors = (sqlite3.Error,)

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        path = self.options.get("path")
        if path is None and meshkit is not None:
            path = meshkit.config.get("sqlite_file")
        if path and path != ":memory:" and meshkit is not None:
            path = str(meshkit.workspace.resolve(path))
        self.path = path or ":memory:"
        self._memory: sqlite3.Connection | None = None

    @classmethod
    def from_url(cls, url: str) -> dict:
        return {"path": url_path(url)}

    def connect(self) -> sqlite3.Connection:
        if self.path == ":memory:":
            if self._memory is None:
                self._memory = sqlite3.connect(":memory:", check_same_thread=False)
            return self._memory
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    def _release(self, conn) -> None:
        if conn is not self._memory:
            conn.close()

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
            self._memory = None

    def sql_type(self, arrow_type: pa.DataType) -> str:
        t = pa.types
        if isinstance(arrow_type, pa.ExtensionType):
            arrow_type = arrow_type.storage_type
        if t.is_timestamp(arrow_type):
            return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
        if t.is_decimal(arrow_type):
            return f"DECIMAL_TEXT({arrow_type.precision}, {arrow_type.scale})"
        if t.is_boolean(arrow_type):
            return "BOOLEAN"
        for test, name in ((t.is_int8, "TINYINT"), (t.is_int16, "SMALLINT"), (t.is_int32, "INT"), (t.is_uint8, "SMALLINT"),
                           (t.is_uint16, "INT"), (t.is_integer, "BIGINT"), (t.is_date, "DATE"), (t.is_float64, "DOUBLE")):  # fmt: skip
            if test(arrow_type):
                return name
        if t.is_float32(arrow_type) or t.is_float16(arrow_type):
            return "FLOAT"
        if t.is_time(arrow_type):
            return "TIME"
        if (
            t.is_string(arrow_type)
            or t.is_large_string(arrow_type)
            or t.is_string_view(arrow_type)
            or t.is_null(arrow_type)
        ):
            return "TEXT"
        if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
            return "BLOB"
        if t.is_nested(arrow_type) or t.is_uint64(arrow_type) or t.is_duration(arrow_type):
            raise UserError(f"SQLite has no column type for {arrow_type}")
        raise UserError(f"SQLite has no column type for {arrow_type}")

    def _column_values(self, column: pa.Array) -> list:
        values = column.to_pylist()
        # NOTE: only columns sqlite3 cannot take as they are are converted, value by value.
        return values if any(is_type(column.type) for is_type in _NATIVE) else [_to_db(v) for v in values]

    def _write_connection(self):
        conn = self.connect()
        conn.execute("BEGIN IMMEDIATE")
        return conn

    def _declared(self, conn, asset: str) -> list[tuple[str, str, bool]] | None:
        table = asset.split(".")[-1]
        rows = conn.execute(f"PRAGMA table_info({self.quote_column(table)})").fetchall()
        return [(r[1], r[2], not r[3]) for r in rows] or None

    def _columns(self, conn, asset: str) -> list[str] | None:
        declared = self._declared(conn, asset)
        return None if declared is None else [name for name, _, _ in declared]

    def _describe(self, conn, asset: str) -> list[ColumnSchema] | None:
        declared = self._declared(conn, asset)
        if declared is None:
            return None
        return [ColumnSchema(n, declared_to_arrow(t), t, nullable) for n, t, nullable in declared]

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        schema = self.read_schema(asset, columns)
        sql = self.select_sql(asset, schema.names, filter)
        conn = self.connect()
        try:
            cursor = conn.execute(sql)
        except BaseException:
            self._release(conn)
            raise
        return self._cursor_reader(schema, cursor, lambda: self._release(conn), _from_db)

    def list_assets(self) -> list[str]:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ).fetchall()
        finally:
            self._release(conn)
        return [r[0] for r in rows]
