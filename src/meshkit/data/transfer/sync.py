"""Run a SyncTransfer: consume a stream continuously through a durable consumer named after the transfer.

Each batch (up to ``batchSize`` messages, or what arrived within ``batchTimeoutSeconds``) becomes
Arrow, goes through the transforms and is written to the destination in one write; only then are
its messages acknowledged. A batch that is not written is negatively acknowledged, so the next
fetch (of this run or the next) delivers it again: delivery is at least once. A source that
allows it (Kafka) is fetched one batch ahead, while the current batch is written. SIGTERM and SIGINT
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
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pyarrow as pa

from meshkit.core.errors import ConfigError
from meshkit.core.runs import now
from meshkit.data.stores.base import ColumnSchema, WriteResult, missing_asset
from meshkit.data.transfer.changes import conform, last_per_key, plan_changes, plan_columns
from meshkit.data.transfer.offsets import Write, ledger_for, position_order, resume_from
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


class _Fetcher:
    """Fetches the source's batches, the next one while the current one is written when the source allows it.

    A source with ``READ_AHEAD`` (its fetch only reads: Kafka) is fetched from one thread beside the
    writes; its positions still go with the data of each batch, so a batch fetched ahead and never
    written is delivered again (it is negatively acknowledged, and the destination never saw it).
    """

    def __init__(self, job: Job, consumer: str, spec):
        self.job, self.consumer, self.spec = job, consumer, spec
        self.pool = (
            ThreadPoolExecutor(1, "meshkit-fetch") if getattr(job.source, "READ_AHEAD", False) else None
        )
        self.pending: Future | None = None
        #: Set while a batch is written: a fetch ahead fills its batch meanwhile instead of ending at its timeout.
        self.writing = threading.Event()

    def _fetch(self, **ahead):
        return self.job.source.fetch(self.job.source_asset, self.consumer, self.spec.batch_size,
                                     self.spec.batch_timeout, **ahead)  # fmt: skip

    def next(self):
        """The next batch: the one fetched ahead, else fetched now."""
        self.writing.clear()
        pending, self.pending = self.pending, None
        return pending.result() if pending is not None else self._fetch()

    def read_ahead(self) -> None:
        """Start fetching the next batch (sources without ``READ_AHEAD``: nothing, it is fetched on ``next``)."""
        if self.pool is not None and self.pending is None:
            self.writing.set()
            self.pending = self.pool.submit(self._fetch, busy=self.writing.is_set)

    def discard(self) -> None:
        """Drop the batch fetched ahead: wait for its fetch to end, then give its messages back."""
        self.writing.clear()
        pending, self.pending = self.pending, None
        if pending is not None:
            with contextlib.suppress(Exception):
                pending.result().nak()

    def __enter__(self) -> _Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.discard()
        if self.pool is not None:
            self.pool.shutdown(wait=True)


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
        self.rows_by_operation: dict[str, int] = {}

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
            raise classify(exc, self.mk.redactor.redact, self._engine) from None
        finally:
            self.close()
        return Outcome(plan=self._plan(job), dry_run=True)

    def _execute(self, job: Job) -> Outcome:
        outcome = Outcome(plan=self._plan(job))
        self._resume(job)
        try:
            return self._consume(job, outcome)
        finally:
            if self.ledger is not None:
                self.ledger.close()

    def _consume(self, job: Job, outcome: Outcome) -> Outcome:
        deadline = None if self.max_seconds is None else time.monotonic() + self.max_seconds
        with _stop_on_signals() as stopping, _Fetcher(job, self.transfer.name, self.spec) as fetcher:
            while not stopping() and (deadline is None or time.monotonic() < deadline):
                batch = fetcher.next()
                self.totals["lag"] = batch.lag
                self._observe(batch)
                last = self.until_idle and getattr(batch, "idle", batch.lag == 0)
                if not last:
                    fetcher.read_ahead()
                if batch.table.num_rows:
                    try:
                        self._write(job, batch, outcome)
                    except BaseException:
                        fetcher.discard()
                        batch.nak()
                        raise
                self._publish()
                if last:
                    break
        outcome.rows, outcome.bytes = self.totals["numRecords"], self.totals["bytes"]
        return outcome

    def _write(self, job: Job, batch, outcome: Outcome) -> None:
        """Transform and write one batch, then acknowledge it; a failure leaves it in the stream."""
        schema = batch.table.schema
        try:
            out_schema = None
            if getattr(batch, "changes", None) is not None:
                result = self._apply_changes(job, batch)
            else:
                out_schema = output_schema(job.transforms, schema)
                if out_schema != getattr(
                    self, "_written_schema", None
                ):  # NOTE: once per schema, not per batch
                    check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
                reader = transform_reader(job.transforms, batch.table.to_reader())
                result = self._commit(job, reader, getattr(batch, "positions", None))
                self._written_schema = out_schema  # the destination takes it: this transfer wrote it
        except Exception as exc:  # noqa: BLE001 - every failure becomes a meshkit error
            error = classify(exc, self.mk.redactor.redact, self._engine)
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
        #: Positions committed with each destination asset (several when changes fan out by table).
        self.committed: dict[str, dict[str, Any]] = {}
        if self.ledger is not None:
            asset = job.destination_asset
            assets = (
                [a for a in job.destination.list_assets() if _fans_out_to(asset, a)]
                if "{table}" in asset
                else [asset]
            )
            self.committed = {a: self.ledger.committed(a) for a in assets}
            self.positions = resume_from([p for p in self.committed.values() if p])
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

    def _apply_changes(self, job: Job, batch) -> WriteResult:
        """Apply a batch of change records: per table, deletes and upserts by key, with the positions."""
        if self.ledger is None:
            raise ConfigError(f"Change data is merged by key, which store `{job.destination.name}` ({job.destination.type}) "
                              "cannot do with its positions.", where="spec.destination.store",
                              hint="Write change data to Iceberg or a SQL database.")  # fmt: skip
        if getattr(batch, "columns", None):
            tables = plan_columns(batch.columns, job.destination_asset, job.keys, self.committed)
        else:
            tables = plan_changes(self._not_in(job, batch.changes), job.destination_asset, job.keys)
        writes = []
        for t in tables:
            existing = _arrow_schema(job.destination, t.asset)
            upserts = conform(t.upserts, existing, t.asset)
            if upserts.num_columns == 0:
                if existing is None:
                    continue  # only deletes, of a table that does not exist yet
                upserts = existing.empty_table()
            writes.append(Write(t.asset, upserts, "merge", t.keys, deletes=t.deletes, truncate=t.truncate))
        merged = {**self.positions, **batch.positions}
        results = self.ledger.write(writes, merged) if writes else []
        for t in tables:
            for op, n in t.counts.items():
                self.rows_by_operation[op] = self.rows_by_operation.get(op, 0) + n
        self.positions = merged
        for w in writes:
            self.committed[w.asset] = merged
        self.totals.update(
            positions=dict(merged),
            lastCommitTime=iso_time(now()),
            rowsByOperation=dict(self.rows_by_operation),
        )
        return WriteResult(rows=sum(r.rows for r in results))

    def _not_in(self, job: Job, changes: list) -> list:
        """The changes not yet in their table (a fan-out table may be ahead): at or after what it committed."""
        committed = {
            asset: {part: position_order(p) for part, p in positions.items()}
            for asset, positions in self.committed.items()
        }
        if not any(committed.values()):
            return changes
        pattern = job.destination_asset
        return [
            c
            for c in changes
            if (held := committed.get(pattern.replace("{table}", c.table or ""), {}).get(c.part)) is None
            or position_order(c.position) >= held
        ]

    def _publish(self) -> None:
        """Keep the running transfer's status current (lag, batches, last commit) for `transfer status`,
        the service and ``/metrics``, at most every ``transfer_progress_interval`` seconds."""
        moment = time.monotonic()
        if moment - getattr(self, "_published", 0.0) < float(
            self.mk.config.get("transfer_progress_interval")
        ):
            return
        self._published = moment
        state = self.states.get(self.transfer.name)
        if state is not None and state.phase == "Running":
            state.status.update(self.totals)
            self.states.save(state)

    def _observe(self, batch) -> None:
        """Keep the source's lag figures in the totals (per partition or slot, and in seconds)."""
        if getattr(batch, "lag_by_partition", None) is not None:
            self.totals.update(lagByPartition=batch.lag_by_partition, lagSeconds=round(batch.lag_seconds, 3))

    def _failed_counts(self) -> dict[str, Any]:
        return dict(self.totals)

    def _succeeded(self, status: dict, state: TransferState, outcome: Outcome, job: Job, finished) -> None:
        super()._succeeded(status, state, outcome, job, finished)
        status.update(self.totals)


def _fans_out_to(pattern: str, asset: str) -> bool:
    """Whether ``asset`` is a table of destination ``pattern`` (an asset with ``{table}`` in it)."""
    head, _, tail = pattern.partition("{table}")
    return asset.startswith(head) and asset.endswith(tail) and len(asset) > len(head) + len(tail)


def _arrow_schema(store, asset: str) -> pa.Schema | None:
    """The Arrow schema of ``asset`` in ``store``, or ``None`` when it does not exist yet."""
    if not store.exists(asset):
        return None
    return pa.schema([(c.name, c.arrow_type) for c in store.schema(asset)])
