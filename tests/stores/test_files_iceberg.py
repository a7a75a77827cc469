"""Files store specifics (partitions, URLs, single files, predicates) and Iceberg snapshots and upserts."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores.files import FilesStore
from meshkit.data.stores.iceberg import IcebergStore
from meshkit.data.stores.predicates import to_expression

ORDERS = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "region": ["eu", "us", "eu", "apac"],
                   "day": pa.array([19000, 19000, 19001, 19002], pa.date32()), "amount": [1.5, 2.5, 3.5, 4.5]})  # fmt: skip
SCHEMA = pa.schema(
    [("a", pa.int64()), ("s", pa.string()), ("d", pa.date32()), ("t", pa.timestamp("us", tz="UTC"))]
)


@pytest.mark.parametrize(
    ("predicate", "expected"),
    [
        ("a > 1", "(a > 1)"),
        ("1 < a", "(a > 1)"),
        ("a = -2 AND s <> 'x'", '((a == -2) and (s != "x"))'),
        ("s IS NULL OR NOT a >= 3", "(is_null(s, {nan_is_null=false}) or invert((a >= 3)))"),
        ("d BETWEEN '2024-01-01' AND DATE '2024-12-31'", "((d >= 2024-01-01) and (d <= 2024-12-31))"),
        ("a IN (1, 2)", "is_in(a, {value_set=int64:[\n  1,\n  2\n], null_matching_behavior=MATCH})"),
        ("upper(s) = 'X'", None),
        ("a + 1 > 2", None),
    ],
)
def test_predicates_translate_to_arrow_expressions(predicate, expected):
    got = to_expression(predicate, SCHEMA)
    assert (None if got is None else str(got)) == expected


def test_predicates_reject_invalid_sql_and_unknown_columns():
    with pytest.raises(ConfigError, match="Invalid filter"):
        to_expression("a >", SCHEMA)
    with pytest.raises(UserError, match="`nope`"):
        to_expression("nope = 1", SCHEMA)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_partitioned_write_makes_hive_folders(mk, fmt):
    store = FilesStore("lake", {"path": "lake", "format": fmt, "partition_by": ["region"]}, mk)
    store.write("orders", ORDERS, "overwrite")
    root = mk.workspace.root / "lake" / "orders"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["region=apac", "region=eu", "region=us"]
    assert store.read("orders").read_all().sort_by("id").equals(ORDERS)
    assert store.read("orders", columns=["id"], filter="region = 'eu'").read_all().column(
        "id"
    ).to_pylist() == [1, 3]
    store.write("orders", ORDERS.slice(0, 1), "append")
    assert store.read("orders", filter="region = 'eu'").read_all().num_rows == 3


def test_partition_config_errors(mk):
    store = FilesStore("lake", {"path": "lake", "format": "jsonl", "partition_by": "region"}, mk)
    with pytest.raises(ConfigError, match="Partitioned assets"):
        store.write("orders", ORDERS, "overwrite")
    with pytest.raises(ConfigError, match="not in the data"):
        FilesStore("lake", {"path": "lake", "partition_by": "nope"}, mk).write("orders", ORDERS, "overwrite")
    assert not store.exists("orders")


def test_single_file_assets_take_format_from_suffix(mk):
    store = FilesStore("lake", {"path": "lake"}, mk)
    store.write("exports/orders.csv", ORDERS, "overwrite")
    store.write("exports/orders.jsonl", ORDERS, "overwrite")
    assert (
        (mk.workspace.root / "lake/exports/orders.csv").read_text().startswith('"id","region","day","amount"')
    )
    for asset in ("exports/orders.csv", "exports/orders.jsonl"):
        store.write(asset, ORDERS.slice(3), "merge", keys=["id"])
        assert store.read(asset).read_all().sort_by("id").equals(ORDERS)
    with pytest.raises(ConfigError, match="relative path"):
        store.read("../outside")


def test_reads_foreign_files_without_meshkit_schema(mk):
    import pyarrow.parquet as pq

    folder = mk.workspace.root / "lake" / "foreign"
    folder.mkdir(parents=True)
    pq.write_table(ORDERS, folder / "part-0.parquet")
    store = FilesStore("lake", {"path": "lake"}, mk)
    assert store.list_assets() == ["foreign"]
    assert store.read("foreign", filter="amount >= 3").read_all().num_rows == 2


def test_store_from_url_and_s3_credentials_by_reference(mk, s3_bucket, s3_endpoint):
    store = mk.store(f"s3://{s3_bucket}/lake?format=csv&endpoint_url={s3_endpoint}&access_key=env:MK_TEST_S3_KEY"
                     "&secret_key=env:MK_TEST_S3_SECRET")  # fmt: skip
    assert isinstance(store, FilesStore) and store.format == "csv"
    store.write("orders", ORDERS, "overwrite")
    store.write("orders", ORDERS, "overwrite")
    fs, root = store.filesystem
    files = [
        i.path
        for i in fs.get_file_info(pafs.FileSelector(root, recursive=True))
        if i.type == pafs.FileType.File
    ]
    assert len([f for f in files if f.endswith(".csv")]) == 1 and not [f for f in files if "mk-tmp" in f]
    assert store.read("orders").read_all().sort_by("id").equals(ORDERS)
    assert "testing-secret" not in str(store.describe())
    local = mk.store(f"file://{mk.workspace.root}/out?format=orc")
    assert local.format == "orc" and local.base == f"{mk.workspace.root}/out"


def test_iceberg_snapshots_time_travel_and_upsert(mk):
    store = IcebergStore("lake", {}, mk)
    store.write("sales.orders", ORDERS, "append")
    store.write("sales.orders", pa.table({"id": pa.array([2, 9], pa.int64()), "region": ["US", "mx"],
                                          "day": pa.array([19003, 19003], pa.date32()), "amount": [0.5, 9.5]}),
                "merge", keys=["id"])  # fmt: skip
    snaps = store.snapshots("sales.orders")
    assert [s["operation"] for s in snaps][0] == "append" and len(snaps) >= 2
    assert snaps[0]["timestamp"] <= snaps[-1]["timestamp"]
    first = store.read("sales.orders", snapshot_id=snaps[0]["snapshot_id"]).read_all()
    assert first.sort_by("id").equals(ORDERS)
    now = store.read("sales.orders").read_all().sort_by("id")
    assert now.column("id").to_pylist() == [1, 2, 3, 4, 9] and now.column("region").to_pylist()[1] == "US"
    assert (mk.workspace.state_dir / "iceberg" / "catalog.db").is_file()
    with pytest.raises(UserError, match="Snapshot 42"):
        store.read("sales.orders", snapshot_id=42)
    with pytest.raises(UserError, match="Duplicate"):
        store.write("sales.orders", ORDERS.take([0, 0]), "merge", keys=["id"])
    assert store.read("sales.orders").read_all().num_rows == 5
