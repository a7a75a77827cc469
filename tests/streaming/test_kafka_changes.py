"""Change data from Kafka: Debezium envelopes and keyed records merged by key, fan-out, schema evolution."""

from __future__ import annotations

import json

import pytest

from conftest import DESTINATIONS
from meshkit.data.stores.kafka import KafkaStore


def produce(bootstrap: str, topic: str, messages: list[tuple]) -> None:
    """Produce ``(key, value)`` pairs in order to a one-partition topic (``None`` value: a tombstone)."""
    from confluent_kafka import Producer

    store = KafkaStore("p", {"bootstrap_servers": bootstrap})
    if not store.exists(topic):
        store.create_topic(topic)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for key, value in messages:
        producer.produce(topic, key=None if key is None else json.dumps(key).encode(),
                         value=None if value is None else json.dumps(value).encode())  # fmt: skip
    producer.flush(30)
    store.close()


def envelope(op: str, table: str, before=None, after=None, wrapped: bool = False) -> dict:
    payload = {"op": op, "before": before, "after": after, "source": {"table": table}, "ts_ms": 1}
    return {"schema": {}, "payload": payload} if wrapped else payload


def spec(name: str, topic: str, asset: str, keys: str) -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: {name}}}
spec:
  source: {{store: bus, asset: {topic}}}
  destination: {{store: dest, asset: "{asset}", mode: merge, keys: {keys}}}
  batchSize: 4
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
"""


def apply(cli, workspace, text: str):
    path = workspace.root / "sync.yaml"
    path.write_text(text)
    return cli("transfer", "apply", str(path), "--until-idle")


def table(open_mk, asset: str) -> list[dict]:
    mk = open_mk()
    rows = mk.store("dest").read(asset).read_all().to_pylist()
    return sorted(rows, key=lambda r: r["id"])


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_debezium_changes_fan_out_by_table_and_evolve(cli, workspace, stores, open_mk, kafka_bootstrap, topic,
                                                      destination):  # fmt: skip
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap, changes="debezium")
    asset = destination.replace("orders", "cdc_{table}")
    produce(kafka_bootstrap, topic, [
        ({"id": 1}, envelope("r", "orders", after={"id": 1, "item": "margherita", "qty": 1})),
        ({"id": 2}, envelope("c", "orders", after={"id": 2, "item": "diavola", "qty": 2}, wrapped=True)),
        ({"id": 9}, envelope("c", "customers", after={"id": 9, "name": "Ada"})),
        ({"id": 1}, envelope("u", "orders", before={"id": 1}, after={"id": 1, "item": "margherita", "qty": 3})),
        ({"id": 2}, envelope("d", "orders", before={"id": 2, "item": "diavola", "qty": 2})),
        ({"id": 2}, None),  # the tombstone that follows a delete
        ({"id": 3}, envelope("c", "orders", after={"id": 3, "item": "marinara", "qty": 1, "note": "extra basil"})),
        ({"id": 2}, envelope("c", "orders", after={"id": 2, "item": "capricciosa", "qty": 1})),
    ])  # fmt: skip
    result = apply(cli, workspace, spec("cdc-" + topic, topic, asset, "[id]"))
    assert result.exit_code == 0, result.output
    orders = table(open_mk, asset.replace("{table}", "orders"))
    assert [(r["id"], r["item"], r["qty"], r["note"]) for r in orders] == [
        (1, "margherita", 3, None), (2, "capricciosa", 1, None), (3, "marinara", 1, "extra basil")]  # fmt: skip
    assert [(r["id"], r["name"]) for r in table(open_mk, asset.replace("{table}", "customers"))] == [
        (9, "Ada")
    ]
    # A restart resumes after the committed changes: a delete and an update arrive later.
    produce(kafka_bootstrap, topic, [({"id": 3}, envelope("d", "orders", before={"id": 3})),
                                     ({"id": 9}, envelope("u", "customers", after={"id": 9, "name": "Ada L."}))])  # fmt: skip
    assert apply(cli, workspace, spec("cdc-" + topic, topic, asset, "[id]")).exit_code == 0
    assert [r["id"] for r in table(open_mk, asset.replace("{table}", "orders"))] == [1, 2]
    assert [r["name"] for r in table(open_mk, asset.replace("{table}", "customers"))] == ["Ada L."]
    status = cli("transfer", "status", "cdc-" + topic).output
    assert "delete" in status


@pytest.mark.parametrize("destination", ["duckdb", "iceberg"], indirect=True)
def test_keyed_records_and_tombstones(cli, workspace, stores, open_mk, kafka_bootstrap, topic, destination):
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap, changes="keyed")
    produce(kafka_bootstrap, topic, [
        ({"id": 1}, {"id": 1, "item": "a"}), ({"id": 2}, {"id": 2, "item": "b"}),
        ({"id": 1}, None), ({"id": 2}, {"id": 2, "item": "b2"}), ({"id": 4}, {"id": 4, "item": "d"}),
    ])  # fmt: skip
    assert apply(cli, workspace, spec("kr-" + topic, topic, destination, "[id]")).exit_code == 0
    assert [(r["id"], r["item"]) for r in table(open_mk, destination)] == [(2, "b2"), (4, "d")]


@pytest.mark.parametrize("destination", ["duckdb"], indirect=True)
def test_a_field_changing_type_is_an_error_naming_it(cli, workspace, stores, open_mk, kafka_bootstrap, topic,
                                                     destination):  # fmt: skip
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap, changes="keyed")
    produce(kafka_bootstrap, topic, [({"id": 1}, {"id": 1, "qty": 1})])
    assert apply(cli, workspace, spec("tc-" + topic, topic, destination, "[id]")).exit_code == 0
    produce(kafka_bootstrap, topic, [({"id": 2}, {"id": 2, "qty": "two"})])
    result = apply(cli, workspace, spec("tc-" + topic, topic, destination, "[id]"))
    assert result.exit_code != 0
    assert "Field `qty` changed type" in result.output
    assert [r["qty"] for r in table(open_mk, destination)] == [1]
