"""Executions: run records of kind ``job`` started by the control service, and their life cycle.

``submit`` records a ``submitted`` run and a queued execution in one transaction. Every server
process's dispatcher claims queued executions with an atomic update and hands them to the
executor; when the process ends, ``finalize`` marks the execution done and gives the run a final
status if the job itself could not (killed, crashed, cancelled, timed out).
"""

from __future__ import annotations

import logging
import secrets as _random
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from meshkit.core.lifecycle import finish_run
from meshkit.core.metadata import runs
from meshkit.core.runs import RunRecord, now
from meshkit.core.statuses import FINAL_STATUSES
from meshkit.service import audit
from meshkit.service.deployments import DEFAULT_DEPLOYMENT, Deployment
from meshkit.service.deployments import get as get_deployment
from meshkit.service.exceptions import ConflictError, NotFoundError
from meshkit.service.executors import run_log
from meshkit.service.reads import read
from meshkit.service.sources import _normalized_zip, content_hash
from meshkit.service.tables import deployments, executions, sources

if TYPE_CHECKING:
    from meshkit.service.runtime import ControlService

log = logging.getLogger("meshkit.service")

ACTIVE_STATES = ("queued", "launched")
_COLUMNS = [runs.c.id, runs.c.name, runs.c.team, runs.c.status, runs.c.created_at, runs.c.started_at, runs.c.ended_at,
            runs.c.rows_written, runs.c.error, runs.c.arguments, executions.c.deployment, executions.c.version,
            executions.c.trigger, executions.c.scheduled_for, executions.c.attempt, executions.c.executor,
            executions.c.state, executions.c.started_by, executions.c.cancel_requested]  # fmt: skip


def new_execution_id(job: str, at: datetime) -> str:
    return f"{job}-{at:%Y%m%dT%H%M%S}-{_random.token_hex(4)}"


def queue_with_source(conn, svc, run: RunRecord, *, team: str, deployment: str, files: dict[str, bytes],
                      actor: str) -> int:  # fmt: skip
    """Queue a manual execution of ``run`` on ``files``, kept as the next source version of ``team``/``run.name``
    when they differ from the latest one (in the caller's transaction); returns the version it runs."""
    sha = content_hash(files)
    latest = conn.execute(sa.select(sources.c.version, sources.c.sha256).where(sources.c.team == team, sources.c.job == run.name)
                          .order_by(sources.c.version.desc()).limit(1)).first()  # fmt: skip
    changed = latest is None or latest.sha256 != sha
    version = (latest.version if latest else 0) + changed
    if changed:
        conn.execute(sources.insert().values(team=team, job=run.name, version=version, sha256=sha,
                                             size=sum(len(v) for v in files.values()), files=sorted(files),
                                             created_by=actor, created_at=run.created_at,
                                             content=_normalized_zip(files)))  # fmt: skip
    conn.execute(runs.insert().values(run_row(run)))
    conn.execute(executions.insert().values(
        run_id=run.id, team=team, job=run.name, deployment=deployment, version=version, trigger="manual", attempt=1,
        executor=svc.executor.name, state="queued", started_by=actor, submitted_at=run.created_at))  # fmt: skip
    return version


def run_row(run: RunRecord) -> dict[str, Any]:
    """The ``runs`` row of a new run record (inserted here so the execution commits with it)."""
    return {c.name: getattr(run, c.name) for c in runs.c}


def active_count(conn: sa.Connection, team: str, job: str) -> int:
    query = (
        sa.select(sa.func.count())
        .select_from(executions)
        .where(executions.c.team == team, executions.c.job == job, executions.c.state.in_(ACTIVE_STATES))
    )
    return conn.execute(query).scalar_one()


def submit(svc: ControlService, conn: sa.Connection, deployment: Deployment, *, trigger: str, actor: str,
           arguments: dict[str, Any] | None = None, scheduled_for: datetime | None = None, attempt: int = 1) -> RunRecord:  # fmt: skip
    """Record a queued execution of ``deployment`` in ``conn``'s transaction (or a ``skipped`` one).

    A scheduled or retried execution of a job that is still running is recorded as ``skipped``.
    """
    return submit_many(svc, conn, [(deployment, scheduled_for)], trigger=trigger, actor=actor,
                       arguments=arguments, attempt=attempt)[0]  # fmt: skip


