"""kill -9 of a SyncTransfer from Kafka at several moments: after restarts the destination holds every
message of the topic exactly once, compared row for row (partition and offset included)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest

from conftest import DESTINATIONS
from meshkit.data.stores.kafka import KafkaStore

MESHKIT = str(Path(sys.executable).parent / "meshkit")
ROWS = 30_000
KILL_AFTER = (
    1.5,
    2.5,
    4.0,
)  # seconds after each start: at start-up, mid-stream, later (300 batches outlast them)


def _rows(table: pa.Table) -> list[tuple]:
    return sorted(
        zip(*(table.column(c).to_pylist() for c in ("_partition", "_offset", "id", "item")), strict=True)
    )


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_kill_9_at_several_points_loses_and_duplicates_nothing(workspace, stores, open_mk, kafka_bootstrap, topic,
                                                               destination):  # fmt: skip
    stores("bus", type="kafka", bootstrap_servers=kafka_bootstrap, metadata=["partition", "offset"])
    # NOTE: the reference read waits longer for a message than the store's default, for a loaded machine
    producer = KafkaStore(
        "p", {"bootstrap_servers": kafka_bootstrap, "partitions": 3, "read_idle_seconds": 10}
    )
    ids = list(range(ROWS))
    producer.write(topic, pa.table({"id": ids, "item": [f"pizza {i % 9}" for i in ids]}), keys=["id"])
    source = _rows(producer.read(topic).read_all())
    assert len(source) == ROWS
    producer.close()
    spec = workspace.root / "sync.yaml"
    spec.write_text(f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: kill-{topic}}}
spec:
  source: {{store: bus, asset: {topic}}}
  destination: {{store: dest, asset: {destination}}}
  batchSize: 100
  batchTimeoutSeconds: 0.5
  maxFailedRetries: 0
""")
    command = [MESHKIT, "-w", str(workspace.root), "transfer", "apply", str(spec), "--until-idle"]
    open_mk().metadata.upgrade()  # NOTE: migrate the metadata database before the first process starts
    counts = []
    for delay in KILL_AFTER:
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        mk = open_mk()
        counts.append(
            mk.store("dest").read(destination).read_all().num_rows
            if mk.store("dest").exists(destination)
            else 0
        )
        mk.close()
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    mk = open_mk()
    assert _rows(mk.store("dest").read(destination).read_all()) == source
    assert any(c < ROWS for c in counts), f"every kill came after the end: {counts}"
