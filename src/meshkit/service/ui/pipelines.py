"""The pipeline pages: every pipeline (the workspace's ``pipelines/`` and the deployed ones) with its
last run, one pipeline's graph and runs, and one run drawn as its graph with each node's status,
redrawn live while it runs (as the execution pages are).

A pipeline run is a run record with node runs under it: kind ``pipeline`` when ``meshkit pipeline
run`` started it, kind ``job`` when the control service ran a deployed pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from meshkit.core.errors import ConfigError, MeshkitError
from meshkit.core.metadata import runs
from meshkit.core.statuses import FINAL_STATUSES
from meshkit.pipelines import DEPLOYED_FILE
from meshkit.pipelines.runner import graph as spec_graph
from meshkit.pipelines.runner import run_graph
from meshkit.pipelines.spec import Pipeline, load_pipeline, pipeline_files
from meshkit.service import executions, pipeline_executions
from meshkit.service.deployments import Deployment
from meshkit.service.exceptions import NotFoundError
from meshkit.service.routes import ExecutionId
from meshkit.service.sources import materialize
from meshkit.service.tables import deployments, sources
from meshkit.service.tables import executions as execution_rows
from meshkit.service.ui.graph import legend, render_run_graph
from meshkit.service.ui.views import Caller, check_origin, render, require_role

router = APIRouter(prefix="/ui/pipelines", include_in_schema=False)
RUN_COLUMNS = [runs.c.id, runs.c.kind, runs.c.name, runs.c.team, runs.c.status, runs.c.created_at, runs.c.started_at,
               runs.c.ended_at, runs.c.rows_written, runs.c.error, runs.c.arguments, execution_rows.c.deployment,
               execution_rows.c.trigger, execution_rows.c.cancel_requested]  # fmt: skip


@dataclass
class PipelineEntry:
    """A pipeline as the pages show it: from a workspace file, a deployment, or both."""

    name: str
    team: str | None = None
    spec: Pipeline | None = None
    #: The workspace file, relative to the workspace.
    path: str | None = None
    #: Why the workspace file does not load.
    error: str | None = None
    deployments: list[Deployment] = field(default_factory=list)
    last: dict[str, Any] | None = None

    @property
    def deployment(self) -> Deployment | None:
        return self.deployments[0] if self.deployments else None

    @property
    def runnable(self) -> bool:
        """Whether its workspace file loads, so the service can run it from the workspace."""
        return self.path is not None and self.spec is not None and self.error is None

    @property
    def schedule(self) -> str | None:
        return self.deployment.schedule if self.deployment else (self.spec.schedule if self.spec else None)


def _deployed(svc) -> list[tuple[Deployment, Path]]:
    """The deployments whose source is a pipeline, with the folder of their source."""
    query = sa.select(deployments, sources.c.files, sources.c.sha256).join(
        sources,
        (sources.c.team == deployments.c.team)
        & (sources.c.job == deployments.c.job)
        & (sources.c.version == deployments.c.version),
    )
    with svc.engine.connect() as conn:
        rows = [r for r in conn.execute(query).mappings() if DEPLOYED_FILE in (r["files"] or [])]
    found = []
    for row in sorted(rows, key=lambda r: (r["team"], r["job"], r["id"] != "production", r["id"])):
        folder = materialize(
            svc.engine, svc.source_cache, row["team"], row["job"], row["version"], row["sha256"]
        )
        found.append((Deployment.from_row(row), folder))
    return found


def pipelines(svc) -> dict[str, PipelineEntry]:
    """Every pipeline by name: the workspace's files, then the deployed pipelines."""
    meshkit = svc.meshkit
    entries: dict[str, PipelineEntry] = {}
    root = meshkit.workspace.root
    for path in pipeline_files(root):
        entry = PipelineEntry(path.stem, path=str(path.relative_to(root)), team=meshkit.config.get("team"))
        try:
            entry.spec = load_pipeline(path)
            entry.name, entry.team = entry.spec.name, entry.spec.team or entry.team
        except MeshkitError as exc:
            entry.error = exc.message
        entries[entry.name] = entry
    for deployment, folder in _deployed(svc):
        entry = entries.setdefault(deployment.job, PipelineEntry(deployment.job, team=deployment.team))
        if entry.team in (None, deployment.team):
            entry.team = deployment.team
            entry.deployments.append(deployment)
            if entry.spec is None and entry.error is None:
                try:
                    entry.spec = load_pipeline(folder / DEPLOYED_FILE)
                except MeshkitError as exc:
                    entry.error = exc.message
    return entries


def pipeline_runs(svc, entry: PipelineEntry, *, limit: int = 30) -> list[dict[str, Any]]:
    """The runs of ``entry``, newest first: local runs, and the executions of its deployments."""
    parents = sa.select(runs.c.parent_id).where(runs.c.kind == "node")
    kinds = [runs.c.kind == "pipeline", runs.c.id.in_(parents)]
    if entry.deployments:  # an execution of a deployed pipeline has no node runs until it starts
        kinds.append((runs.c.kind == "job") & (runs.c.team == entry.team))
    query = (
        sa.select(*RUN_COLUMNS)
        .select_from(runs.outerjoin(execution_rows, execution_rows.c.run_id == runs.c.id))
        .where(runs.c.name == entry.name, sa.or_(*kinds))
        .order_by(runs.c.created_at.desc())
        .limit(limit)
    )
    with svc.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [executions.shape(row) for row in rows]


