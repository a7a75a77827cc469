"""Run a transfer: retries, the status object, the Run record, run hooks and the kept state.

Every run is a Run record (kind ``transfer``) whose ``details["status"]`` is the status object,
and fires ``run_started``, ``dataset_written`` and ``run_finished``. Transient failures are
retried with exponential backoff up to ``maxFailedRetries`` and end ``Failed`` when retries run
out; errors that retrying cannot fix (bad credentials, missing table, schema conflict, bad spec)
end ``Fatal`` at once. Errors in the status are one short line, secrets redacted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, TransientError, UserError
from meshkit.core.lifecycle import recorded_run
from meshkit.core.lineage import ColumnEdge, Lineage
from meshkit.core.retry import as_transient, retrying
from meshkit.core.runs import now
from meshkit.data.stores.base import MissingAssetError, Store, shown_options
from meshkit.data.transfer.plan import Job, Outcome, execute
from meshkit.data.transfer.spec import BatchTransfer, Endpoint
from meshkit.data.transfer.state import StateStore, TransferState, trim_history
from meshkit.data.transforms import Transform, build_transforms, column_sources
from meshkit.engines import Engine, open_engine
from meshkit.engines.base import text_kind

PHASES = ("Pending", "Running", "Succeeded", "Failed", "Fatal")
_RUN_STATUS = {"Succeeded": "succeeded", "Failed": "platform_error", "Fatal": "user_error"}


@dataclass
class TransferResult:
    """The status of a run and, when it did not succeed, the error that ended it."""

    status: dict[str, Any]
    error: MeshkitError | None = None

    @property
    def ok(self) -> bool:
        return self.status["phase"] == "Succeeded"


def classify(exc: BaseException, redact: Callable[[str], str], engine: Engine | None = None) -> MeshkitError:
    """A meshkit error for anything an attempt on ``engine`` raised: its class decides retry, Failed or Fatal."""
    if isinstance(exc, MissingAssetError):  # a spec naming an asset that is not there is a spec mistake
        return ConfigError(exc.message, hint=exc.hint)
    if isinstance(exc, MeshkitError):
        return exc
    text = redact(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
    kind = engine.error_kind(exc) if engine is not None else None
    if kind is None and isinstance(exc, pa.ArrowInvalid):  # the transforms' Arrow path refused a value
        kind = "data"
    if kind == "auth":
        return ConfigError(
            f"The store refused the login: {text}.",
            hint="Check the user name and password (or their secret).",
        )
    if kind == "connection":
        return TransientError(
            f"Lost the connection to a store: {text}.", hint="Retry when the server is reachable."
        )
    if kind == "memory":
        return PlatformError(f"The transfer ran out of memory: {text}.", hint="Raise `memoryLimit`.")
    if kind == "data":
        return UserError(
            f"The data could not be transferred: {text}.",
            hint="Nothing was written; fix the data or add a Cast.",
        )
    if kind == "engine":
        return PlatformError(f"Engine `{engine.name}` failed: {text}.")
    if isinstance(exc, OSError):
        return (
            TransientError(f"I/O error: {text}.")
            if text_kind(str(exc)) == "connection"
            else PlatformError(f"I/O error: {text}.")
        )
    return PlatformError(
        f"Internal error: {type(exc).__name__}: {text}.", hint="Run again with --debug for details."
    )


def iso_time(value: datetime | None) -> str | None:
    """A status timestamp: ISO 8601 in UTC with a ``Z``."""
    return value.isoformat().replace("+00:00", "Z") if value else None


class TransferRunner:
    """Runs one BatchTransfer in a workspace."""

    def __init__(self, mk, transfer: BatchTransfer, *, extra_transforms: Sequence[Transform] = (),
                 progress: Callable[..., None] | None = None, source_file: str | None = None,
                 run_id: str | None = None):  # fmt: skip
        self.mk, self.transfer, self.spec = mk, transfer, transfer.spec
        #: A run recorded as submitted by the control service, to pick up instead of creating one.
        self.run_id = run_id
        self.extra_transforms = list(extra_transforms)
        self.progress = progress
        self.source_file = source_file
        self.states = StateStore(mk.metadata)
        #: Stores defined inline in the spec: this runner's own, closed when it is done.
        self._inline: dict[str, Store] = {}
        self._engine: Engine | None = None

    def _store(self, endpoint: Endpoint, role: str) -> Store:
        """The store of a transfer end: a name or URL through ``mk.store``, or one defined inline."""
        mk = self.mk
        if isinstance(endpoint.store, str):
            return mk.store(endpoint.store)
        if role not in self._inline:
            self._inline[role] = mk.new_store(
                endpoint.store, name=f"{self.transfer.name}-{role}", where=f"spec.{role}.store.type"
            )
        return self._inline[role]

    def close(self) -> None:
        """Close the stores defined inline in the spec (named stores belong to the workspace)."""
        for store in self._inline.values():
            store.close()
        self._inline.clear()
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def engine(self, source: Store, destination: Store) -> Engine:
        """The engine of the spec (``spec.engine``), else the workspace's (``engine`` config key)."""
        if self._engine is None:
            self._engine = open_engine(
                self.mk, self.spec.engine, stores=(destination, source), where="spec.engine"
            )
        return self._engine

    def _job(self, state: TransferState) -> Job:
        spec = self.spec
        source = self._store(spec.source, "source")
        destination = self._store(spec.destination, "destination")
        transforms = build_transforms(spec.transformation, meshkit=self.mk, where="spec.transformation")
        # NOTE: DuckDB spills to this process's scratch folder, which the next command removes if it is killed.
        temp = self.mk.scratch.folder
        return Job(source=source, source_asset=spec.source.asset, destination=destination,
                   destination_asset=spec.destination.asset, mode=spec.destination.mode, keys=list(spec.destination.keys),
                   transforms=[*transforms, *self.extra_transforms], incremental=spec.incremental,
                   watermark=state.watermark, memory_limit=spec.memory_limit or self.mk.config.get("transfer_memory_limit"),
                   batch_rows=int(self.mk.config.get("transfer_batch_rows")), temp_dir=str(temp), progress=self.progress,
                   engine=self.engine(source, destination))  # fmt: skip

    def plan(self) -> Outcome:
        """Check the transfer end to end (stores, tables, transforms, schemas) without writing."""
        state = self.states.get(self.transfer.name) or TransferState(self.transfer.name)
        try:
            return execute(self._job(state), dry_run=True)
        except Exception as exc:  # noqa: BLE001 - every failure becomes a meshkit error
            raise classify(exc, self.mk.redactor.redact, self._engine) from None
        finally:
            self.close()

    def run(self) -> TransferResult:
        try:
            return self._run()
        finally:
            self.close()

    def _run(self) -> TransferResult:
        name, spec, mk = self.transfer.name, self.spec, self.mk
        state = self.states.get(name) or TransferState(name)
        state.spec = self._stored_spec()
        arguments = {"file": self.source_file} if self.source_file else {}
        with recorded_run(mk, "transfer", name, arguments=arguments, team=mk.config.get("team"),
                          **self._submitted()) as run:  # fmt: skip
            # NOTE: the run is running before the state says Running, so a kill in between is cleaned up too
            started = now()
            status = {"phase": "Running", "runId": run.id, "startTime": iso_time(started), "attempts": 0,
                      "lastSuccessTime": state.status.get("lastSuccessTime")}  # fmt: skip
            state.phase, state.status = "Running", {**state.status, **status}
            self.states.save(state)
            outcome, error, job = self._attempts(state, status)
            finished = now()
            status.update(
                completionTime=iso_time(finished), duration=round((finished - started).total_seconds(), 3)
            )
            if outcome is not None and error is None:
                self._succeeded(status, state, outcome, job, finished)
                run.rows_written = outcome.rows
            else:
                phase = "Failed" if isinstance(error, PlatformError) else "Fatal"
                status.update(phase=phase, error=self._short(error), **self._failed_counts())
                run.rows_written = status["numRecords"]
            run.details = {"status": status}
            if job is not None:
                run.lineage = _lineage(job, outcome)
            if outcome is not None and error is None:
                dataset = f"{job.destination.name}/{job.destination_asset}"
                mk.pm.hook.dataset_written(meshkit=mk, run=run, dataset=dataset, rows=outcome.rows,
                                           schema=outcome.output_schema or pa.schema([]))  # fmt: skip
            _end(state, status, spec.successful_jobs_history_limit, spec.failed_jobs_history_limit)
            self.states.save(state)  # NOTE: before `run_finished` (see `end_abandoned`)
            run.status, run.error = _RUN_STATUS[status["phase"]], status.get("error")
        return TransferResult(state.status, error)

    def _submitted(self) -> dict[str, Any]:
        """``recorded_run``'s options for the submitted run ``run_id`` (the service tracks its process)."""
        if self.run_id is None:
            return {}
        run = self.mk.runs.get(self.run_id)
        if run is None or run.kind != "transfer" or run.name != self.transfer.name:
            raise ConfigError(f"No submitted run `{self.run_id}` of transfer `{self.transfer.name}`.",
                              hint="Start a new run without --run-id.")  # fmt: skip
        if run.status != "submitted":
            raise ConfigError(
                f"Run `{self.run_id}` is already {run.status}.", hint="Start a new run without --run-id."
            )
        return {"run": run, "owned": False}

    def _attempts(
        self, state: TransferState, status: dict
    ) -> tuple[Outcome | None, MeshkitError | None, Job | None]:
        """Try the transfer up to ``maxFailedRetries`` more times while it fails transiently."""
        job = None

        def attempt() -> Outcome:
            nonlocal job
            status["attempts"] += 1
            job = self._job(state)
            return self._execute(job)

        classified = lambda exc: classify(exc, self.mk.redactor.redact, self._engine)  # noqa: E731
        try:
            outcome = retrying(attempt, retries=self.spec.max_failed_retries, backoff=self.spec.retry_backoff,
                               transient=lambda exc: as_transient(classified(exc)))  # fmt: skip
        except Exception as exc:  # noqa: BLE001 - every failure becomes a meshkit error
            return None, classified(exc), job
        return outcome, None, job

    def _stored_spec(self) -> dict[str, Any]:
        """The spec as the state keeps it: credentials of inline stores masked (``StateStore.save`` strips URLs)."""
        spec = self.transfer.model_dump(by_alias=True, mode="json")
        for role in ("source", "destination"):
            store = spec["spec"][role]["store"]
            if isinstance(store, dict):
                kind = self.mk.store_types.get(store.get("type"), Store)
                spec["spec"][role]["store"] = shown_options(store, kind.SECRET_OPTIONS)
        return spec

    def _execute(self, job: Job) -> Outcome:
        """One attempt: a BatchTransfer copies everything at once."""
        return execute(job)

    def _failed_counts(self) -> dict[str, Any]:
        """What a failed run wrote: nothing, as a BatchTransfer writes all or nothing."""
        return {"numRecords": 0, "bytes": 0}

    def _succeeded(
        self, status: dict, state: TransferState, outcome: Outcome, job: Job, finished: datetime
    ) -> None:
        if outcome.watermark is not None:
            state.watermark = outcome.watermark
        try:
            destination_schema = [c.as_dict() for c in job.destination.schema(job.destination_asset)]
        except MeshkitError:
            destination_schema = []
        status.update(
            phase="Succeeded", error=None, numRecords=outcome.rows, bytes=outcome.bytes, plan=outcome.plan,
            lastSuccessTime=iso_time(finished),
            lastRecordTime=(state.watermark or {}).get("value") if self.spec.incremental else None,
            source={"store": job.source.name, "asset": job.source_asset, "schema": outcome.source_schema},
            destination={"store": job.destination.name, "asset": job.destination_asset, "mode": job.mode,
                         "schema": destination_schema},
            transformedColumns=outcome.tags,
        )  # fmt: skip

    def _short(self, error: MeshkitError | None) -> str:
        text = str(error) if error is not None else "unknown error"
        return self.mk.redactor.redact(text.splitlines()[0])[:500]


