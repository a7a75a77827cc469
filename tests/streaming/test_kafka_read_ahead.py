"""A SyncTransfer fetches the next Kafka batch while it writes one; a batch fetched ahead and dropped comes again."""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa

from meshkit.data.stores.kafka import KafkaStore
from meshkit.data.transfer.sync import _Fetcher


def test_a_batch_fetched_ahead_and_discarded_is_delivered_again(kafka_bootstrap, topic):
    store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "metadata": []})
    try:
        store.write(topic, pa.table({"id": list(range(30))}))
        job = SimpleNamespace(source=store, source_asset=topic)
        spec = SimpleNamespace(batch_size=10, batch_timeout=2)
        with _Fetcher(job, "g-" + topic, spec) as fetcher:
            first = fetcher.next()
            fetcher.read_ahead()  # fetched while `first` is written
            assert first.table.column("id").to_pylist() == list(range(10))
            first.ack()
            second = fetcher.next()
            assert second.table.column("id").to_pylist() == list(range(10, 20))
            fetcher.read_ahead()
            fetcher.discard()  # the transfer stops (or `second` fails): neither is written
            second.nak()
        again = store.fetch(topic, "g-" + topic, 100, 2)
        assert again.table.column("id").to_pylist() == list(range(10, 30))
    finally:
        store.close()
