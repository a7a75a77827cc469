"""kill -9 of a PostgreSQL CDC transfer at several moments while the source changes: after restarts the
destination equals the source row for row, for every destination."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
from test_postgres_cdc import compare

from conftest import DESTINATIONS

MESHKIT = str(Path(sys.executable).parent / "meshkit")
KILL_AFTER = (1.0, 2.5, 4.0)


def _churn(dsn: str, schema: str, stop: threading.Event, done: list) -> None:
    """Inserts, updates and deletes in small transactions until ``stop``; ``done`` gets the count."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        n = 1000
        while not stop.is_set() and n < 3000:
            with conn.transaction():
                conn.execute(f"INSERT INTO \"{schema}\".orders SELECT g, 'new ' || g, 1, 2.50 FROM generate_series(%s::int, %s::int) g",
                             (n, n + 19))  # fmt: skip
                conn.execute(f'UPDATE "{schema}".orders SET qty = qty + 1 WHERE id %% 7 = %s::int', (n % 7,))
                conn.execute(f'DELETE FROM "{schema}".orders WHERE id = %s::int', (n - 500,))
            n += 20
            time.sleep(0.01)
    done.append(n - 1000)


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_kill_9_while_changes_flow(workspace, open_mk, pg_dsn, source, destination):
    schema = source
    asset = destination.replace("orders", "cdc_{table}")
    spec = workspace.root / "sync.yaml"
    spec.write_text(f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: cdckill}}
spec:
  source: {{store: src, asset: "{schema}.orders, {schema}.customers"}}
  destination: {{store: dest, asset: "{asset}", mode: merge, keys: [id]}}
  batchSize: 200
  batchTimeoutSeconds: 0.3
  maxFailedRetries: 0
""")
    command = [MESHKIT, "-w", str(workspace.root), "transfer", "apply", str(spec), "--until-idle"]
    open_mk().metadata.upgrade()  # NOTE: migrate the metadata database before the first process starts
    stop = threading.Event()
    churned: list[int] = []
    writer = threading.Thread(target=_churn, args=(pg_dsn, schema, stop, churned))
    writer.start()
    try:
        for delay in KILL_AFTER:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    finally:
        stop.set()
        writer.join()
    assert churned and churned[0] > 0, "the source did not change"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    compare(pg_dsn, schema, open_mk, asset)