def _entry(request: Request, name: str, principal) -> PipelineEntry:
    entry = pipelines(request.app.state.service).get(name)
    if entry is None:
        raise NotFoundError(f"No pipeline named `{name}`.", hint="See the pipelines at /ui/pipelines.")
    require_role(principal, entry.team or "*", "viewer")
    return entry


@router.get("", response_class=HTMLResponse)
def pipelines_page(request: Request, principal: Caller):
    svc = request.app.state.service
    shown = [e for e in pipelines(svc).values() if principal.can(e.team or "*", "viewer")]
    for entry in shown:
        found = pipeline_runs(svc, entry, limit=1)
        entry.last = found[0] if found else None
    return render(request, "pipelines.html", pipelines=sorted(shown, key=lambda e: e.name))


@router.get("/{name}", response_class=HTMLResponse)
def pipeline_page(request: Request, name: str, principal: Caller):
    svc = request.app.state.service
    entry = _entry(request, name, principal)
    history = pipeline_runs(svc, entry)
    graph = None
    if entry.spec is not None:  # the pipeline as it is now, coloured by its last run
        graph = {"name": entry.name, **spec_graph(entry.spec)}
        last = run_graph(svc.meshkit, history[0]["id"]) if history else None
        statuses = {n["name"]: n for n in (last or {}).get("nodes", [])}
        for node in graph["nodes"]:
            ran = statuses.get(node["name"], {})
            node.update({k: ran.get(k) for k in ("status", "run_id", "attempts", "error")})
    longest = max([r["duration"] or 0 for r in history] + [1])
    can_run = (entry.deployment is not None or entry.runnable) and principal.can(
        entry.team or "*", "developer"
    )
    return render(request, "pipeline.html", entry=entry, runs=history, longest=longest, can_run=can_run,
                  graph_svg=Markup(render_run_graph(graph)) if graph else None, legend=Markup(legend()))  # fmt: skip


@router.post("/{name}/start")
def start_form(request: Request, name: str, principal: Caller):
    """Start the pipeline now (its deployment, else its workspace file), and show the run."""
    check_origin(request)
    svc = request.app.state.service
    entry = _entry(request, name, principal)
    require_role(principal, entry.team or "*", "developer")
    if entry.deployment is not None:
        run_id = executions.start(svc, entry.team, entry.name, deployment_id=entry.deployment.id, arguments=None,
                                  actor=principal.subject)["id"]  # fmt: skip
    elif entry.runnable:
        root = svc.meshkit.workspace.root
        run_id = pipeline_executions.submit(svc, entry.name, entry.team or "*", root / entry.path,
                                            actor=principal.subject).id  # fmt: skip
    else:
        raise ConfigError(f"Pipeline `{name}` cannot run: {entry.error}", where=entry.path,
                          hint=f"Fix the file, then check it with: meshkit pipeline show {name}")  # fmt: skip
    return RedirectResponse(f"/ui/pipelines/{name}/runs/{run_id}", status_code=303)


def _run(request: Request, name: str, run_id: str, principal) -> dict[str, Any]:
    """What a pipeline run's page shows and redraws: status, facts, graph and nodes."""
    svc = request.app.state.service
    run = svc.meshkit.runs.get(run_id)
    if run is None or run.name != name or run.kind not in ("pipeline", "job"):
        raise NotFoundError(
            f"Pipeline `{name}` has no run `{run_id}`.", hint=f"See its runs at /ui/pipelines/{name}."
        )
    require_role(principal, run.team or "*", "viewer")
    with svc.engine.connect() as conn:
        row = conn.execute(sa.select(execution_rows).where(execution_rows.c.run_id == run_id)).first()
    graph = run_graph(svc.meshkit, run_id)
    if graph is None and run.kind == "pipeline" and row is None:  # a queued execution has none yet
        raise NotFoundError(f"Run `{run_id}` has no graph.", hint=f"See the runs at /ui/pipelines/{name}.")
    nodes = (graph or {}).get("nodes", [])
    for node in nodes:
        started, ended = node["started_at"], node["ended_at"]
        node["duration"] = (ended - started).total_seconds() if started and ended else None
    return {"run": run, "pipeline": name, "graph": graph, "nodes": nodes, "execution": row._asdict() if row else None,
            "done": sum(n["status"] in FINAL_STATUSES for n in nodes), "final": run.status in FINAL_STATUSES,
            "graph_svg": Markup(render_run_graph(graph)) if graph else None, "legend": Markup(legend())}  # fmt: skip


@router.get("/{name}/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, name: str, run_id: ExecutionId, principal: Caller):
    return render(request, "pipeline_run.html", **_run(request, name, run_id, principal))


@router.get("/{name}/runs/{run_id}/live", response_class=HTMLResponse)
def run_live(request: Request, name: str, run_id: ExecutionId, principal: Caller):
    """The run page's status, facts, graph and nodes alone, which the page polls while it runs."""
    return render(request, "_pipeline_run_live.html", **_run(request, name, run_id, principal))
