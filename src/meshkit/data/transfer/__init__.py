"""Transfers: copy one data asset between stores, with transforms on the way (Fybrik's BatchTransfer),
or consume a stream continuously into a store (SyncTransfer).

``load_transfer(path)`` reads a spec, ``run_transfer(mk, transfer)`` runs it now and returns its
status; ``transfer_status`` and ``list_transfers`` read the kept state. The planner runs the whole
transfer as one DuckDB statement whenever DuckDB reaches both ends (see ``plan``).
"""

from meshkit.core.hookspecs import hookimpl
from meshkit.data.transfer.runner import (
    TransferResult,
    TransferRunner,
    list_transfers,
    run_transfer,
    runner_for,
    transfer_status,
)
from meshkit.data.transfer.spec import BatchTransfer, json_schema, load_transfer, parse_transfer

__all__ = [
    "BatchTransfer", "TransferResult", "TransferRunner", "json_schema", "list_transfers", "load_transfer",
    "parse_transfer", "run_transfer", "runner_for", "transfer_status",
]  # fmt: skip


@hookimpl
def configure(config):
    config.add(
        "transfer_memory_limit",
        "1GB",
        "Memory a transfer may use (DuckDB memory_limit), unless its spec says otherwise.",
    )
    config.add(
        "transfer_batch_rows",
        65_536,
        "Rows per Arrow batch when a transfer streams between stores.",
        type=int,
        bounds=(1, 100_000_000),
    )
