"""Arrow results as PostgreSQL text-format rows: type OIDs and the ``DataRow`` messages of a batch.

Rows are encoded column by column with Arrow compute (no Python loop per row): each value
becomes its text form prefixed by its length, each row the ``D`` header and its fields; the
values buffer of the resulting binary array is then exactly the bytes to send.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: PostgreSQL type OIDs (pg_type.h) for Arrow types; anything else is sent as text.
INT2, INT4, INT8, FLOAT4, FLOAT8, BOOL, TEXT, BYTEA = 21, 23, 20, 700, 701, 16, 25, 17
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, NUMERIC = 1082, 1083, 1114, 1184, 1700


def type_oid(type_: pa.DataType) -> int:
    """The PostgreSQL type a column of ``type_`` is described as."""
    checks = (
        (pa.types.is_boolean, BOOL), (pa.types.is_int8, INT2), (pa.types.is_int16, INT2),
        (pa.types.is_uint8, INT2), (pa.types.is_int32, INT4), (pa.types.is_uint16, INT4),
        (pa.types.is_integer, INT8), (pa.types.is_float16, FLOAT4), (pa.types.is_float32, FLOAT4),
        (pa.types.is_float64, FLOAT8), (pa.types.is_decimal, NUMERIC), (pa.types.is_date, DATE),
        (pa.types.is_time, TIME), (pa.types.is_binary, BYTEA), (pa.types.is_large_binary, BYTEA),
    )  # fmt: skip
    if pa.types.is_timestamp(type_):
        return TIMESTAMPTZ if type_.tz else TIMESTAMP
    return next((oid for check, oid in checks if check(type_)), TEXT)


def _text(column: pa.ChunkedArray | pa.Array) -> pa.Array:
    """The PostgreSQL text form of every value (nulls stay null)."""
    type_ = column.type
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_boolean(type_):
        return pc.if_else(column, "t", "f")
    if pa.types.is_binary(type_) or pa.types.is_large_binary(type_):
        return pa.array([None if v is None else "\\x" + v.hex() for v in column.to_pylist()], pa.string())
    if pa.types.is_nested(type_) or pa.types.is_dictionary(type_):
        return pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())
    return pc.cast(column, pa.string())


def _be32(values: np.ndarray) -> pa.Array:
    """Big-endian 4-byte binaries of ``values``."""
    raw = values.astype(">i4").tobytes()
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(4), len(values), [None, pa.py_buffer(raw)]).cast(
        pa.binary()
    )


def data_rows(batch: pa.RecordBatch) -> bytes:
    """The ``DataRow`` messages of every row of ``batch``, as one buffer."""
    n = batch.num_rows
    if n == 0:
        return b""
    fields, sizes = [], np.zeros(n, dtype=np.int64)
    for column in batch.columns:
        text = pc.cast(_text(column), pa.binary())
        valid = np.asarray(text.is_valid())
        lengths = np.asarray(pc.fill_null(pc.binary_length(text), 0), dtype=np.int64)
        prefix = _be32(np.where(valid, lengths, -1))
        fields += [prefix, pc.fill_null(text, b"")]
        sizes += 4 + lengths
    # ``D``, the message length (itself, the column count and the fields), the column count.
    header = pc.binary_join_element_wise(
        pa.array([b"D"] * n, pa.binary()), _be32(sizes + 6),
        pa.array([len(batch.columns).to_bytes(2, "big")] * n, pa.binary()), b"",
    )  # fmt: skip
    rows = pc.binary_join_element_wise(header, *fields, b"")
    offsets = np.frombuffer(rows.buffers()[1], dtype=np.int32)[rows.offset : rows.offset + n + 1]
    return rows.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0])).to_pybytes()
