"""SyncTransfers run by the service: a long-lived process restarted when it dies, its figures in
the transfer page and ``/metrics``, stopped through the API."""

from __future__ import annotations

import os
import signal
import time

import anyio
import pyarrow as pa
import pytest

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def broker():
    from meshkit.data.stores.tansu import start_tansu

    running = start_tansu()
    yield running.bootstrap_servers
    running.stop()


@pytest.fixture
def mk(workspace, broker):
    """The workspace with a Kafka store `bus` and a DuckDB store `lake`, declared before it opens."""
    from meshkit.testing import plugin_workspace

    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[stores.bus]\ntype = "kafka"\nbootstrap_servers = "{broker}"\n'
                    '\n[stores.lake]\ntype = "iceberg"\n')  # fmt: skip
    instance = plugin_workspace(workspace.root)
    yield instance
    instance.close()


SPEC = """\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {name: live-orders}
spec:
  source: {store: bus, asset: orders}
  destination: {store: lake, asset: shop.orders}
  batchSize: 50
  batchTimeoutSeconds: 0.3
"""


async def _until(check, what: str, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await anyio.sleep(0.3)


async def test_service_keeps_a_sync_transfer_running(api, service, mk):
    admin = service.tokens.headers("admin")
    bus = mk.store("bus")
    bus.write("orders", pa.table({"id": list(range(100)), "item": ["pizza"] * 100}))
    applied = await api.post(
        "/api/v1/transfers", content=SPEC, headers={**admin, "content-type": "application/yaml"}
    )
    assert applied.status_code == 202 and applied.json()["phase"] == "Running", applied.text

    def landed() -> int:
        lake = mk.store("lake")
        return lake.read("shop.orders").read_all().num_rows if lake.exists("shop.orders") else 0

    async def rows_are(n):
        return landed() == n

    await _until(lambda: rows_are(100), "the first 100 rows")
    status = (await api.get("/api/v1/transfers/live-orders", headers=admin)).json()
    pid = status["supervised"]["pid"]
    assert status["supervised"]["running"] and status["phase"] == "Running", status
    os.kill(pid, signal.SIGKILL)  # the process dies: the service starts it again

    async def restarted():
        body = (await api.get("/api/v1/transfers/live-orders", headers=admin)).json()
        return body["supervised"]["restarts"] >= 1 and body["supervised"]["running"] and body

    await _until(restarted, "a restart")
    bus.write("orders", pa.table({"id": list(range(100, 150)), "item": ["calzone"] * 50}))
    await _until(lambda: rows_are(150), "the rows produced after the restart")

    async def published():
        text = (await api.get("/metrics", headers=admin)).text
        return (
            "meshkit_stream_batches_total" in text
            and 'meshkit_stream_lag{part="orders:0",transfer="live-orders"}' in text
        )

    await _until(published, "stream metrics")
    page = await api.get("/ui/transfers", headers=admin)
    assert "live-orders" in page.text and "orders:0" in page.text
    stopped = await api.delete("/api/v1/transfers/live-orders/stream", headers=admin)
    assert stopped.status_code == 200, stopped.text
    assert (await api.get("/api/v1/transfers/live-orders", headers=admin)).json().get("supervised") is None
    assert sorted(mk.store("lake").read("shop.orders").read_all().column("id").to_pylist()) == list(
        range(150)
    )
