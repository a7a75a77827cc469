"""Run a SyncTransfer: consume a stream continuously through a durable consumer named after the transfer.

Each batch (up to ``batchSize`` messages, or what arrived within ``batchTimeoutSeconds``) becomes
Arrow, goes through the transforms and is written to the destination in one write; only then are
its messages acknowledged. A batch that is not written is negatively acknowledged, so the next
fetch (of this run or the next) delivers it again: delivery is at least once. SIGTERM and SIGINT
stop the run after the current batch; ``until_idle`` stops it once nothing is pending in the
stream, ``max_seconds`` after that many seconds. The run record, status and hooks are a
BatchTransfer's, with totals of batches, the last batch time and the lag (messages pending).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from meshkit.core.errors import ConfigError
from meshkit.core.runs import now
from meshkit.data.stores.base import ColumnSchema, WriteResult, missing_asset
from meshkit.data.transfer.changes import last_per_key
from meshkit.data.transfer.offsets import Write, ledger_for
from meshkit.data.transfer.plan import Job, Outcome, check_conflict
from meshkit.data.transfer.runner import TransferRunner, classify, iso_time
from meshkit.data.transfer.state import TransferState
from meshkit.data.transforms import column_tags, output_schema, transform_reader


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[Callable[[], bool]]:
    """Within: SIGTERM and SIGINT ask to stop instead of ending the process (main thread only)."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop.is_set
        return
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop.is_set
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class SyncTransferRunner(TransferRunner):
    """Runs one SyncTransfer until it is stopped (a signal, ``until_idle``, ``max_seconds``) or fails."""

    def __init__(self, mk, transfer, *, until_idle: bool = False, max_seconds: float | None = None, **kwargs):
        super().__init__(mk, transfer, **kwargs)
        self.until_idle, self.max_seconds = until_idle, max_seconds
        self.totals: dict[str, Any] = {
            "numRecords": 0,
            "bytes": 0,
            "batches": 0,
            "lastBatchTime": None,
            "lag": None,
        }

    def _job(self, state: TransferState) -> Job:
        job = super()._job(state)
        if not job.source.IS_STREAM:
            raise ConfigError(f"spec.source.store: store `{job.source.name}` ({job.source.type}) is not a stream, "
                              "and a SyncTransfer consumes a stream.", where=self.source_file,
                              hint="Use a stream store (type kafka, nats or postgres_cdc), or `kind: BatchTransfer` to copy this asset.")  # fmt: skip
        return job

    @staticmethod
    def _plan(job: Job) -> str:
        return f"sync: stream {job.source.type} -> arrow transforms -> store {job.destination.type}"

    def plan(self) -> Outcome:
        """Check the stores, the stream and the transforms without consuming anything."""
        state = self.states.get(self.transfer.name) or TransferState(self.transfer.name)
        try:
            job = self._job(state)
            if not job.source.exists(job.source_asset):
                raise missing_asset(job.source, job.source_asset)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a meshkit error
            raise classify(exc, self.mk.redactor.redact) from None
        finally:
            self.close()
        return Outcome(plan=self._plan(job), dry_run=True)

    def _execute(self, job: Job) -> Outcome:
        outcome = Outcome(plan=self._plan(job))
        self._resume(job)
        deadline = None if self.max_seconds is None else time.monotonic() + self.max_seconds
        with _stop_on_signals() as stopping:
            while not stopping() and (deadline is None or time.monotonic() < deadline):
                batch = job.source.fetch(job.source_asset, self.transfer.name, self.spec.batch_size,
                                         self.spec.batch_timeout)  # fmt: skip
                self.totals["lag"] = batch.lag
                self._observe(batch)
                if batch.table.num_rows:
                    self._write(job, batch, outcome)
                if self.until_idle and getattr(batch, "idle", batch.lag == 0):
                    break
        outcome.rows, outcome.bytes = self.totals["numRecords"], self.totals["bytes"]
        return outcome

    def _write(self, job: Job, batch, outcome: Outcome) -> None:
        """Transform and write one batch, then acknowledge it; a failure leaves it in the stream."""
        schema = batch.table.schema
        try:
            out_schema = output_schema(job.transforms, schema)
            check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
            reader = transform_reader(job.transforms, batch.table.to_reader())
            result = self._commit(job, reader, getattr(batch, "positions", None))
        except Exception as exc:  # noqa: BLE001 - every failure becomes a meshkit error
            batch.nak()
            error = classify(exc, self.mk.redactor.redact)
            raise type(error)(f"{batch.table.num_rows} row(s) of batch {self.totals['batches'] + 1} were not written "
                              f"(they stay in the stream for the next run): {error.message}", hint=error.hint) from None  # fmt: skip
        batch.ack()
        self.totals.update(numRecords=self.totals["numRecords"] + result.rows, bytes=self.totals["bytes"] + (result.bytes or batch.table.nbytes),
                           batches=self.totals["batches"] + 1, lastBatchTime=iso_time(now()))  # fmt: skip
        outcome.source_schema = [ColumnSchema(f.name, f.type, str(f.type)).as_dict() for f in schema]
        outcome.output_schema, outcome.tags = out_schema, column_tags(job.transforms, schema)
        if self.progress:
            self.progress(self.totals["numRecords"])

    def _resume(self, job: Job) -> None:
        """Start the source where the destination's committed positions say (exactly once), if it keeps them."""
        self.ledger = ledger_for(job.destination, self.transfer.name) if hasattr(job.source, "seek") else None
        self.positions: dict[str, Any] = {}
        if self.ledger is not None:
            self.positions = self.ledger.committed(job.destination_asset)
            if self.positions:
                job.source.seek(job.source_asset, self.transfer.name, self.positions)
        self.totals["exactlyOnce"] = self.ledger is not None

    def _commit(self, job: Job, reader, positions: dict[str, Any] | None) -> WriteResult:
        """Write a batch: with its positions in the same atomic step when the destination keeps them."""
        if job.mode == "merge":  # several changes of one key in a batch: the last one wins
            reader = last_per_key(reader.read_all(), job.keys).to_reader()
        if self.ledger is None or positions is None:
            return job.destination.write(job.destination_asset, reader, job.mode, job.keys or None)
        merged = {**self.positions, **positions}
        [result] = self.ledger.write(
            [Write(job.destination_asset, reader, job.mode, job.keys or None)], merged
        )
        self.positions = merged
        self.totals.update(positions=dict(merged), lastCommitTime=iso_time(now()))
        return result

    def _observe(self, batch) -> None:
        """Keep the source's lag figures in the totals (per partition or slot, and in seconds)."""
        if getattr(batch, "lag_by_partition", None) is not None:
            self.totals.update(lagByPartition=batch.lag_by_partition, lagSeconds=round(batch.lag_seconds, 3))

    def _failed_counts(self) -> dict[str, Any]:
        return dict(self.totals)

    def _succeeded(self, status: dict, state: TransferState, outcome: Outcome, job: Job, finished) -> None:
        super()._succeeded(status, state, outcome, job, finished)
        status.update(self.totals)
