"""SyncTransfer from a real NATS JetStream stream (MESHKIT_TEST_NATS_URL), and the `nats` store."""

from __future__ import annotations

import uuid

import pyarrow as pa
import pytest

from meshkit.data.stores.nats import NatsStore


@pytest.fixture
def stream(nats_url):
    """A fresh stream name, and a store on the test server; the stream is deleted afterwards."""
    store = NatsStore("test-nats", {"url": nats_url})
    name = f"mk_{uuid.uuid4().hex[:10]}"
    yield store, name
    store._call(_delete(store, name))
    store.close()


async def _delete(store: NatsStore, name: str) -> None:
    js = await store._js()
    if await store._stream_info(name) is not None:
        await js.delete_stream(name)


@pytest.fixture
def bus(stores, nats_url):
    declare = stores
    declare("bus", type="nats", url=nats_url)
    declare("wh", type="duckdb", path="sync.duckdb")
    return declare


def sync_yaml(name: str, asset: str, *, dest: str = "wh", dest_asset: str = "events", extra: str = "") -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata:
  name: {name}
spec:
  source:
    store: bus
    asset: {asset}
  destination:
    store: {dest}
    asset: {dest_asset}
  batchSize: 3
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
{extra}"""


def rows(start: int, stop: int) -> pa.Table:
    ids = list(range(start, stop))
    return pa.table({"id": ids, "email": [f"u{i}@example.org" for i in ids]})


def apply(cli, workspace, text: str, *args: str):
    path = workspace.root / "sync.yaml"
    path.write_text(text)
    return cli("transfer", "apply", str(path), "--until-idle", *args)


def destination_ids(open_mk, table: str = "events") -> list[int]:
    mk = open_mk()
    return sorted(mk.store("wh").read(table, columns=["id"]).read_all().column("id").to_pylist())


def test_nats_store_round_trip(stream):
    store, name = stream
    assert not store.exists(name)
    assert store.write(name, rows(0, 5)).rows == 5
    assert store.exists(name) and name in store.list_assets()
    back = store.read(name).read_all()
    assert back.equals(rows(0, 5))
    assert store.read(name, columns=["id"], filter="id >= 3").read_all().column("id").to_pylist() == [3, 4]
    assert [c.name for c in store.schema(name)] == ["id", "email"]


def test_declared_schema_types_the_columns(stream):
    store, name = stream
    store.write(name, pa.table({"id": ["1", "2"], "amount": ["10.50", None]}))
    typed = NatsStore("typed", {"url": store.url, "schema": {"id": "BIGINT", "amount": "DECIMAL(12, 2)"}})
    try:
        table = typed.read(name).read_all()
    finally:
        typed.close()
    assert table.schema == pa.schema([("id", pa.int64()), ("amount", pa.decimal128(12, 2))])
    assert table.column("id").to_pylist() == [1, 2]


def test_sync_moves_every_row_once_across_applies(stream, bus, cli, workspace, open_mk):
    store, name = stream
    store.write(name, rows(0, 7))
    first = apply(cli, workspace, sync_yaml("sync-once", name))
    assert first.exit_code == 0, first.output
    assert destination_ids(open_mk) == list(range(7))
    store.write(name, rows(7, 10))
    second = apply(cli, workspace, sync_yaml("sync-once", name))
    assert second.exit_code == 0, second.output
    assert destination_ids(open_mk) == list(range(10))
    status = cli("transfer", "status", "sync-once", "--json")
    assert (
        '"numRecords": 3' in status.output and '"batches": 1' in status.output and '"lag": 0' in status.output
    )


def test_sync_applies_transformations(stream, bus, cli, workspace, open_mk):
    store, name = stream
    store.write(name, rows(0, 4))
    extra = "  transformation:\n    - action: RemoveColumn\n      columns: [email]\n"
    result = apply(cli, workspace, sync_yaml("sync-remove", name, extra=extra))
    assert result.exit_code == 0, result.output
    mk = open_mk()
    assert [c.name for c in mk.store("wh").schema("events")] == ["id"]
    assert destination_ids(open_mk) == [0, 1, 2, 3]


def test_failed_write_leaves_messages_for_the_next_run(stream, bus, cli, workspace, open_mk):
    store, name = stream
    store.write(name, rows(0, 2))
    mk = open_mk()
    mk.store("wh").write("events", pa.table({"id": pa.array([None], pa.date32())}))  # id cannot take integers
    mk.close()
    failed = apply(cli, workspace, sync_yaml("sync-retry", name))
    assert failed.exit_code != 0
    assert "2 row(s) of batch 1 were not written" in failed.output
    mk = open_mk()
    mk.store("wh").write("events", rows(100, 101), mode="overwrite")
    mk.close()
    again = apply(cli, workspace, sync_yaml("sync-retry", name))
    assert again.exit_code == 0, again.output
    assert destination_ids(open_mk) == [0, 1, 100]


def test_source_that_is_not_a_stream_is_rejected(bus, cli, workspace):
    text = sync_yaml("sync-bad", "orders").replace("store: bus", "store: lite")
    result = apply(cli, workspace, text)
    assert result.exit_code == 2
    assert "spec.source.store" in result.output and "not a stream" in result.output
