"""Transfers: copy one data asset between stores, with transforms on the way (Fybrik's BatchTransfer),
or consume a stream continuously into a store (SyncTransfer).

``load_transfer(path)`` reads a spec, ``run_transfer(mk, transfer)`` runs it now and returns its
status; ``transfer_status`` and ``list_transfers`` read the kept state. The planner runs the whole
transfer as one DuckDB statement whenever DuckDB reaches both ends (see ``plan``).
"""

from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import lazy_exports

#: Loaded on first use: a command that runs no transfer never imports the planner or the stores.
_EXPORTS = {
    "TransferResult": "runner", "TransferRunner": "runner", "end_abandoned": "runner", "list_transfers": "runner",
    "run_transfer": "runner", "runner_for": "runner", "transfer_status": "runner", "BatchTransfer": "spec",
    "json_schema": "spec", "load_transfer": "spec", "parse_transfer": "spec",
}  # fmt: skip
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)


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
    config.add(
        "transfer_progress_interval",
        1.0,
        "Seconds between the progress lines of `meshkit transfer apply` when its output is not a terminal.",
        type=float,
    )


@hookimpl
def run_finished(meshkit, run):
    if run.kind == "transfer":
        from meshkit.data.transfer.runner import end_abandoned

        end_abandoned(meshkit, run)