def submit_many(svc: ControlService, conn: sa.Connection, fired: list[tuple[Deployment, datetime | None]], *,
                trigger: str, actor: str, arguments: dict[str, Any] | None = None, attempt: int = 1) -> list[RunRecord]:  # fmt: skip
    """Record the executions of several ``(deployment, scheduled_for)`` as :func:`submit` does, in one go.

    One query finds the jobs still running and two inserts record every run and execution (a
    burst of ticks costs a few statements, not a few per deployment); a job fired twice here
    runs once, the second is ``skipped`` as if the first were already running.
    """
    busy = _active_jobs(conn, {(d.team, d.job) for d, _ in fired})
    records, run_rows, execution_rows = [], [], []
    for deployment, scheduled_for in fired:
        at = now()
        run_id = new_execution_id(deployment.job, at)
        args = {**deployment.arguments, **(arguments or {})}
        run = RunRecord(id=run_id, kind="job", name=deployment.job, team=deployment.team, arguments=args, created_at=at,
                        log_path=str(run_log(svc.log_dir, run_id)))  # fmt: skip
        key = (deployment.team, deployment.job)
        if key in busy and trigger == "manual":
            raise ConflictError(f"Job `{deployment.team}/{deployment.job}` is still running.",
                                hint="Wait for it to finish or cancel it, then start again.")  # fmt: skip
        state = "queued"
        if key in busy:
            run.status, run.started_at, run.ended_at, state = "skipped", at, at, "done"
            run.error = "The previous execution was still running."
        busy.add(key)
        records.append(run)
        run_rows.append(run_row(run))
        execution_rows.append(dict(
            run_id=run_id, team=deployment.team, job=deployment.job, deployment=deployment.id, version=deployment.version,
            trigger=trigger, scheduled_for=scheduled_for, attempt=attempt, executor=svc.executor.name, state=state,
            started_by=actor, submitted_at=at))  # fmt: skip
    if not records:
        return records
    conn.execute(runs.insert(), run_rows)
    conn.execute(executions.insert(), execution_rows)
    for run in records:
        if trigger == "manual":
            audit.record(conn, actor, "execution.start", team=run.team, target=f"{run.name}/{run.id}")
        svc.metrics.submitted(run.status)
    return records


