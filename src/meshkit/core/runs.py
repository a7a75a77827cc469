"""Run records: every execution (job, transfer, model build, check, publish) is a Run.

A run has an id, a kind, a status from ``RUN_STATUSES``, timings, a row count, per-step
records, a log file, its typed ``lineage`` (what it read and wrote), and free-form ``details`` for
what a kind wants to keep (results, stats), where the lineage is stored too.
"""

from __future__ import annotations

import contextlib
import os
import secrets as _random
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from meshkit.core.lineage import Lineage
from meshkit.core.metadata import MetadataDB, run_steps, runs
from meshkit.core.processes import ProcessId, is_alive, this_process
from meshkit.core.redaction import scrub, strip_credentials
from meshkit.core.statuses import RunStatus

#: Names the run that the runs a process records belong to (set by a pipeline for its nodes' commands).
PARENT_ENV = "MESHKIT_PARENT_RUN"
#: Seconds a step's record may wait in memory before it is written (see ``RunStore.save_step``): short
#: enough that a process killed during a step leaves the step recorded, long enough for a burst of short runs.
STEP_FLUSH_SECONDS = 0.25
#: Statements built once: a run's saves pass their values as parameters (no statement built per save).
_UPDATE_RUN = runs.update().where(runs.c.id == sa.bindparam("_id"))
_UPDATE_STEP = run_steps.update().where(
    run_steps.c.run_id == sa.bindparam("_run_id"), run_steps.c.position == sa.bindparam("_position")
)
#: The error of a run whose process ended without finishing it.
ABANDONED = "The process running it ended without finishing it: it was killed, or its machine stopped"


def now() -> datetime:
    return datetime.now(UTC)


def new_run_id(name: str, at: datetime | None = None) -> str:
    """A readable unique id: ``NAME-YYYYMMDDTHHMMSS-xxxx``."""
    at = at or now()
    return f"{name}-{at:%Y%m%dT%H%M%S}-{_random.token_hex(2)}"


@dataclass
class StepRecord:
    """One step of a run."""

    position: int
    name: str
    status: RunStatus = "running"
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rows_written: int = 0
    error: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None


@dataclass
class RunRecord:
    """One execution and what it did."""

    id: str
    kind: str
    name: str
    status: RunStatus = "submitted"
    team: str | None = None
    created_at: datetime = field(default_factory=now)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    rows_written: int = 0
    error: str | None = None
    log_path: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    parent_id: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    #: The process running it: host, pid and start time (``None`` for runs a supervisor tracks).
    host: str | None = None
    pid: int | None = None
    pid_start: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at and self.ended_at:
            return (self.ended_at - self.started_at).total_seconds()
        return None

    def _row(self) -> dict[str, Any]:
        # NOTE: lineage and statuses name stores; a credential written in a URL or DSN is never stored.
        self.details, self.error = scrub(self.details), strip_credentials(self.error)
        details = self.details
        if self.lineage:
            stored = scrub(self.lineage.as_dict())
            self.lineage = Lineage.from_dict(stored)
            details = {**details, "lineage": stored}
        return {
            "id": self.id, "kind": self.kind, "name": self.name, "status": self.status, "team": self.team,
            "created_at": self.created_at, "started_at": self.started_at, "ended_at": self.ended_at,
            "rows_written": self.rows_written, "error": self.error, "log_path": self.log_path,
            "arguments": self.arguments, "details": details, "parent_id": self.parent_id,
            "host": self.host, "pid": self.pid, "pid_start": self.pid_start,
        }  # fmt: skip


def _copy(step: StepRecord) -> StepRecord:
    """The step as it is now (the caller goes on changing its own)."""
    return StepRecord(step.position, step.name, step.status, step.started_at, step.ended_at, step.rows_written,
                      step.error)  # fmt: skip


