"""SyncTransfers from Kafka (a local Tansu broker) and PostgreSQL CDC, against the raw consume rate.

    python benchmarks/bench_streaming.py                         # 1M JSON records, 200k CDC changes
    MESHKIT_BENCH_STREAM_ROWS=200000 python benchmarks/bench_streaming.py
    MESHKIT_BENCH_CDC_CHANGES=1000000 ...                         # the issue's 1M changes

Kafka: N JSON records of 10 fields on a 3-partition topic. The anchor is the raw consume rate of the
same client (confluent-kafka, every value touched) reading the same topic in the same run; the
cases are SyncTransfers from that topic into Iceberg and into PostgreSQL, exactly once (positions
committed with each batch), each after a warm-up transfer of 1,000 records that loads the
libraries. Target: >= 0.7x. PostgreSQL CDC: inserts, updates and deletes in
transactions of 10k rows, then a SyncTransfer applies them into Iceberg; rows/s and catch-up time.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROWS = int(os.environ.get("MESHKIT_BENCH_STREAM_ROWS", "1000000"))
CHANGES = int(os.environ.get("MESHKIT_BENCH_CDC_CHANGES", "200000"))
PG = os.environ.get("MESHKIT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 100_000


def produce(bootstrap: str, topic: str, rows: int = ROWS) -> None:
    from confluent_kafka import Producer

    from meshkit.data.stores.kafka import KafkaStore

    KafkaStore("bench", {"bootstrap_servers": bootstrap, "partitions": 3}).create_topic(topic)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.num.messages": 10_000,
                         "queue.buffering.max.messages": 500_000})  # fmt: skip
    for i in range(rows):
        value = json.dumps({"id": i, "customer": f"c{i % 5000}", "item": f"pizza {i % 40}", "qty": i % 5 + 1,
                            "price": round(7.5 + i % 13 * 0.5, 2), "store": f"s{i % 12}", "paid": i % 3 == 0,
                            "channel": "app" if i % 2 else "web", "ordered_at": "2026-12-06T10:00:00Z",
                            "note": "extra cheese" if i % 7 == 0 else None})  # fmt: skip
        while True:
            try:
                producer.produce(topic, key=str(i).encode(), value=value.encode())
                break
            except BufferError:
                producer.poll(0.1)
    producer.flush(120)


def raw_consume(bootstrap: str, topic: str) -> float:
    """Seconds for the client alone to deliver every message (each value touched)."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"raw-{uuid.uuid4().hex[:6]}",
                         "enable.auto.commit": False})  # fmt: skip
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(3)])
    started, seen, size = time.perf_counter(), 0, 0
    while seen < ROWS:
        for m in consumer.consume(BATCH, 1.0):
            if m.error() is None:
                size += len(m.value())
                seen += 1
    elapsed = time.perf_counter() - started
    consumer.close()
    return elapsed


def sync_run(mk, name: str, spec: str) -> tuple[float, dict]:
    from meshkit.data.transfer import parse_transfer, run_transfer

    transfer = parse_transfer(spec, name)
    started = time.perf_counter()
    result = run_transfer(mk, transfer, until_idle=True)
    elapsed = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"{name} failed: {result.status.get('error')}")
    return elapsed, result.status


