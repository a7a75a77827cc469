"""Partitions added to a topic while a consumer runs are read without a restart."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from confluent_kafka import KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewPartitions

from meshkit.data.stores.kafka import KafkaStore


@pytest.fixture
def store(kafka_bootstrap):
    store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "metadata": ["partition"],
                               "partition_check_seconds": 0})  # fmt: skip
    yield store
    store.close()


def produce(bootstrap: str, topic: str, partition: int, ids: list[int]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in ids:
        producer.produce(topic, json.dumps({"id": i}).encode(), partition=partition)
    assert producer.flush(30) == 0


def fetch_until(store, topic: str, count: int) -> tuple[list[dict], dict, dict]:
    got, positions = [], {}
    for _ in range(20):  # a new partition's metadata reaches the consumer shortly after
        batch = store.fetch(topic, "g-" + topic, 100, 0.5)
        got += batch.table.to_pylist()
        positions.update(batch.positions)
        if len(got) >= count:
            break
    return got, positions, batch.lag_by_partition


def test_a_partition_added_to_the_topic_is_read_from_its_start(store, kafka_bootstrap, topic):
    store.write(topic, pa.table({"id": [1, 2]}))
    assert store.fetch(topic, "g-" + topic, 100, 2).table.column("id").to_pylist() == [1, 2]
    try:
        store.admin.create_partitions([NewPartitions(topic, 2)])[topic].result(30)
    except KafkaException as exc:
        if "UNSUPPORTED_FEATURE" in str(exc):
            pytest.skip("the broker does not implement CreatePartitions (Tansu); Apache Kafka does")
        raise
    produce(kafka_bootstrap, topic, 1, [3, 4])
    got, positions, lags = fetch_until(store, topic, 2)
    assert sorted((r["id"], r["_partition"]) for r in got) == [(3, 1), (4, 1)]
    assert positions == {f"{topic}:1": 2} and set(lags) == {f"{topic}:0", f"{topic}:1"}


def test_a_partition_the_consumer_lacks_is_assigned_at_the_next_fetch(store, kafka_bootstrap, topic):
    # NOTE: Tansu cannot add partitions, so the consumer is made to miss partition 1 of a 2-partition
    # topic, which is what it sees when partitions are added: the metadata lists one it has not assigned.
    KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "partitions": 2}).create_topic(topic)
    produce(kafka_bootstrap, topic, 0, [1, 2])
    state = store._consumer(topic, "g-" + topic)
    state.client.incremental_unassign([TopicPartition(topic, 1)])
    state.assigned = [tp for tp in state.assigned if tp.partition == 0]
    assert store.fetch(topic, "g-" + topic, 100, 2).table.column("id").to_pylist() == [1, 2]
    produce(kafka_bootstrap, topic, 1, [3, 4])
    got, positions, lags = fetch_until(store, topic, 2)
    assert sorted((r["id"], r["_partition"]) for r in got) == [(3, 1), (4, 1)]
    assert positions == {f"{topic}:1": 2} and set(lags) == {f"{topic}:0", f"{topic}:1"}
