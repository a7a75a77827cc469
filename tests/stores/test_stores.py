"""Every store against the same contract: fidelity, write modes, evolution, atomicity, pushdown, schema."""

from __future__ import annotations

import pyarrow as pa
import pytest
from store_fidelity import assert_same, fidelity_table, store_configs

from meshkit.core.errors import MeshkitError, UserError

SIMPLE = pa.table(
    {"id": pa.array([1, 2, 3], pa.int64()), "name": ["a", "b", "c"], "amount": pa.array([5.0, 15.0, 25.0])}
)


def read(target, asset, **kw) -> pa.Table:
    return target.store.read(asset, **kw).read_all()


def failing_reader(table: pa.Table, after: int = 2) -> pa.RecordBatchReader:
    """A reader that yields ``after`` batches of ``table`` and then raises."""

    def batches():
        for i, batch in enumerate(table.to_batches(max_chunksize=1)):
            if i == after:
                raise RuntimeError("source failed midway")
            yield batch

    return pa.RecordBatchReader.from_batches(table.schema, batches())


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_fidelity_round_trip_in_every_mode(target):
    table = target.config.table()
    asset = target.asset("fid")
    expected = target.config.expected(table)

    assert target.store.write(asset, table, "overwrite").rows == 4
    assert_same(read(target, asset), expected)
    assert target.store.write(asset, table, "append").rows == 4
    assert_same(read(target, asset), pa.concat_tables([expected, expected]))
    target.store.write(asset, table, "overwrite")
    assert target.store.write(asset, table, "merge", keys=["id"]).rows == 4
    assert_same(read(target, asset), expected)


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_write_modes(target):
    asset = target.asset("modes")
    store = target.store
    store.write(asset, SIMPLE, "append")
    store.write(asset, SIMPLE.slice(0, 1), "append")
    assert read(target, asset).sort_by("id").column("id").to_pylist() == [1, 1, 2, 3]

    store.write(asset, SIMPLE, "overwrite")
    update = pa.table(
        {"id": pa.array([2, 5], pa.int64()), "name": ["B", "e"], "amount": pa.array([1.5, 2.5])}
    )
    store.write(asset, update, "merge", keys=["id"])
    got = read(target, asset).sort_by("id")
    assert got.to_pydict() == {
        "id": [1, 2, 3, 5],
        "name": ["a", "B", "c", "e"],
        "amount": [5.0, 1.5, 25.0, 2.5],
    }

    merged = target.asset("merged")  # merge creates a missing asset
    store.write(merged, SIMPLE, "merge", keys=["id"])
    assert read(target, merged).sort_by("id").equals(SIMPLE)


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_schema_evolution_adds_column_on_append(target):
    asset = target.asset("evolve")
    target.store.write(asset, SIMPLE, "append")
    more = pa.table(
        {"id": pa.array([4], pa.int64()), "name": ["d"], "amount": pa.array([1.0]), "note": ["new"]}
    )
    target.store.write(asset, more, "append")
    got = read(target, asset).sort_by("id")
    assert got.column_names == ["id", "name", "amount", "note"]
    assert got.column("note").to_pylist() == [None, None, None, "new"]

    with pytest.raises(MeshkitError) as err:
        target.store.write(
            asset, pa.table({"id": pa.array([9], pa.int64()), "extra": [1]}), "append", evolve=False
        )
    assert "extra" in str(err.value)


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_failed_write_leaves_target_unchanged(target):
    asset = target.asset("atomic")
    target.store.write(asset, SIMPLE, "overwrite")
    before = read(target, asset).sort_by("id")
    bigger = pa.table(
        {
            "id": pa.array(range(10, 20), pa.int64()),
            "name": ["x"] * 10,
            "amount": [1.0] * 10,
            "added": ["y"] * 10,
        }
    )
    for mode in ("append", "overwrite", "merge"):
        keys = ["id"] if mode == "merge" else None
        with pytest.raises(Exception, match="source failed midway"):
            target.store.write(asset, failing_reader(bigger, after=3), mode, keys=keys)
        assert read(target, asset).sort_by("id").equals(before), mode


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_failed_write_to_new_asset_leaves_nothing(target):
    asset = target.asset("never")
    with pytest.raises(Exception, match="source failed midway"):
        target.store.write(asset, failing_reader(SIMPLE, after=1), "append")
    assert not target.store.exists(asset)
    assert all(asset.split(".")[-1] not in a for a in target.store.list_assets())


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_projection_and_filter_pushdown(target):
    asset = target.asset("pushdown")
    target.store.write(asset, SIMPLE, "overwrite")

    got = read(target, asset, columns=["name", "id"], filter="amount > 10 AND name <> 'c'")
    assert got.column_names == ["name", "id"]
    assert got.to_pydict() == {"name": ["b"], "id": [2]}
    assert read(target, asset, filter="id IN (1, 3) OR amount IS NULL").sort_by("id").column(
        "id"
    ).to_pylist() == [1, 3]
    # beyond simple comparisons: evaluated by the engine (or DuckDB over the stream)
    assert read(target, asset, columns=["id"], filter="upper(name) = 'A'").column("id").to_pylist() == [1]


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_schema_reports_arrow_and_native_types(target):
    asset = target.asset("typed")
    table = target.config.table()
    target.store.write(asset, table, "overwrite")
    columns = {c.name: c for c in target.store.schema(asset)}
    assert list(columns) == table.column_names
    assert columns["id"].native_type == target.config.native_int64
    expected = target.config.expected(table).schema
    assert {n: c.arrow_type for n, c in columns.items()} == {f.name: f.type for f in expected}


