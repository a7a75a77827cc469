"""Incremental transfers on Spark: the same rows and the same watermarks as on DuckDB, run after run."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
from transfer_helpers import spec_yaml, transfer

from meshkit.data.transfer.state import StateStore

T0 = dt.datetime(2024, 3, 1, 9, 0, 0, 250000)


def events(ids, minutes, *, tz: bool) -> pa.Table:
    times = [T0 + dt.timedelta(minutes=m) for m in minutes]
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "updated_at": pa.array([t.replace(tzinfo=dt.UTC) for t in times] if tz else times,
                               pa.timestamp("us", "UTC") if tz else pa.timestamp("us")),
        "amount": pa.array([decimal.Decimal(i) / 4 for i in ids], pa.decimal128(10, 2)),
        "note": [f"event {i}" for i in ids],
    })  # fmt: skip


def sent(mk, asset) -> list[dict]:
    return sorted(mk.store("lake").read(asset).read_all().to_pylist(), key=lambda r: r["id"])


def run_both(mk, source, asset, engines, cursor, keys):
    """Run the incremental transfer once per engine; the statuses and kept watermarks by engine."""
    out = {}
    for engine in engines:
        name = f"inc-{engine}"
        extra = f"  engine: {engine}\n  incremental:\n    cursor: {cursor}\n    keys: [{', '.join(keys)}]\n"
        result = transfer(
            mk, spec_yaml(name, source, asset, "lake", f"events_{engine}", mode="append", extra=extra)
        )
        assert result.ok, result.error
        out[engine] = (result.status, StateStore(mk.metadata).get(name).watermark)
    return out


@pytest.mark.parametrize(
    ("tz", "cursor", "keys"),
    [(True, "updated_at", ["id"]), (False, "updated_at", ["id", "updated_at"]), (False, "amount", ["note"])],
)
def test_incremental_runs_send_the_same_rows_and_keep_the_same_marks_on_spark(
    open_mk, stores, pg_dsn, pg_schema, spark_engine, tz, cursor, keys
):
    stores("pg", type="postgres", dsn=pg_dsn)
    mk = open_mk()
    pg, asset = mk.store("pg"), f"{pg_schema}.events"
    pg.write(asset, events([1, 2, 3], [0, 1, 2], tz=tz))
    engines = ("duckdb", spark_engine)
    first = run_both(mk, "pg", asset, engines, cursor, keys)
    assert first["duckdb"][0]["numRecords"] == first[spark_engine][0]["numRecords"] == 3
    assert first[spark_engine][1] == first["duckdb"][1] and first["duckdb"][1]["boundary"]
    assert first[spark_engine][0]["lastRecordTime"] == first["duckdb"][0]["lastRecordTime"]
    # a late row at the high-water mark and a row past it: only these are sent
    pg.write(asset, events([4, 5], [2, 3], tz=tz), mode="append")
    second = run_both(mk, "pg", asset, engines, cursor, keys)
    assert second["duckdb"][0]["numRecords"] == second[spark_engine][0]["numRecords"] == 2
    assert second[spark_engine][1] == second["duckdb"][1] != first["duckdb"][1]
    third = run_both(mk, "pg", asset, engines, cursor, keys)
    assert third["duckdb"][0]["numRecords"] == third[spark_engine][0]["numRecords"] == 0
    assert third[spark_engine][1] == second[spark_engine][1]
    assert sent(mk, f"events_{spark_engine}") == sent(mk, "events_duckdb")
    assert [r["id"] for r in sent(mk, "events_duckdb")] == [1, 2, 3, 4, 5]


def test_an_incremental_transfer_of_a_staged_source_on_spark(open_mk, spark_engine):
    """A source Spark cannot read itself (SQLite) is staged, windowed the same way."""
    mk = open_mk()
    mk.store("lite").write("events", events([1, 2, 3], [0, 1, 2], tz=False))
    first = run_both(mk, "lite", "events", ("duckdb", spark_engine), "updated_at", ["id"])
    assert first[spark_engine][1] == first["duckdb"][1]
    mk.store("lite").write("events", events([4], [2], tz=False), mode="append")
    second = run_both(mk, "lite", "events", ("duckdb", spark_engine), "updated_at", ["id"])
    assert second["duckdb"][0]["numRecords"] == second[spark_engine][0]["numRecords"] == 1
    assert second[spark_engine][1] == second["duckdb"][1]
    assert sent(mk, f"events_{spark_engine}") == sent(mk, "events_duckdb")
