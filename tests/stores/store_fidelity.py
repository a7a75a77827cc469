"""The type-fidelity table every store must round-trip, the normalisations stores document, and the
store configurations every store test runs against (like dlt's ``destinations_configs()``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field

import pyarrow as pa
import pytest

from meshkit.data.stores.base import canonical_type

PARIS = dt.timezone(dt.timedelta(hours=2))
BIG = "€" + "x" * (1 << 20)


def fidelity_table(*, finite: bool = False, ns_range: bool = False) -> pa.Table:
    """Four rows covering every type of issue 3 item 7 plus a key ``id``; the last row is all nulls.

    ``finite`` leaves out infinities (MySQL cannot store them); ``ns_range`` keeps timestamps
    within 1677-2262 (ORC stores nanoseconds).
    """
    late = (
        dt.datetime(2200, 12, 31, 23, 59, 59, 999999)
        if ns_range
        else dt.datetime(2999, 12, 31, 23, 59, 59, 999999)
    )
    cols = {
        "id": pa.array([1, 2, 3, 4], pa.int64()),
        "i8": pa.array([-128, 127, 0, None], pa.int8()),
        "i16": pa.array([-32768, 32767, 1, None], pa.int16()),
        "i32": pa.array([-(2**31), 2**31 - 1, 2, None], pa.int32()),
        "i64": pa.array([-(2**63), 2**63 - 1, 3, None], pa.int64()),
        "f32": pa.array([1.1, -3.4e38, 1e-30 if finite else float("inf"), None], pa.float32()),
        "f64": pa.array([0.1, 1.7976931348623157e308, -0.0, None], pa.float64()),
        "dec38": pa.array(
            [
                decimal.Decimal("12345678901234567890123456789.123456789"),
                decimal.Decimal("-0.000000001"),
                decimal.Decimal("0E-9"),
                None,
            ],
            pa.decimal128(38, 9),
        ),
        "dec10": pa.array(
            [decimal.Decimal("12345678.90"), decimal.Decimal("-0.01"), decimal.Decimal("0.00"), None],
            pa.decimal128(10, 2),
        ),
        "flag": pa.array([True, False, True, None]),
        "text": pa.array(["héllo wörld ✓ 日本語 🍕", "", 'quote " comma , newline \n tab \t back \\', None]),
        "big": pa.array([BIG, "small", "", None]),
        "data": pa.array([b"\x00\x01\xff", b"", b"plain", None], pa.binary()),
        "day": pa.array(
            [dt.date(1970, 1, 1), dt.date(2024, 2, 29), dt.date(9999, 12, 31), None], pa.date32()
        ),
        "ts": pa.array(
            [dt.datetime(2024, 1, 2, 3, 4, 5, 678901), dt.datetime(1900, 1, 1), late, None],
            pa.timestamp("us"),
        ),
        "ts_utc": pa.array(
            [
                dt.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC),
                dt.datetime(1969, 7, 20, 20, 17, tzinfo=dt.UTC),
                dt.datetime(2038, 1, 19, 3, 14, 8, tzinfo=dt.UTC),
                None,
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        "ts_zone": pa.array(
            [
                dt.datetime(2024, 6, 1, 12, 0, 0, 1, tzinfo=PARIS),
                dt.datetime(2000, 1, 1, tzinfo=PARIS),
                dt.datetime(2024, 6, 1, 0, 30, tzinfo=PARIS),
                None,
            ],
            pa.timestamp("us", tz="Europe/Paris"),
        ),
        "clock": pa.array(
            [dt.time(0, 0), dt.time(23, 59, 59, 999999), dt.time(12, 30, 15, 250), None], pa.time64("us")
        ),
        "doc": pa.array(['{"a": 1, "b": [true, null]}', "[]", '{"nested": {"x": "ü"}}', None]),
    }
    cols["nums"] = pa.array([[1, None, -(2**63)], [], None, None], pa.list_(pa.int64()))
    cols["rec"] = pa.array(
        [{"a": 1, "b": "x"}, {"a": None, "b": "ü"}, None, None],
        pa.struct([("a", pa.int64()), ("b", pa.string())]),
    )
    return pa.table(cols)


def normalised(table: pa.Table, *, int8_as: pa.DataType | None = None) -> pa.Table:
    """``table`` after the documented normalisations: instants in UTC; ``int8_as`` where int8 widens."""
    fields = []
    for column in table.schema:
        typ = canonical_type(column.type)
        if int8_as is not None and pa.types.is_int8(typ):
            typ = int8_as
        fields.append(column.with_type(typ))
    return table.cast(pa.schema(fields))


def assert_same(actual: pa.Table, expected: pa.Table, sort: str | None = "id") -> None:
    """Exact equality of schema and values (rows ordered by ``sort``), naming the first differing column."""
    if sort:
        actual, expected = actual.sort_by(sort), expected.sort_by(sort)
    assert actual.schema.names == expected.schema.names
    for name in expected.schema.names:
        a, e = actual.column(name), expected.column(name)
        assert a.type == e.type, f"{name}: type {a.type} != {e.type}"
        assert a.combine_chunks().equals(e.combine_chunks()), (
            f"{name}: {a.to_pylist()[:3]!r} != {e.to_pylist()[:3]!r}"
        )


@dataclass(frozen=True)
class StoreConfig:
    """One store under test and what the fidelity table looks like after it."""

    id: str
    #: Columns the store cannot hold (left out of the fidelity table).
    drop: tuple[str, ...] = ()
    #: Instants read back in UTC.
    utc: bool = True
    #: int8 widens to this type.
    int8_as: pa.DataType | None = None
    #: Leave infinities out (MySQL).
    finite: bool = False
    #: Timestamps only within the nanosecond range (ORC).
    ns_range: bool = False
    #: Native type name of an int64 column.
    native_int64: str = ""
    #: Columns the store refuses (write must fail before writing).
    refuses: tuple[str, ...] = field(default=())
    sql: bool = False

    def table(self) -> pa.Table:
        return fidelity_table(finite=self.finite, ns_range=self.ns_range).drop_columns(list(self.drop))

    def expected(self, table: pa.Table) -> pa.Table:
        return normalised(table, int8_as=self.int8_as) if self.utc else table


CONFIGS = [
    StoreConfig("duckdb", native_int64="BIGINT", sql=True),
    StoreConfig("sqlite", drop=("nums", "rec"), native_int64="BIGINT", refuses=("nums", "rec"), sql=True),
    StoreConfig(
        "postgres", drop=("rec",), int8_as=pa.int16(), native_int64="bigint", refuses=("rec",), sql=True
    ),
    StoreConfig(
        "mysql",
        drop=("nums", "rec"),
        finite=True,
        native_int64="bigint(20)",
        refuses=("nums", "rec"),
        sql=True,
    ),
    StoreConfig("files-parquet", utc=False, native_int64="INT64"),
    StoreConfig(
        "files-csv",
        drop=("data", "nums", "rec"),
        utc=False,
        native_int64="text",
        refuses=("data", "nums", "rec"),
    ),
    StoreConfig("files-jsonl", utc=False, native_int64="number"),
    StoreConfig(
        "files-orc", drop=("clock",), utc=False, ns_range=True, native_int64="int64", refuses=("clock",)
    ),
    StoreConfig("s3-parquet", utc=False, native_int64="INT64"),
    StoreConfig("iceberg", native_int64="long"),
]


def store_configs(*, sql: bool | None = None, refusing: bool | None = None) -> list:
    """``pytest.param`` for every store config, optionally only SQL stores or stores refusing some types."""
    selected = [
        c
        for c in CONFIGS
        if (sql is None or c.sql == sql) and (refusing is None or bool(c.refuses) == refusing)
    ]
    return [pytest.param(c, id=c.id) for c in selected]
