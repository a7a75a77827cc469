"""Incremental transfers: rows at the high-water mark are neither missed nor duplicated."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from transfer_helpers import spec_yaml, transfer

T0 = dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC)


def events(ids, minutes) -> pa.Table:
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "updated_at": pa.array([T0 + dt.timedelta(minutes=m) for m in minutes], pa.timestamp("us", "UTC")),
        "note": [f"event {i}" for i in ids],
    })  # fmt: skip


INCREMENTAL = "  incremental:\n    cursor: updated_at\n"


@pytest.mark.parametrize("source", ["warehouse", "lite"])
def test_rows_inserted_at_the_boundary_are_sent_exactly_once(open_mk, source):
    mk = open_mk()
    store = mk.store(source)
    store.write("events", events([1, 2, 3], [0, 1, 2]))
    text = spec_yaml("inc-" + source, source, "events", "lake", "events", mode="append", extra=INCREMENTAL)
    first = transfer(mk, text)
    assert first.ok, first.error
    assert first.status["numRecords"] == 3
    assert first.status["lastRecordTime"] == "2024-03-01 09:02:00.000000+00"
    # a late row at exactly the high-water mark, a row past it, and nothing else
    store.write("events", events([4, 5], [2, 3]))
    second = transfer(mk, text)
    assert second.ok, second.error
    assert second.status["numRecords"] == 2
    third = transfer(mk, text)
    assert third.ok and third.status["numRecords"] == 0
    store.write("events", events([6], [3]))
    assert transfer(mk, text).status["numRecords"] == 1
    sent = mk.store("lake").read("events").read_all().column("id").to_pylist()
    assert sorted(sent) == [1, 2, 3, 4, 5, 6]


def test_merge_with_keys_and_a_transform(open_mk):
    mk = open_mk()
    mk.store("warehouse").write("events", events([1, 2], [0, 0]))
    transformation = (
        "  transformation:\n  - {action: Redact, columns: [note], options: {mode: fixed, value: x}}\n"
    )
    text = spec_yaml("inc-merge", "warehouse", "events", "lite", "events", mode="merge", keys=["id"],
                     transformation=transformation, extra=INCREMENTAL)  # fmt: skip
    assert transfer(mk, text).status["numRecords"] == 2
    mk.store("warehouse").write("events", events([2, 3], [1, 5]))  # a new version of id 2, and id 3
    result = transfer(mk, text)
    assert result.ok, result.error
    assert result.status["numRecords"] == 2
    got = sorted(mk.store("lite").read("events").read_all().to_pylist(), key=lambda r: r["id"])
    assert [(r["id"], r["note"]) for r in got] == [(1, "x"), (2, "x"), (3, "x")]


def test_unknown_cursor_column_is_fatal(open_mk):
    mk = open_mk()
    mk.store("warehouse").write("events", events([1], [0]))
    text = spec_yaml(
        "inc-bad", "warehouse", "events", "lake", "e", mode="append", extra="  incremental: {cursor: nope}\n"
    )
    result = transfer(mk, text)
    assert result.status["phase"] == "Fatal"
    assert "cursor column `nope`" in result.status["error"]