def _active_jobs(conn: sa.Connection, jobs: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """Which of ``jobs`` (``(team, job)``) have a queued or launched execution."""
    found: set[tuple[str, str]] = set()
    teams = {team for team, _ in jobs}
    for team in teams:  # NOTE: by team, so the query's parameters stay few whatever the burst
        names = sorted(job for t, job in jobs if t == team)
        for start in range(0, len(names), 500):
            query = (sa.select(executions.c.team, executions.c.job).distinct()
                     .where(executions.c.team == team, executions.c.job.in_(names[start:start + 500]),
                            executions.c.state.in_(ACTIVE_STATES)))  # fmt: skip
            found.update((row.team, row.job) for row in conn.execute(query))
    return found


def start(svc: ControlService, team: str, job: str, *, deployment_id: str | None, arguments: dict[str, Any] | None,
          actor: str) -> dict[str, Any]:  # fmt: skip
    """Start a manual execution; the dispatcher launches it at once."""
    with svc.engine.begin() as conn:
        deployment = get_deployment(conn, team, job, deployment_id or DEFAULT_DEPLOYMENT)
        run = submit(svc, conn, deployment, trigger="manual", actor=actor, arguments=arguments)
    svc.wake()
    return get(svc.engine, team, job, run.id)


def get(engine: sa.Engine, team: str, job: str, execution_id: str, *, kind: str = "job") -> dict[str, Any]:
    """One execution of job ``team/job`` (of transfer ``job`` for ``kind="transfer"``, whose team is ``*``)."""
    where = [runs.c.id == execution_id, runs.c.name == job, runs.c.kind == kind]
    where.append(runs.c.team == team if kind == "job" else executions.c.team == team)
    query = (sa.select(*_COLUMNS).select_from(runs.outerjoin(executions, executions.c.run_id == runs.c.id))
             .where(*where))  # fmt: skip
    row = read(engine, lambda conn: conn.execute(query).mappings().first())
    if row is None:
        raise NotFoundError(
            f"Job `{team}/{job}` has no execution `{execution_id}`.",
            hint="List them with GET .../executions.",
        )
    return shape(row)


def list_executions(engine: sa.Engine, team: str, *, job: str | None = None, status: str | None = None,
                    limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first; CLI runs of the same job appear too (they share the run records)."""
    query = (sa.select(*_COLUMNS).select_from(runs.outerjoin(executions, executions.c.run_id == runs.c.id))
             .where(runs.c.kind == "job", runs.c.team == team).order_by(runs.c.created_at.desc()).limit(limit).offset(offset))  # fmt: skip
    if job is not None:
        query = query.where(runs.c.name == job)
    if status is not None:
        query = query.where(runs.c.status == status)
    return read(engine, lambda conn: [shape(row) for row in conn.execute(query).mappings()])


def shape(row) -> dict[str, Any]:
    data = dict(row)
    for key in ("created_at", "started_at", "ended_at", "scheduled_for"):
        if data.get(key) is not None and data[key].tzinfo is None:
            data[key] = data[key].replace(tzinfo=now().tzinfo)
    started, ended = data["started_at"], data["ended_at"]
    data["duration"] = (ended - started).total_seconds() if started and ended else None
    data["job"] = data.pop("name")
    data["arguments"] = data["arguments"] or {}
    data["trigger"] = data["trigger"] or "cli"
    data["cancel_requested"] = bool(data["cancel_requested"])
    return data


def cancel(svc: ControlService, team: str, job: str, execution_id: str, *, actor: str,
           kind: str = "job") -> dict[str, Any]:  # fmt: skip
    """Cancel a queued execution at once; ask the executor to stop a launched one."""
    current = get(svc.engine, team, job, execution_id, kind=kind)
    if current["status"] in FINAL_STATUSES:
        raise ConflictError(
            f"Execution `{execution_id}` already ended ({current['status']}).", hint="Nothing to cancel."
        )
    with svc.engine.begin() as conn:
        row = (
            conn.execute(sa.select(executions).where(executions.c.run_id == execution_id)).mappings().first()
        )
        if row is None:
            raise ConflictError(f"Execution `{execution_id}` was not started by the control service.",
                                hint="Stop it where it runs (Ctrl-C for `meshkit run`).")  # fmt: skip
        conn.execute(
            executions.update().where(executions.c.run_id == execution_id).values(cancel_requested=True)
        )
        audit.record(conn, actor, "execution.cancel", team=team, target=f"{job}/{execution_id}")
    if row["state"] == "queued":
        finalize(
            svc, execution_id, exit_code=None, reason="cancelled before it started", only_from=("queued",)
        )
    elif row["state"] == "launched":
        svc.executor.cancel(dict(row))
    return get(svc.engine, team, job, execution_id, kind=kind)


def finalize(svc: ControlService, execution_id: str, *, exit_code: int | None, reason: str,
             only_from: tuple[str, ...] = ACTIVE_STATES) -> str | None:  # fmt: skip
    """Mark an execution done and give its run a final status if it has none; returns the final status.

    Only one caller wins (the update is conditional on the state), so the ``run_finished`` hook of
    a run the service ended fires once even with several server processes.
    """
    return finalize_many(svc, [(execution_id, exit_code, reason)], only_from=only_from).get(execution_id)


def finalize_many(svc: ControlService, ended: list[tuple[str, int | None, str]], *,
                  only_from: tuple[str, ...] = ACTIVE_STATES) -> dict[str, str]:  # fmt: skip
    """:func:`finalize` each ``(execution_id, exit_code, reason)`` in one transaction; returns the final
    status of those this call finished (a burst of runs ending costs one commit, not one each)."""
    with svc.engine.begin() as conn:
        done = executions.update().values(state="done")
        if conn.dialect.update_returning:  # one statement for them all (PostgreSQL, SQLite)
            ids = [execution_id for execution_id, _, _ in ended]
            mine = done.where(executions.c.run_id.in_(ids), executions.c.state.in_(only_from))
            finished = set(conn.execute(mine.returning(executions.c.run_id)).scalars())
        else:
            finished = {execution_id for execution_id, _, _ in ended
                        if conn.execute(done.where(executions.c.run_id == execution_id,
                                                   executions.c.state.in_(only_from))).rowcount}  # fmt: skip
        won = list({item[0]: item for item in ended if item[0] in finished}.values())  # once each
        if not won:
            return {}
        query = (sa.select(executions.c.run_id, executions.c.cancel_requested, runs.c.kind, runs.c.name, runs.c.status,
                           runs.c.error, runs.c.started_at, runs.c.ended_at)
                 .select_from(executions.join(runs, runs.c.id == executions.c.run_id))
                 .where(executions.c.run_id.in_([w[0] for w in won])))  # fmt: skip
        found = {row.run_id: row for row in conn.execute(query)}
    statuses = {}
    for execution_id, exit_code, reason in won:
        if (row := found.get(execution_id)) is not None:
            statuses[execution_id] = _final(svc, row, exit_code, reason)
    return statuses


def _final(svc: ControlService, row, exit_code: int | None, reason: str) -> str:
    """Give the run of an execution that ended a final status if it has none; returns its status."""
    if row.cancel_requested and row.status != "succeeded":
        changed = row.status != "cancelled"
        status, error = "cancelled", row.error or f"Cancelled: {reason}."
    elif row.status not in FINAL_STATUSES:
        changed = True
        code = f" (exit code {exit_code})" if exit_code is not None else ""
        status, error = "platform_error", f"The job process ended{code} without recording a result: {reason}."
    else:
        changed, status = False, row.status
    if changed:
        run = svc.meshkit.runs.get(row.run_id)
        try:
            finish_run(svc.meshkit, run, status, error)
        except Exception:  # a failing notifier must not leave the execution unfinished
            log.exception("run_finished hook failed for %s", row.run_id)
    else:
        run = RunRecord(id=row.run_id, kind=row.kind, name=row.name, status=row.status,
                        started_at=row.started_at, ended_at=row.ended_at)  # fmt: skip
    svc.metrics.finished(run)
    if status in ("user_error", "platform_error"):
        _mark_retry(svc, row.run_id)
    return status


def _mark_retry(svc: ControlService, execution_id: str) -> None:
    """Leave a failed scheduled execution in state ``retry`` when its deployment allows another attempt."""
    with svc.engine.begin() as conn:
        row = (
            conn.execute(sa.select(executions).where(executions.c.run_id == execution_id)).mappings().first()
        )
        if row is None or row["trigger"] not in ("scheduled", "retry") or row["cancel_requested"]:
            return
        key = (
            (deployments.c.team == row["team"])
            & (deployments.c.job == row["job"])
            & (deployments.c.id == row["deployment"])
        )
        retries = conn.execute(sa.select(deployments.c.retries).where(key)).scalar()
        if retries and row["attempt"] <= retries:
            conn.execute(executions.update().where(executions.c.run_id == execution_id).values(state="retry"))


def read_log(svc: ControlService, team: str, job: str, execution_id: str, *, offset: int = 0,
             tail: int | None = None) -> dict[str, Any]:  # fmt: skip
    """Log text from byte ``offset`` (or the last ``tail`` lines), secrets redacted, and the next offset."""
    execution = get(svc.engine, team, job, execution_id)
    run = svc.meshkit.runs.get(execution_id)
    path = Path(run.log_path) if run and run.log_path else None
    data, size = b"", 0
    if path is not None and path.is_file():
        with path.open("rb") as handle:
            size = handle.seek(0, 2)
            if tail is not None:
                handle.seek(max(0, size - 64 * 1024 * max(1, tail // 500 + 1)))
                data = b"\n".join(handle.read().splitlines()[-tail:]) if tail else b""
            else:
                handle.seek(min(offset, size))
                data = handle.read(1024 * 1024)
                size = min(offset, size) + len(data)
    text = svc.meshkit.redactor.redact(data.decode("utf-8", errors="replace"))
    return {"id": execution_id, "status": execution["status"], "text": text, "offset": size,
            "complete": execution["status"] in FINAL_STATUSES}  # fmt: skip
