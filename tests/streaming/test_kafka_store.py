"""The `kafka` store against a real Kafka-protocol broker (Tansu): topics, reads, keyed writes, Avro."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from meshkit.core.errors import ConfigError
from meshkit.data.stores.kafka import KafkaStore


@pytest.fixture
def kafka(kafka_bootstrap):
    def make(**options):
        store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, **options})
        opened.append(store)
        return store

    opened: list[KafkaStore] = []
    yield make
    for store in opened:
        store.close()


def rows(start: int, stop: int) -> pa.Table:
    ids = list(range(start, stop))
    return pa.table({"id": ids, "name": [f"n{i}" for i in ids], "amount": [i * 1.5 for i in ids]})


def test_write_then_read_with_keys_and_metadata(kafka, topic):
    store = kafka(partitions=3, metadata=["key", "partition", "offset", "timestamp", "topic", "headers"])
    assert not store.exists(topic)
    assert store.write(topic, rows(0, 50), keys=["id"]).rows == 50
    assert store.exists(topic) and topic in store.list_assets()
    assert store.partitions(topic) == [0, 1, 2]
    back = store.read(topic).read_all()
    assert sorted(back.column("id").to_pylist()) == list(range(50))
    assert {r["_key"] for r in back.to_pylist()} == {str(i) for i in range(50)}
    by_key = {r["_key"]: r["_partition"] for r in back.to_pylist()}
    assert len(set(by_key.values())) > 1  # keyed messages spread over the partitions
    assert set(back.column("_topic").to_pylist()) == {topic}
    assert back.schema.field("_timestamp").type == pa.timestamp("ms", tz="UTC")
    offsets = sorted((r["_partition"], r["_offset"]) for r in back.to_pylist())
    assert len(set(offsets)) == 50
    assert back.filter(pa.compute.equal(back["id"], 7)).column("name").to_pylist() == ["n7"]
    assert store.read(topic, columns=["id"], filter="id < 3").read_all().num_rows == 3


def test_json_types_follow_the_declared_schema(kafka, topic):
    store = kafka(schema={"id": "BIGINT", "amount": "DECIMAL(10, 2)"}, metadata=[])
    store.write(topic, rows(0, 3))
    back = store.read(topic).read_all()
    assert back.schema.names == ["id", "amount"]
    assert back.schema.field("amount").type == pa.decimal128(10, 2)


def test_avro_values(kafka, topic):
    schema = {
        "type": "record",
        "name": "Order",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "name", "type": "string"},
            {"name": "amount", "type": "double"},
        ],
    }
    store = kafka(avro_schema=json.dumps(schema), metadata=["offset"])
    store.write(topic, rows(0, 10))
    back = store.read(topic).read_all()
    assert back.drop_columns(["_offset"]).to_pylist() == rows(0, 10).to_pylist()


def test_fetch_resumes_from_the_group_after_ack(kafka, topic):
    store = kafka(metadata=["partition", "offset"])
    store.write(topic, rows(0, 10))
    first = store.fetch(topic, "g-" + topic, 4, 5)
    assert first.table.column("id").to_pylist() == [0, 1, 2, 3]
    assert first.positions == {f"{topic}:0": 4}
    first.ack()
    second = store.fetch(topic, "g-" + topic, 100, 1)
    second.nak()  # not written: the next consumer starts after the acknowledged batch
    again = kafka(metadata=[]).fetch(topic, "g-" + topic, 100, 2)
    assert again.table.column("id").to_pylist() == list(range(4, 10))
    assert kafka().fetch(topic, "g-" + topic, 100, 0.3).idle is False
    store.seek(topic, "g-" + topic, {f"{topic}:0": 8})
    assert store.fetch(topic, "g-" + topic, 100, 1).table.column("id").to_pylist() == [8, 9]


def test_bad_options_are_config_errors(kafka_bootstrap):
    with pytest.raises(ConfigError, match="bootstrap_servers"):
        KafkaStore("bus", {})
    with pytest.raises(ConfigError, match="metadata"):
        KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "metadata": ["nope"]})
