"""Query results as PostgreSQL text-format rows, with no Python work per row.

``text_sql`` wraps a query so that DuckDB turns every value into its PostgreSQL text (vectorised,
on all cores); ``data_rows`` then lays out the ``DataRow`` messages of a batch (``D``, the length,
the column count, then each value's length and bytes, or -1 for NULL) with numpy.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: PostgreSQL type OIDs (pg_type.h) of DuckDB types; anything else is sent as text.
TEXT = 25
_OIDS = {"BOOLEAN": 16, "TINYINT": 21, "SMALLINT": 21, "UTINYINT": 21, "INTEGER": 23, "USMALLINT": 23,
         "BIGINT": 20, "UINTEGER": 20, "UBIGINT": 1700, "HUGEINT": 1700, "UHUGEINT": 1700, "FLOAT": 700,
         "DOUBLE": 701, "DATE": 1082, "TIME": 1083, "TIMESTAMP": 1114, "TIMESTAMP_NS": 1114,
         "TIMESTAMP_MS": 1114, "TIMESTAMP_S": 1114, "TIMESTAMP WITH TIME ZONE": 1184, "BLOB": 17,
         "VARCHAR": 25, "UUID": 2950, "INTERVAL": 1186, "JSON": 114}  # fmt: skip


def type_oid(duckdb_type: str) -> int:
    """The PostgreSQL type a column of ``duckdb_type`` is described as."""
    if duckdb_type.startswith("DECIMAL"):
        return 1700
    return _OIDS.get(duckdb_type, TEXT)


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(column: str, duckdb_type: str) -> str:
    """The PostgreSQL text of a column, as a BLOB."""
    if duckdb_type == "BOOLEAN":
        return f"encode(CASE WHEN {column} THEN 't' ELSE 'f' END)"
    if duckdb_type == "BLOB":
        return f"encode('\\x' || lower(hex({column})))"
    if duckdb_type == "VARCHAR":
        return f"encode({column})"
    return f"encode(CAST({column} AS VARCHAR))"


def text_sql(query: str, types: list[str]) -> str:
    """``query``, whose columns have the DuckDB ``types``, with each column as its text (a BLOB).

    Columns are renamed by position (``c0``, ``c1``...), so duplicate names are no trouble.
    """
    names = ", ".join(quote(f"c{i}") for i in range(len(types)))
    texts = ", ".join(f"{_text(quote(f'c{i}'), t)} AS {quote(f'c{i}')}" for i, t in enumerate(types))
    return f"SELECT {texts} FROM ({query}) AS __mk_result ({names})"


def _put_be32(out: np.ndarray, at: np.ndarray, values: np.ndarray) -> None:
    raw = values.astype(">i4").view(np.uint8).reshape(-1, 4)
    for j in range(4):
        out[at + j] = raw[:, j]


def data_rows(batch: pa.RecordBatch) -> bytes:
    """The ``DataRow`` messages of a batch of text columns (``text_sql``), assembled with numpy."""
    n, k = batch.num_rows, batch.num_columns
    if n == 0:
        return b""
    columns = []
    for column in batch.columns:
        offsets = np.frombuffer(column.buffers()[1], dtype=np.int32)[column.offset : column.offset + n + 1]
        lengths = np.diff(offsets).astype(np.int64)
        valid = np.asarray(column.is_valid()) if column.null_count else np.ones(n, dtype=bool)
        data = column.buffers()[2]
        columns.append((offsets, lengths, valid, np.frombuffer(data, dtype=np.uint8) if data else None))
    sizes = 6 + sum(4 + lengths for _, lengths, _, _ in columns)
    starts = np.zeros(n, dtype=np.int64)
    np.cumsum(sizes[:-1] + 1, out=starts[1:])
    out = np.empty(int(starts[-1] + sizes[-1] + 1), dtype=np.uint8)
    out[starts] = ord("D")
    _put_be32(out, starts + 1, sizes)
    out[starts + 5], out[starts + 6] = k >> 8, k & 0xFF
    at = starts + 7
    for offsets, lengths, valid, data in columns:
        _put_be32(out, at, np.where(valid, lengths, -1))
        at = at + 4
        if data is not None and offsets[-1] > offsets[0]:
            shift = np.repeat(at - offsets[:-1], lengths)
            out[np.arange(offsets[0], offsets[-1]) + shift] = data[offsets[0] : offsets[-1]]
        at = at + lengths
    return out.tobytes()
