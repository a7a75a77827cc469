"""Delete rows of an Iceberg table by key (change data), rewriting only the data files that hold the keys.

pyiceberg's own ``delete`` takes a row filter: for keys, an ``In`` of every key of the batch, which
it evaluates in Python against every data file's statistics three times (planning the delete, the
scan, the overwrite). Here the files are planned once without a filter, a file is kept out when
the column statistics (lower and upper bounds) of a key column hold none of the batch's keys (a
binary search in the sorted, deduplicated keys), and each remaining file is read and filtered in
Arrow (``is_in``, or an anti-join for composite keys). Only files that lose rows are replaced,
in one overwrite snapshot (copy-on-write, as pyiceberg writes no delete files).
"""

from __future__ import annotations

import bisect
import itertools
import uuid
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

#: Iceberg types whose bounds decode to Python values that compare with Arrow's ``to_pylist``.
_PRUNABLE = ("int", "long", "string", "decimal")


def delete_keys(tx, keys: pa.Table, snapshot_properties: dict[str, str]) -> int:
    """Delete the rows whose key columns equal a row of ``keys`` within transaction ``tx``; the rows deleted."""
    from pyiceberg.expressions import AlwaysTrue
    from pyiceberg.io.pyarrow import ArrowScan, _dataframe_to_data_files

    metadata = tx.table_metadata
    schema = metadata.schema()
    arrow = schema.as_arrow()
    keys = _typed(keys, arrow).group_by(keys.schema.names).aggregate([])
    if not keys.num_rows or metadata.current_snapshot() is None:
        return 0
    bounds = _sorted_values(schema, keys)
    io = tx._table.io
    commit_uuid, counter = uuid.uuid4(), itertools.count(0)
    replaced, deleted = [], 0
    for task in tx._scan().plan_files():
        if not _may_hold(task.file, bounds):
            continue
        rows = ArrowScan(metadata, io, schema, row_filter=AlwaysTrue()).to_table(tasks=[task])
        kept = _without(rows, keys)
        if kept.num_rows == rows.num_rows:
            continue
        deleted += rows.num_rows - kept.num_rows
        new_files = (
            list(_dataframe_to_data_files(metadata, kept, io, commit_uuid, counter)) if kept.num_rows else []
        )
        replaced.append((task.file, new_files))
    if replaced:
        with tx.update_snapshot(snapshot_properties=snapshot_properties).overwrite(commit_uuid) as overwrite:
            for old, new_files in replaced:
                overwrite.delete_data_file(old)
                for data_file in new_files:
                    overwrite.append_data_file(data_file)
    return deleted


def _sorted_values(schema, keys: pa.Table) -> dict[int, tuple[object, list]]:
    """Per prunable key column: its Iceberg field id -> (its type, its distinct non-null values, sorted)."""
    out = {}
    for name in keys.schema.names:
        field = schema.find_field(name)
        if str(field.field_type).split("(")[0] not in _PRUNABLE:
            continue
        values = pc.unique(keys.column(name).drop_null())
        out[field.field_id] = (field.field_type, values.take(pc.sort_indices(values)).to_pylist())
    return out


def _may_hold(data_file, bounds: dict[int, tuple[object, list]]) -> bool:
    """Whether ``data_file``'s statistics allow a key of ``bounds`` in it (no statistics: they do)."""
    from pyiceberg.conversions import from_bytes

    lowers, uppers = data_file.lower_bounds or {}, data_file.upper_bounds or {}
    for field_id, (field_type, values) in bounds.items():
        if field_id not in lowers or field_id not in uppers:
            continue
        low, high = from_bytes(field_type, lowers[field_id]), from_bytes(field_type, uppers[field_id])
        at = bisect.bisect_left(values, low)
        if at == len(values) or values[at] > high:
            return False
    return True


def _without(rows: pa.Table, keys: pa.Table) -> pa.Table:
    """``rows`` without those whose key columns equal a row of ``keys``."""
    names: Sequence[str] = keys.schema.names
    keys = _typed(keys, rows.schema)  # e.g. string against large_string
    if len(names) == 1:
        return rows.filter(
            pc.invert(pc.fill_null(pc.is_in(rows.column(names[0]), keys.column(0), skip_nulls=True), False))
        )
    return rows.join(keys, list(names), join_type="left anti", use_threads=False).select(rows.schema.names)


def _typed(keys: pa.Table, schema: pa.Schema) -> pa.Table:
    """``keys`` with the types of their columns in ``schema`` (nullable: a required column's keys may hold none)."""
    return keys.cast(pa.schema([pa.field(n, schema.field(n).type) for n in keys.schema.names]))
