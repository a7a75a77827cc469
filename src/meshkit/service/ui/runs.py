"""The run page: any run record (a pipeline's node, the job or build a node ran, a CLI run) with its
attempts, steps, what it read and wrote, the runs under it and its log, kept live while it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from meshkit.core.metadata import runs
from meshkit.core.statuses import FINAL_STATUSES
from meshkit.service.exceptions import NotFoundError
from meshkit.service.routes import ExecutionId
from meshkit.service.tables import executions
from meshkit.service.ui.views import Caller, render, require_role

router = APIRouter(prefix="/ui/runs", include_in_schema=False)
#: Most bytes of a log one request returns.
LOG_CHUNK = 1024 * 1024


def run_link(run) -> str:
    """The page of ``run``: its pipeline run page when it has a graph, else its run page."""
    if "graph" in run.details:
        return f"/ui/pipelines/{run.name}/runs/{run.id}"
    return f"/ui/runs/{run.id}"


def run_label(run) -> str:
    """``pipeline NAME`` for a pipeline run (a deployed one is a job's execution), else ``KIND NAME``."""
    return f"pipeline {run.name}" if "graph" in run.details else f"{run.kind} {run.name}"


def _record(request: Request, run_id: str, principal):
    run = request.app.state.service.meshkit.runs.get(run_id)
    if run is None:
        raise NotFoundError(f"No run `{run_id}`.", hint="List runs with `meshkit runs`.")
    require_role(principal, run.team or "*", "viewer")
    return run


def _run(request: Request, run_id: str, principal) -> dict[str, Any]:
    """What the run page shows and redraws: status, facts, attempts, steps, lineage and children."""
    svc = request.app.state.service
    run = _record(request, run_id, principal)
    parent = svc.meshkit.runs.get(run.parent_id) if run.parent_id else None
    with svc.engine.connect() as conn:
        ids = conn.execute(sa.select(runs.c.id).where(runs.c.parent_id == run.id).order_by(runs.c.created_at))
        children = [svc.meshkit.runs.get(i) for i in ids.scalars()]
        execution = conn.execute(sa.select(executions).where(executions.c.run_id == run.id)).first()
    execution_page = f"/ui/teams/{run.team}/jobs/{run.name}/executions/{run.id}" if execution else None
    return {"run": run, "parent": parent, "parent_link": run_link(parent) if parent else None,
            "parent_label": run_label(parent) if parent else None,
            "children": [(c, run_link(c)) for c in children if c is not None],
            "attempts": run.details.get("attempts") or [], "final": run.status in FINAL_STATUSES,
            "execution_page": execution_page}  # fmt: skip


def read_log(meshkit, path: str | None, offset: int) -> tuple[str, int]:
    """The log text from byte ``offset``, secrets redacted, and the offset after it."""
    if not path or not Path(path).is_file():
        return "", offset
    with open(path, "rb") as handle:
        handle.seek(max(0, offset))
        data = handle.read(LOG_CHUNK)
    return meshkit.redactor.redact(data.decode("utf-8", errors="replace")), max(0, offset) + len(data)


@router.get("/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, run_id: ExecutionId, principal: Caller):
    context = _run(request, run_id, principal)
    text, offset = read_log(request.app.state.service.meshkit, context["run"].log_path, 0)
    return render(
        request, "run.html", log={"text": text, "offset": offset, "complete": context["final"]}, **context
    )


@router.get("/{run_id}/live", response_class=HTMLResponse)
def run_live(request: Request, run_id: ExecutionId, principal: Caller):
    """The run page's status, facts and tables alone, which the page polls while it runs."""
    return render(request, "_run_live.html", **_run(request, run_id, principal))


@router.get("/{run_id}/log")
def run_log(request: Request, run_id: ExecutionId, principal: Caller, offset: int = 0) -> dict[str, Any]:
    """The run's log from byte ``offset``: ``{text, offset, complete}``, as the execution log API answers."""
    run = _record(request, run_id, principal)
    text, end = read_log(request.app.state.service.meshkit, run.log_path, offset)
    return {
        "id": run.id,
        "status": run.status,
        "text": text,
        "offset": end,
        "complete": run.status in FINAL_STATUSES,
    }
