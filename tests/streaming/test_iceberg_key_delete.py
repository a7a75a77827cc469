"""Change data deletes Iceberg rows by key, rewriting only the data files whose statistics may hold the keys."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.data.stores.iceberg import IcebergStore


@pytest.fixture
def lake(tmp_path):
    return IcebergStore(
        "lake", {"catalog_uri": f"sqlite:///{tmp_path}/catalog.db", "warehouse": f"file://{tmp_path}/w"}
    )


def _files(store: IcebergStore, asset: str) -> set[str]:
    return {task.file.file_path for task in store._table(asset).scan().plan_files()}


def test_only_files_holding_the_keys_are_rewritten(lake):
    for start in (0, 100, 200):  # three data files: ids 0-99, 100-199, 200-299
        ids = list(range(start, start + 100))
        lake.write("cdc.t", pa.table({"id": ids, "v": [f"v{i}" for i in ids]}))
    before = _files(lake, "cdc.t")
    changes = pa.table({"id": [150, 5000], "v": ["new", "added"]})  # 150 updated, 5000 inserted
    deletes = pa.table({"id": [120, 121, 9999]})  # 9999 is in no file
    lake.write("cdc.t", changes, "merge", ["id"], snapshot_properties={"p": "1"}, deletes=deletes)

    rows = {r["id"]: r["v"] for r in lake.read("cdc.t").read_all().to_pylist()}
    assert len(rows) == 300 - 2 + 1
    assert rows[150] == "new" and rows[5000] == "added" and 120 not in rows and 121 not in rows
    after = _files(lake, "cdc.t")
    assert len(before - after) == 1, "only the file of ids 100-199 is replaced"
    assert lake._table("cdc.t").current_snapshot().summary.additional_properties["p"] == "1"


def test_composite_keys_and_null_keys(lake):
    lake.write("cdc.c", pa.table({"a": [1, 1, 2, None], "b": ["x", "y", "x", "x"], "v": [1, 2, 3, 4]}))
    deletes = pa.table({"a": pa.array([1, None], pa.int64()), "b": ["y", "x"]})
    lake.write("cdc.c", pa.table({"a": [2], "b": ["x"], "v": [30]}), "merge", ["a", "b"], deletes=deletes)

    rows = sorted(
        lake.read("cdc.c").read_all().to_pylist(), key=lambda r: (r["a"] is None, r["a"] or 0, r["b"])
    )
    # a null key equals nothing: the row (None, "x") stays
    assert rows == [{"a": 1, "b": "x", "v": 1}, {"a": 2, "b": "x", "v": 30}, {"a": None, "b": "x", "v": 4}]


def test_a_file_losing_every_row_is_dropped(lake):
    lake.write("cdc.d", pa.table({"id": [1, 2]}))
    lake.write("cdc.d", pa.table({"id": [3]}))
    lake.write(
        "cdc.d", pa.table({"id": pa.array([], pa.int64())}), "merge", ["id"], deletes=pa.table({"id": [1, 2]})
    )

    assert lake.read("cdc.d").read_all().column("id").to_pylist() == [3]
    assert len(_files(lake, "cdc.d")) == 1


def test_a_batch_changing_nothing_still_commits_its_positions(lake):
    lake.write("cdc.e", pa.table({"id": [1, 2]}))
    empty = pa.table({"id": pa.array([], pa.int64())})
    lake.write("cdc.e", empty, "merge", ["id"], snapshot_properties={"p": "7"}, deletes=pa.table({"id": [9]}))

    assert lake._table("cdc.e").current_snapshot().summary.additional_properties["p"] == "7"
    assert sorted(lake.read("cdc.e").read_all().column("id").to_pylist()) == [1, 2]
