"""SyncTransfer from Kafka (Tansu) into Iceberg, PostgreSQL, MariaDB and DuckDB: exactly once across restarts."""

from __future__ import annotations

import pyarrow as pa
import pytest

from conftest import DESTINATIONS
from meshkit.data.stores.kafka import KafkaStore
from meshkit.data.transfer.offsets import OFFSETS_TABLE


def sync_yaml(name: str, topic: str, dest_asset: str, *, mode: str = "append", keys: str = "[]") -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata:
  name: {name}
spec:
  source: {{store: bus, asset: {topic}}}
  destination: {{store: dest, asset: {dest_asset}, mode: {mode}, keys: {keys}}}
  batchSize: 7
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
"""


def produce(bootstrap: str, topic: str, start: int, stop: int, partitions: int = 3) -> None:
    store = KafkaStore("p", {"bootstrap_servers": bootstrap, "partitions": partitions})
    ids = list(range(start, stop))
    store.write(topic, pa.table({"id": ids, "item": [f"pizza {i % 5}" for i in ids]}), keys=["id"])
    store.close()


def apply(cli, workspace, text: str):
    path = workspace.root / "sync.yaml"
    path.write_text(text)
    result = cli("transfer", "apply", str(path), "--until-idle")
    assert result.exit_code == 0, result.output
    return result


def landed(open_mk, asset: str) -> list[dict]:
    mk = open_mk()
    table = mk.store("dest").read(asset).read_all()
    return sorted(table.select(["id", "item"]).to_pylist(), key=lambda r: r["id"])


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_restart_resumes_from_the_positions_committed_with_the_data(cli, workspace, stores, open_mk, kafka_bootstrap,
                                                                     topic, destination):  # fmt: skip
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap)
    produce(kafka_bootstrap, topic, 0, 40)
    apply(cli, workspace, sync_yaml("eo-" + topic, topic, destination))
    assert [r["id"] for r in landed(open_mk, destination)] == list(range(40))
    # The consumer group forgets: the destination's positions alone decide where to resume.
    produce(kafka_bootstrap, topic, 40, 55)
    mk = open_mk()
    from meshkit.data.transfer.offsets import ledger_for

    positions = ledger_for(mk.store("dest"), "eo-" + topic).committed(destination)
    assert sum(int(v) for v in positions.values()) == 40 and all(k.startswith(topic + ":") for k in positions)
    apply(cli, workspace, sync_yaml("eo-" + topic, topic, destination))
    assert [r["id"] for r in landed(open_mk, destination)] == list(range(55))


@pytest.mark.parametrize("destination", ["duckdb", "iceberg"], indirect=True)
def test_keyed_records_merge_by_key(cli, workspace, stores, open_mk, kafka_bootstrap, topic, destination):
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap, metadata=[])
    produce(kafka_bootstrap, topic, 0, 10, partitions=1)
    produce(kafka_bootstrap, topic, 5, 15, partitions=1)
    apply(cli, workspace, sync_yaml("mg-" + topic, topic, destination, mode="merge", keys="[id]"))
    assert [r["id"] for r in landed(open_mk, destination)] == list(range(15))
    if destination == "orders":
        assert OFFSETS_TABLE in open_mk().store("dest").list_assets()
