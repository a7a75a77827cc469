"""Executions of a job (VDK's Execution API): start, list, get, cancel, logs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from meshkit.core.statuses import RunStatus
from meshkit.service import executions
from meshkit.service.models import Execution, ExecutionLog, ExecutionStart
from meshkit.service.routes import API, ERRORS, Developer, ExecutionId, JobName, Service, Team, Viewer

router = APIRouter(prefix=API, responses=ERRORS, tags=["executions"])
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Status = Annotated[RunStatus | None, Query(description="Only executions with this status.")]


@router.post("/teams/{team}/jobs/{job}/executions", response_model=Execution, status_code=202)
def start_execution(
    team: Team, job: JobName, svc: Service, principal: Developer, body: ExecutionStart | None = None
):
    """Start a manual execution of a deployment (default ``production``) with extra arguments."""
    body = body or ExecutionStart()
    return executions.start(
        svc, team, job, deployment_id=body.deployment, arguments=body.arguments, actor=principal.subject
    )


@router.get("/teams/{team}/jobs/{job}/executions", response_model=list[Execution])
def list_job_executions(team: Team, job: JobName, svc: Service, _: Viewer, status: Status = None, limit: Limit = 50,
                        offset: Offset = 0):  # fmt: skip
    return executions.list_executions(svc.reader, team, job=job, status=status, limit=limit, offset=offset)


@router.get("/teams/{team}/executions", response_model=list[Execution])
def list_team_executions(
    team: Team, svc: Service, _: Viewer, status: Status = None, limit: Limit = 50, offset: Offset = 0
):
    return executions.list_executions(svc.reader, team, status=status, limit=limit, offset=offset)


@router.get("/teams/{team}/jobs/{job}/executions/{execution}", response_model=Execution)
def get_execution(team: Team, job: JobName, execution: ExecutionId, svc: Service, _: Viewer):
    return executions.get(svc.reader, team, job, execution)


@router.delete("/teams/{team}/jobs/{job}/executions/{execution}", response_model=Execution, status_code=202)
def cancel_execution(team: Team, job: JobName, execution: ExecutionId, svc: Service, principal: Developer):
    """Cancel: a queued execution ends at once, a running one is stopped (SIGTERM, then SIGKILL)."""
    return executions.cancel(svc, team, job, execution, actor=principal.subject)


@router.get("/teams/{team}/jobs/{job}/executions/{execution}/logs", response_model=ExecutionLog)
def execution_logs(team: Team, job: JobName, execution: ExecutionId, svc: Service, _: Viewer,
                   offset: Annotated[int, Query(ge=0, le=2**62, description="Byte offset to read from (live tail).")] = 0,
                   tail: Annotated[int | None, Query(ge=0, le=100_000, description="Only the last N lines.")] = None):  # fmt: skip
    return executions.read_log(svc, team, job, execution, offset=offset, tail=tail)