def _end(state: TransferState, status: dict[str, Any], successful: int, failed: int) -> None:
    """Put the final ``status`` of a run in ``state``, and its entry at the head of the history."""
    entry = {
        k: status.get(k) for k in ("runId", "phase", "startTime", "duration", "numRecords", "bytes", "error")
    }
    state.history = trim_history([entry, *state.history], successful, failed)
    state.phase = status["phase"]
    state.status = {**status, "history": state.history}


def end_abandoned(mk, run) -> None:
    """End the state of ``run``'s transfer as ``Failed`` if it still says the run is running.

    That happens only when the process running the transfer died and a later command ended the
    run (a runner keeps the final state before the run's ``run_finished`` hook fires).
    """
    states = StateStore(mk.metadata)
    state = states.get(run.name)
    if state is None or state.phase != "Running" or state.status.get("runId") != run.id:
        return
    status = {k: v for k, v in state.status.items() if k != "history"}
    ended = run.ended_at or now()
    status.update(phase="Failed", error=run.error, numRecords=0, bytes=0, completionTime=iso_time(ended),
                  duration=round((ended - run.started_at).total_seconds(), 3) if run.started_at else None)  # fmt: skip
    limits = state.spec.get("spec") or {}
    _end(state, status, limits.get("successfulJobsHistoryLimit", 3), limits.get("failedJobsHistoryLimit", 5))
    states.save(state)


