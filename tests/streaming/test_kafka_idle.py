"""A consumer is idle only when the broker holds nothing more for it, not when one fetch came back empty
(a fresh consumer's first fetch often does, before it has reached the partitions' leaders)."""

from __future__ import annotations

import pyarrow as pa

from meshkit.data.stores.kafka import KafkaStore


def test_an_empty_fetch_with_messages_pending_is_not_idle(kafka_bootstrap, topic):
    store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "partitions": 3})
    try:
        store.write(topic, pa.table({"id": list(range(300))}), keys=["id"])
        first = store.fetch(topic, "idle-test", 1000, 0.0)
        assert not first.idle
        seen = first.table.num_rows
        while seen < 300:
            batch = store.fetch(topic, "idle-test", 1000, 1.0)
            assert batch.table.num_rows or not batch.idle, f"idle after {seen} of 300 messages"
            seen += batch.table.num_rows
        assert seen == 300
        assert store.fetch(topic, "idle-test", 1000, 0.2).idle
    finally:
        store.close()
