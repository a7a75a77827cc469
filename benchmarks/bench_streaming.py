"""SyncTransfers from Kafka (a local Tansu broker) and PostgreSQL CDC, against the raw consume rate.

    python benchmarks/bench_streaming.py                         # 1M JSON records, 200k CDC changes
    python benchmarks/bench_streaming.py kafka|cdc|delete        # one case (delete: not by default)
    MESHKIT_BENCH_STREAM_ROWS=200000 MESHKIT_BENCH_STREAM_ROUNDS=3 python benchmarks/bench_streaming.py kafka
    MESHKIT_BENCH_CDC_CHANGES=1000000 python benchmarks/bench_streaming.py cdc   # the issue's 1M changes

Kafka: N JSON records of 10 fields on a 3-partition topic. The anchor is the raw consume rate of the
same client (confluent-kafka, every value touched) reading the same topic in the same run; the
cases are SyncTransfers from that topic into Iceberg and into PostgreSQL, exactly once (positions
committed with each batch), each after a warm-up transfer of 1,000 records that loads the
libraries. Target: >= 0.7x. PostgreSQL CDC: inserts, updates and deletes in
transactions of 10k rows, then a SyncTransfer applies them into Iceberg; rows/s and catch-up time.
Delete: Iceberg key deletes of change data, meshkit's against pyiceberg's ``In`` filter, in CPU seconds.
Every case prints the load average and CPU seconds (user+sys): the machine may be shared.
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
#: Anchor and case measured this many times in turn, for each destination.
ROUNDS = int(os.environ.get("MESHKIT_BENCH_STREAM_ROUNDS", "1"))
PG = os.environ.get("MESHKIT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 100_000


def cpu_seconds(pid: int | None = None) -> float:
    """User+sys CPU seconds of this process (every thread), or of process ``pid`` (the broker)."""
    if pid is None:
        return time.process_time()
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def _spec(dest: str, topic: str, asset: str, round_: int = 0) -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: bench-{dest}-{topic}-{round_}}}
spec:
  source: {{store: bus, asset: {topic}}}
  destination: {{store: {dest}, asset: {asset}}}
  batchSize: {BATCH}
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
"""


def kafka_cases(bootstrap: str, broker_pid: int, root: Path) -> None:
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
                for round_ in range(
                    ROUNDS
                ):  # NOTE: anchor and case alternate: the load of the machine varies
                    cpu, broker_cpu = cpu_seconds(), cpu_seconds(broker_pid)
                    raw = raw_consume(bootstrap, topic)
                    raw_cpu = cpu_seconds() - cpu + cpu_seconds(broker_pid) - broker_cpu
                    print(f"raw consume (confluent-kafka): {ROWS / raw:,.0f} msg/s ({raw:.1f} s, {raw_cpu:.1f} s "
                          f"CPU with the broker's; load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip
                    cpu, broker_cpu = cpu_seconds(), cpu_seconds(broker_pid)
                    spec = _spec(dest, topic, f"{asset}_{round_}", round_)
                    elapsed, status = sync_run(mk, f"kafka->{dest}", spec)
                    sync_cpu = cpu_seconds() - cpu + cpu_seconds(broker_pid) - broker_cpu
                    rows = status["numRecords"]
                    assert rows == ROWS, f"{rows} rows landed in {dest}, expected {ROWS}"
                    print(f"kafka -> {'iceberg' if dest == 'lake' else 'postgres'}: {rows / elapsed:,.0f} rows/s "
                          f"({elapsed:.1f} s, {status['batches']} batches, {sync_cpu:.1f} s CPU with the broker's; "
                          f"load {os.getloadavg()[0]:.1f}), ratio to raw consume {raw / elapsed:.2f}x, by CPU "
                          f"{raw_cpu / sync_cpu:.2f}x (target >= 0.7x)", flush=True)  # fmt: skip
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
            cpu = cpu_seconds()
            elapsed, status = sync_run(mk, "cdc", spec)
            caught_up, cpu = time.perf_counter() - written, cpu_seconds() - cpu
            ops = status.get("rowsByOperation") or {}
            applied = sum(ops.values())
            assert applied == CHANGES, f"{applied} changes applied, expected {CHANGES}: {ops}"
            landed = mk.store("lake").read("cdc.orders").read_all().num_rows
            assert landed == inserts - deletes, f"{landed} rows in Iceberg, expected {inserts - deletes}"
            print(f"postgres cdc -> iceberg: {applied / elapsed:,.0f} changes/s ({elapsed:.1f} s, "
                  f"{status['batches']} batches, {ops}; {cpu:.1f} s CPU of this process, load "
                  f"{os.getloadavg()[0]:.1f}); end-to-end lag after the last source commit: {caught_up:.1f} s",
                  flush=True)  # fmt: skip
    finally:
        store = PostgresCDCStore("src", {"dsn": PG, "slot": slot, "publication": slot})
        store.drop("bench")
        store.close()
        with psycopg.connect(PG, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def delete_case(root: Path) -> None:
    """Iceberg key deletes of change data: meshkit's file-pruning delete against pyiceberg's ``delete`` with
    one ``In`` of the keys, on copies of one table (10 files of 100k rows), alternately, CPU seconds."""
    import pyarrow as pa
    from pyiceberg.expressions import In

    from meshkit.data.stores.iceberg import IcebergStore
    from meshkit.data.stores.iceberg_deletes import delete_keys

    store = IcebergStore(
        "lake", {"catalog_uri": f"sqlite:///{root}/catalog.db", "warehouse": f"file://{root}/w"}
    )
    cases = {"updates of 100k keys in one file": range(200_000, 300_000),
             "100k keys spread over every file": range(0, 1_000_000, 10),
             "100k new keys (inserts)": range(2_000_000, 2_100_000)}  # fmt: skip
    for label, keys in cases.items():
        times: dict[str, list[float]] = {"pyiceberg In": [], "meshkit": []}
        for _round in range(2):
            for how in times:
                asset = f"d.t_{uuid.uuid4().hex[:6]}"
                for start in range(0, 1_000_000, 100_000):
                    ids = pa.array(range(start, start + 100_000), pa.int64())
                    store.write(asset, pa.table({"id": ids, "v": pa.compute.cast(ids, pa.string())}))
                gone = pa.table({"id": pa.array(keys, pa.int64())})
                table = store._table(asset)
                started = time.process_time()
                with table.transaction() as tx:
                    if how == "meshkit":
                        delete_keys(tx, gone, {})
                    else:
                        tx.delete(In("id", set(gone.column(0).to_pylist())))
                times[how].append(time.process_time() - started)
                left = store.read(asset).read_all().num_rows
                assert left == 1_000_000 - sum(1 for k in keys if k < 1_000_000), (how, left)
        old, new = min(times["pyiceberg In"]), min(times["meshkit"])
        print(f"iceberg key delete, {label}: pyiceberg In {old:.2f} s CPU, meshkit {new:.2f} s CPU "
              f"({old / new:.1f}x)", flush=True)  # fmt: skip


def main() -> None:
    from meshkit.data.stores.tansu import start_tansu

    only = sys.argv[1:] or ["kafka", "cdc"]
    broker = start_tansu() if "kafka" in only else None
    try:
        if broker is not None:
            with tempfile.TemporaryDirectory() as folder:
                kafka_cases(broker.bootstrap_servers, broker.process.pid, Path(folder))
        if "delete" in only:
            with tempfile.TemporaryDirectory() as folder:
                delete_case(Path(folder))
        if "cdc" in only:
            with tempfile.TemporaryDirectory() as folder:
                cdc_case(Path(folder))
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