def _spec(dest: str, topic: str, asset: str) -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: bench-{dest}-{topic}}}
spec:
  source: {{store: bus, asset: {topic}}}
  destination: {{store: {dest}, asset: {asset}}}
  batchSize: {BATCH}
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
"""


def kafka_cases(bootstrap: str, root: Path) -> None:
    import psycopg

    from meshkit.testing import plugin_workspace

    topic = f"bench_{uuid.uuid4().hex[:8]}"
    schema = f"mk_bench_stream_{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    produce(bootstrap, topic)
    print(f"produced {ROWS:,} JSON records in {time.perf_counter() - started:.1f} s", flush=True)
    warm_up = f"{topic}_warm_up"
    produce(bootstrap, warm_up, 1_000)
    (root / "meshkit.toml").write_text(
        f'[workspace]\nname = "bench"\n\n[stores.bus]\ntype = "kafka"\nbootstrap_servers = "{bootstrap}"\n'
        f'metadata = []\n\n[stores.lake]\ntype = "iceberg"\n\n[stores.pg]\ntype = "postgres"\ndsn = "{PG}"\n'
    )
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        with plugin_workspace(root) as mk:
            for dest, asset in (("lake", "bench.orders"), ("pg", f"{schema}.orders")):
                # NOTE: warm-up: a small transfer first, so libraries load outside the timing
                sync_run(mk, f"warm-up {dest}", _spec(dest, warm_up, f"{asset}_warm_up"))
                raw = raw_consume(
                    bootstrap, topic
                )  # NOTE: just before each case: the load of the machine varies
                print(f"raw consume (confluent-kafka): {ROWS / raw:,.0f} msg/s ({raw:.1f} s)", flush=True)
                elapsed, status = sync_run(mk, f"kafka->{dest}", _spec(dest, topic, asset))
                rows = status["numRecords"]
                assert rows == ROWS, f"{rows} rows landed in {dest}, expected {ROWS}"
                print(f"kafka -> {'iceberg' if dest == 'lake' else 'postgres'}: {rows / elapsed:,.0f} rows/s "
                      f"({elapsed:.1f} s, {status['batches']} batches), ratio to raw consume "
                      f"{raw / elapsed:.2f}x (target >= 0.7x)", flush=True)  # fmt: skip
    finally:
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def cdc_case(root: Path) -> None:
    import psycopg

    from meshkit.data.stores.postgres_cdc import PostgresCDCStore
    from meshkit.testing import plugin_workspace

    schema, slot = f"mk_bench_cdc_{uuid.uuid4().hex[:6]}", f"mk_bench_{uuid.uuid4().hex[:8]}"
    (root / "meshkit.toml").write_text(
        f'[workspace]\nname = "bench"\n\n[stores.src]\ntype = "postgres_cdc"\ndsn = "{PG}"\nslot = "{slot}"\n'
        f'publication = "{slot}"\n\n[stores.lake]\ntype = "iceberg"\n'
    )
    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(
            f'CREATE TABLE "{schema}".orders (id int PRIMARY KEY, item text, qty int, price numeric(8, 2))'
        )
    spec = f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: bench-cdc-{slot}}}
spec:
  source: {{store: src, asset: {schema}.orders}}
  destination: {{store: lake, asset: cdc.orders, mode: merge, keys: [id]}}
  batchSize: {BATCH}
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
"""
    try:
        with plugin_workspace(root) as mk:
            sync_run(mk, "cdc snapshot", spec)  # creates the slot: the changes below are streamed
            inserts, updates = CHANGES * 6 // 10, CHANGES * 3 // 10
            deletes = CHANGES - inserts - updates
            started = time.perf_counter()
            with psycopg.connect(PG, autocommit=True) as conn:
                for start in range(0, inserts, 10_000):
                    conn.execute(f"INSERT INTO \"{schema}\".orders SELECT g, 'pizza ' || g, g % 5, g % 100 + 0.5 "
                                 f"FROM generate_series({start}, {min(inserts, start + 10_000) - 1}) g")  # fmt: skip
                for start in range(0, updates, 10_000):
                    conn.execute(
                        f'UPDATE "{schema}".orders SET qty = qty + 1 WHERE id >= {start} AND id < {min(updates, start + 10_000)}'
                    )
                for start in range(0, deletes, 10_000):
                    conn.execute(f'DELETE FROM "{schema}".orders WHERE id >= {inserts - deletes + start} '
                                 f"AND id < {inserts - deletes + min(deletes, start + 10_000)}")  # fmt: skip
            written = time.perf_counter()
            print(f"wrote {CHANGES:,} changes in PostgreSQL in {written - started:.1f} s", flush=True)
            elapsed, status = sync_run(mk, "cdc", spec)
            caught_up = time.perf_counter() - written
            ops = status.get("rowsByOperation") or {}
            applied = sum(ops.values())
            assert applied == CHANGES, f"{applied} changes applied, expected {CHANGES}: {ops}"
            landed = mk.store("lake").read("cdc.orders").read_all().num_rows
            assert landed == inserts - deletes, f"{landed} rows in Iceberg, expected {inserts - deletes}"
            print(f"postgres cdc -> iceberg: {applied / elapsed:,.0f} changes/s ({elapsed:.1f} s, "
                  f"{status['batches']} batches, {ops}); end-to-end lag after the last source commit: "
                  f"{caught_up:.1f} s", flush=True)  # fmt: skip
    finally:
        store = PostgresCDCStore("src", {"dsn": PG, "slot": slot, "publication": slot})
        store.drop("bench")
        store.close()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def main() -> None:
    from meshkit.data.stores.tansu import start_tansu

    only = sys.argv[1:] or ["kafka", "cdc"]
    broker = start_tansu() if "kafka" in only else None
    try:
        if broker is not None:
            with tempfile.TemporaryDirectory() as folder:
                kafka_cases(broker.bootstrap_servers, Path(folder))
        if "cdc" in only:
            with tempfile.TemporaryDirectory() as folder:
                cdc_case(Path(folder))
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