def _aware(value: datetime | None) -> datetime | None:
    # NOTE: SQLite returns naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class RunStore:
    """Reads and writes run records in the metadata database.

    A run costs two commits when its steps are short: its start, and its end with its steps. A
    step's record waits in memory (``save_step``) and is written with the run's next save, or
    after ``STEP_FLUSH_SECONDS`` by a timer, so a long step shows as running while it runs. A
    process dying mid-run loses only those waiting step records: the run itself was recorded
    running at its start, and whoever finds its process gone ends it.
    """

    def __init__(self, db: MetadataDB):
        self.db = db
        self._pending: dict[tuple[str, int], StepRecord] = {}  # (run id, position) -> the step as saved
        self._lock = threading.RLock()
        self._timer: threading.Timer | None = None

    def create(self, kind: str, name: str, *, arguments: dict | None = None, team: str | None = None,
               parent_id: str | None = None, run_id: str | None = None, log_path: str | None = None) -> RunRecord:  # fmt: skip
        """Record a new ``submitted`` run (under the run named by ``MESHKIT_PARENT_RUN`` unless ``parent_id``).

        A run started under ``MESHKIT_PARENT_RUN`` (by a pipeline's node) belongs to its parent's team.
        """
        inherited = parent_id is None and os.environ.get(PARENT_ENV) or None
        run = RunRecord(id=run_id or new_run_id(name), kind=kind, name=name, team=team, arguments=arguments or {},
                        parent_id=parent_id or inherited, log_path=log_path)  # fmt: skip
        with self.db.engine.begin() as conn:
            if inherited:
                parent_team = conn.execute(sa.select(runs.c.team).where(runs.c.id == inherited)).scalar()
                run.team = parent_team or team
            conn.execute(runs.insert(), run._row())
        return run

    def save(self, run: RunRecord) -> None:
        """Write the run's current state (status, timings, counts, error, details) and its waiting steps."""
        row = run._row()
        row.pop("id")
        with self._lock:
            with self.db.engine.begin() as conn:
                self._write_pending(conn)
                conn.execute(_UPDATE_RUN, {**row, "_id": run.id})
            self._written()

    def start(self, run: RunRecord, *, owned: bool = True) -> None:
        """Mark ``run`` running; ``owned``: by this process, which a later command checks is still alive.

        A run the control service launched (``meshkit run --run-id``) is not owned: the service
        tracks its process and ends it when that process is gone.
        """
        run.status = "running"
        run.started_at = now()
        if owned:
            process = this_process()
            run.host, run.pid, run.pid_start = process.host, process.pid, process.start
        self.save(run)

    def finish(self, run: RunRecord, status: RunStatus, error: str | None = None) -> None:
        run.status = status
        run.error = error
        run.ended_at = now()
        if run.started_at is None:
            run.started_at = run.ended_at
        self.save(run)

    def end_abandoned(self) -> list[RunRecord]:
        """End as ``platform_error`` the running runs owned by processes of this host that are gone.

        Returns the runs ended here (another process ending the same run at once ends it once).
        """
        host = this_process().host
        query = sa.select(runs.c.id, runs.c.pid, runs.c.pid_start).where(runs.c.status == "running",
                                                                         runs.c.host == host)  # fmt: skip
        with self.db.engine.connect() as conn:
            found = conn.execute(query).all()
        ended = []
        for run_id, pid, pid_start in found:
            if pid is None or is_alive(ProcessId(host, pid, pid_start)) is not False:
                continue
            at, error = now(), f"{ABANDONED} (pid {pid} on {host})."
            with self.db.engine.begin() as conn:
                mine = runs.update().where(runs.c.id == run_id, runs.c.status == "running")
                if conn.execute(mine.values(status="platform_error", error=error, ended_at=at)).rowcount == 0:
                    continue
                steps = run_steps.update().where(
                    run_steps.c.run_id == run_id, run_steps.c.status == "running"
                )
                conn.execute(steps.values(status="platform_error", error=error, ended_at=at))
            ended.append(self.get(run_id))
        return ended

    def save_step(self, run: RunRecord, step: StepRecord) -> None:
        """Record one step of ``run`` with the run's next save, or within ``STEP_FLUSH_SECONDS``."""
        with self._lock:
            self._pending[(run.id, step.position)] = _copy(step)
            if self._timer is None:
                self._timer = threading.Timer(STEP_FLUSH_SECONDS, self._flush_late)
                self._timer.daemon = True
                self._timer.start()

    def save_steps(self, run: RunRecord, steps: list[StepRecord]) -> None:
        """Insert or update steps of ``run`` now, in one transaction (with any step waiting)."""
        with self._lock:
            for step in steps:
                self._pending[(run.id, step.position)] = _copy(step)
            self.flush()

    def flush(self) -> None:
        """Write the step records waiting in memory (they stay waiting if the write fails)."""
        with self._lock:
            if self._pending:
                with self.db.engine.begin() as conn:
                    self._write_pending(conn)
            self._written()

    def _flush_late(self) -> None:
        with self._lock:
            self._timer = None
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # written by the run's next save instead
                self.flush()

    def _write_pending(self, conn: sa.Connection) -> None:
        """Insert or update the waiting step records in ``conn``'s transaction (the caller holds the lock)."""
        for (run_id, _), step in self._pending.items():
            values = {"name": step.name, "status": step.status, "started_at": step.started_at,
                      "ended_at": step.ended_at, "rows_written": step.rows_written, "error": strip_credentials(step.error)}  # fmt: skip
            if (
                conn.execute(_UPDATE_STEP, {**values, "_run_id": run_id, "_position": step.position}).rowcount
                == 0
            ):
                conn.execute(run_steps.insert(), {**values, "run_id": run_id, "position": step.position})

    def _written(self) -> None:
        """The waiting steps are stored (the caller holds the lock)."""
        self._pending.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def get(self, run_id: str) -> RunRecord | None:
        if any(key[0] == run_id for key in self._pending):
            self.flush()
        with self.db.engine.connect() as conn:
            row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).mappings().first()
            if row is None:
                return None
            steps = (
                conn.execute(
                    sa.select(run_steps).where(run_steps.c.run_id == run_id).order_by(run_steps.c.position)
                )
                .mappings()
                .all()
            )
        return self._record(row, steps)

    def list(self, *, kind: str | None = None, name: str | None = None, status: str | None = None,
             limit: int = 50, offset: int = 0) -> list[RunRecord]:  # fmt: skip
        """Newest first, filtered by kind, name and status."""
        query = sa.select(runs).order_by(runs.c.created_at.desc()).limit(limit).offset(offset)
        for column, value in ((runs.c.kind, kind), (runs.c.name, name), (runs.c.status, status)):
            if value is not None:
                query = query.where(column == value)
        with self.db.engine.connect() as conn:
            return [self._record(row, []) for row in conn.execute(query).mappings()]

    @staticmethod
    def _record(row, steps) -> RunRecord:
        data = dict(row)
        for key in ("created_at", "started_at", "ended_at"):
            data[key] = _aware(data[key])
        data["arguments"] = data["arguments"] or {}
        data["details"] = data["details"] or {}
        data["lineage"] = Lineage.from_dict(data["details"].pop("lineage", None))
        run = RunRecord(**data)
        for step in steps:
            s = dict(step)
            s.pop("run_id")
            s["started_at"], s["ended_at"] = _aware(s["started_at"]), _aware(s["ended_at"])
            run.steps.append(StepRecord(**s))
        return run
