"""Change data: records applied as upserts and deletes merged by key.

A batch of changes is reduced to the last change of each key (``last_per_key``), so one write
per asset applies it: its upserts merged on the key, its deletes removed by key.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc


def last_per_key(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """The last row of ``table`` for each value of ``keys``, in the order those last rows came."""
    if table.num_rows < 2:
        return table
    indexed = table.select(list(keys)).append_column("__mk_row", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(keys), use_threads=False).aggregate([("__mk_row", "max")])
    rows = pc.sort_indices(last.column("__mk_row_max"))
    return table.take(pc.take(last.column("__mk_row_max"), rows))