def runner_for(mk, transfer: BatchTransfer, **kwargs) -> TransferRunner:
    """The runner of ``transfer``'s kind (a SyncTransfer takes ``until_idle`` and ``max_seconds``)."""
    if transfer.is_sync:
        from meshkit.data.transfer.sync import SyncTransferRunner

        return SyncTransferRunner(mk, transfer, **kwargs)
    return TransferRunner(mk, transfer, **kwargs)


def _lineage(job: Job, outcome: Outcome | None) -> Lineage:
    """The run's lineage: source to destination, and each column to the one it came from."""
    source = f"{job.source.name}/{job.source_asset}"
    target = f"{job.destination.name}/{job.destination_asset}"
    lineage = Lineage(transformation="transfer", inputs=[source], outputs=[target])
    if outcome is not None and outcome.output_schema is not None:
        sources = column_sources(job.transforms, [c["name"] for c in outcome.source_schema])
        lineage.columns = [ColumnEdge(source, sources[column], target, column,
                                      ", ".join(outcome.tags.get(column, [])) or "IDENTITY")
                           for column in outcome.output_schema.names if column in sources]  # fmt: skip
    return lineage


def run_transfer(mk, transfer: BatchTransfer, **kwargs) -> TransferResult:
    """Run ``transfer`` now in workspace ``mk``; ``extra_transforms`` are appended (governance decisions)."""
    return runner_for(mk, transfer, **kwargs).run()


def transfer_status(mk, name: str) -> dict[str, Any] | None:
    """The kept status of transfer ``name`` (with its history), or ``None``."""
    state = StateStore(mk.metadata).get(name)
    return None if state is None else {"name": name, **state.status, "phase": state.phase}


def list_transfers(mk) -> list[dict[str, Any]]:
    """One status per known transfer."""
    return [{"name": s.name, **s.status, "phase": s.phase} for s in StateStore(mk.metadata).list()]