@pytest.mark.parametrize("target", store_configs(), indirect=True)
def test_list_assets_and_missing_asset(target):
    first, second = target.asset("one"), target.asset("two")
    target.store.write(first, SIMPLE, "overwrite")
    target.store.write(second, SIMPLE, "overwrite")
    listed = target.store.list_assets()
    for asset in (first, second):
        assert any(name == asset or name.endswith(asset.split(".")[-1]) for name in listed)
    missing = target.asset("missing")
    with pytest.raises(UserError, match="does not exist"):
        target.store.read(missing)
    with pytest.raises(UserError, match="does not exist"):
        target.store.schema(missing)


@pytest.mark.parametrize("target", store_configs(refusing=True), indirect=True)
def test_unholdable_type_fails_before_writing(target):
    asset = target.asset("refused")
    target.store.write(asset, SIMPLE, "overwrite")
    column = target.config.refuses[0]
    bad = SIMPLE.append_column(column, fidelity_table().column(column).slice(0, 3))
    for mode in ("append", "overwrite"):
        with pytest.raises(UserError) as err:
            target.store.write(asset, bad, mode)
        assert f"`{column}`" in err.value.message and "Cast" in err.value.hint
    assert read(target, asset).sort_by("id").equals(SIMPLE)
    fresh = target.asset("refused_new")
    with pytest.raises(UserError):
        target.store.write(fresh, bad, "append")
    assert not target.store.exists(fresh)


def test_duckdb_waits_for_a_file_another_process_holds(mk, tmp_path):
    """DuckDB lets one process open a file: a run waits its turn, up to `duckdb_lock_timeout`."""
    import subprocess
    import sys

    from meshkit.data.stores.duckdb import DuckDBStore

    path = tmp_path / "shared.duckdb"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "c.execute('CREATE TABLE t AS SELECT 42 AS n'); print('held', flush=True); time.sleep(float(sys.argv[2]))",
         str(path), "1.5"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    impatient = DuckDBStore("shared", {"path": str(path)}, mk)
    impatient.lock_timeout = 0
    with pytest.raises(UserError, match="duckdb_lock_timeout"):
        impatient.read("t").read_all()
    patient = DuckDBStore("shared", {"path": str(path)}, mk)
    assert patient.read("t").read_all().to_pylist() == [{"n": 42}]  # once the holder has exited
    assert holder.wait(timeout=30) == 0
    patient.close()
