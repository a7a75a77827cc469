"""File formats of the files store: what each can hold, how to write a part file, how to read it back.

Parquet and ORC carry their own types. CSV and JSON lines do not, so the files store keeps the
Arrow schema beside the data and every format reads back to exactly the types written. JSON
lines spell decimals, dates, timestamps and times as strings and binary as base64.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.json as pajson
import pyarrow.orc as paorc
import pyarrow.parquet as pq

from meshkit.core.lazy import lazy_import

ds = lazy_import("pyarrow.dataset")

FORMATS = ("parquet", "csv", "jsonl", "orc")
#: File name suffix -> format.
SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl",
            ".json": "jsonl", ".orc": "orc"}  # fmt: skip
#: Largest row (bytes) the CSV and JSON readers accept.
BLOCK_SIZE = 64 << 20
#: Formats ``pyarrow.dataset`` can write with hive-style partitions.
PARTITIONED_WRITES = ("parquet", "csv")


def cannot_hold(fmt: str, arrow_type: pa.DataType) -> str | None:
    """Why format ``fmt`` cannot hold ``arrow_type``, or ``None`` if it can."""
    t = pa.types
    if isinstance(arrow_type, pa.ExtensionType):
        arrow_type = arrow_type.storage_type
    if fmt == "csv" and (t.is_nested(arrow_type) or t.is_binary(arrow_type) or t.is_large_binary(arrow_type)):
        return "CSV holds neither binary nor nested values"
    if fmt == "orc" and (
        t.is_time(arrow_type) or t.is_duration(arrow_type) or t.is_unsigned_integer(arrow_type)
    ):
        return "ORC has no such type"
    if fmt == "jsonl" and t.is_nested(arrow_type) and any(_special(f.type) for f in _children(arrow_type)):
        return "JSON lines keep nested values only of numbers, strings and booleans"
    return None


def _children(arrow_type: pa.DataType) -> list[pa.Field]:
    if pa.types.is_struct(arrow_type):
        return list(arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return [arrow_type.value_field]
    return []


def _special(arrow_type: pa.DataType) -> bool:
    """Types JSON lines spell as strings."""
    t = pa.types
    return any(test(arrow_type) for test in (t.is_decimal, t.is_date, t.is_timestamp, t.is_time, t.is_binary,
                                             t.is_large_binary, t.is_nested))  # fmt: skip


# ---------------------------------------------------------------------------- writing


class PartWriter:
    """Streams batches into one file of a format."""

    def __init__(self, fs, path: str, schema: pa.Schema, fmt: str):
        self.fmt = fmt
        self.sink = fs.open_output_stream(path)
        if fmt == "parquet":
            self.writer = pq.ParquetWriter(self.sink, schema)
        elif fmt == "csv":
            self.writer = pacsv.CSVWriter(
                self.sink, schema, write_options=pacsv.WriteOptions(quoting_style="needed")
            )
        elif fmt == "orc":
            self.writer = paorc.ORCWriter(self.sink)
        else:
            self.writer = None

    def write(self, batch: pa.RecordBatch) -> None:
        if self.fmt == "orc":
            self.writer.write(pa.Table.from_batches([batch]))
        elif self.fmt == "jsonl":
            self.sink.write(json_lines(batch))
        else:
            self.writer.write_batch(batch)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.sink.close()


def write_options(fmt: str) -> ds.FileWriteOptions:
    """Options for ``pyarrow.dataset.write_dataset`` (partitioned writes)."""
    if fmt == "csv":
        return ds.CsvFileFormat().make_write_options(quoting_style="needed")
    return ds.ParquetFileFormat().make_write_options()


def json_lines(batch: pa.RecordBatch) -> bytes:
    """``batch`` as JSON lines (UTF-8)."""
    columns = []
    for col in batch.columns:
        typ = col.type.storage_type if isinstance(col.type, pa.ExtensionType) else col.type
        if isinstance(col.type, pa.ExtensionType):
            col = col.storage
        if pa.types.is_binary(typ) or pa.types.is_large_binary(typ):
            col = pa.array(
                [None if v is None else base64.b64encode(v).decode() for v in col.to_pylist()], pa.string()
            )
        elif _special(typ) and not pa.types.is_nested(typ):
            col = col.cast(pa.string())
        columns.append(col)
    rows = pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pylist()
    return "".join(json.dumps(row, ensure_ascii=False, separators=(",", ":")) + "\n" for row in rows).encode()


# ---------------------------------------------------------------------------- reading


def json_type(arrow_type: pa.DataType) -> pa.DataType:
    """The type JSON lines hold a value of ``arrow_type`` as."""
    if isinstance(arrow_type, pa.ExtensionType):
        return json_type(arrow_type.storage_type)
    if pa.types.is_struct(arrow_type):
        return pa.struct([f.with_type(json_type(f.type)) for f in arrow_type])
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return pa.list_(arrow_type.value_field.with_type(json_type(arrow_type.value_type)))
    return pa.string() if _special(arrow_type) else arrow_type


def read_format(fmt: str, schema: pa.Schema | None) -> ds.FileFormat:
    """The ``pyarrow.dataset`` format reading files written as ``fmt`` with ``schema``."""
    if fmt == "csv":
        convert = pacsv.ConvertOptions(
            column_types=schema, strings_can_be_null=True, quoted_strings_can_be_null=False
        )
        return ds.CsvFileFormat(
            read_options=pacsv.ReadOptions(block_size=BLOCK_SIZE), convert_options=convert
        )
    if fmt == "jsonl":
        parse = pajson.ParseOptions(explicit_schema=None if schema is None else dataset_schema(fmt, schema),
                                    unexpected_field_behavior="infer")  # fmt: skip
        return ds.JsonFileFormat(read_options=pajson.ReadOptions(block_size=BLOCK_SIZE), parse_options=parse)
    return ds.ParquetFileFormat() if fmt == "parquet" else ds.OrcFileFormat()


def dataset_schema(fmt: str, schema: pa.Schema) -> pa.Schema:
    """The schema the dataset reader produces for data written with ``schema``."""
    if fmt != "jsonl":
        return schema
    return pa.schema([f.with_type(json_type(f.type)) for f in schema])


def decode(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """A batch read from files, converted to the types of ``schema`` (the schema written)."""
    if batch.schema.equals(schema):
        return batch
    columns = []
    for col, field in zip(batch.columns, schema, strict=True):
        columns.append(_decode_column(col, field.type))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def _decode_column(col: pa.Array, target: pa.DataType) -> pa.Array:
    if col.type == target:
        return col
    storage = target.storage_type if isinstance(target, pa.ExtensionType) else target
    t = pa.types
    if t.is_string(col.type) and (t.is_binary(storage) or t.is_large_binary(storage)):
        col = pa.array([None if v is None else base64.b64decode(v) for v in col.to_pylist()], storage)
    elif t.is_string(col.type) and t.is_time(storage):
        col = pa.array([None if v is None else dt.time.fromisoformat(v) for v in col.to_pylist()], storage)
    elif t.is_string(col.type) and t.is_timestamp(storage) and storage.tz:
        col = col.cast(pa.timestamp(storage.unit, tz="UTC")).cast(storage)
    else:
        col = col.cast(storage)
    return pa.ExtensionArray.from_storage(target, col) if isinstance(target, pa.ExtensionType) else col


def native_types(fs, path: str, fmt: str) -> dict[str, str]:
    """Native column type names of one file: Parquet logical/physical types, ORC and text formats by Arrow type."""
    if fmt != "parquet":
        return {}
    with fs.open_input_file(path) as f:
        schema = pq.ParquetFile(f).schema
        out: dict[str, Any] = {}
        for i in range(len(schema)):
            col = schema.column(i)
            top, _, rest = col.path.partition(".")
            logical = str(col.logical_type)
            native = col.physical_type if logical == "None" else f"{col.physical_type} ({logical})"
            out.setdefault(top, "group" if rest else native)
        return out
