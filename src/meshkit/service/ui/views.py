"""The web UI: server-rendered pages for jobs, deployments, executions and their logs.

Pages authenticate with the same credentials as the API: the login form stores the token in an
HttpOnly, SameSite=Strict cookie, which the API accepts too (the log page tails logs through it).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from meshkit.core import humanize
from meshkit.core.statuses import FINAL_STATUSES
from meshkit.pipelines.runner import run_graph
from meshkit.service import deployments, executions, jobs, sources
from meshkit.service.auth import COOKIE, Principal, principal_of
from meshkit.service.exceptions import ApiError, AuthenticationError, ForbiddenError, NotFoundError
from meshkit.service.routes import DeploymentId, ExecutionId, JobName, Team
from meshkit.service.triggers import history as trigger_history
from meshkit.service.ui.graph import render_run_graph

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(prefix="/ui", include_in_schema=False)
Caller = Annotated[Principal, Depends(principal_of)]


templates.env.filters["since"] = humanize.since
templates.env.filters["duration"] = humanize.duration
templates.env.filters["number"] = humanize.count
templates.env.filters["cron"] = humanize.cron
templates.env.filters["iso_since"] = lambda v: humanize.since(datetime.fromisoformat(v)) if v else ""
templates.env.filters["utc"] = lambda v: v.strftime("%Y-%m-%d %H:%M:%S UTC") if v else ""


def render(request: Request, name: str, status_code: int = 200, **context) -> HTMLResponse:
    principal = getattr(request.state, "principal", None)
    nav = request.app.state.ui_pages
    return templates.TemplateResponse(
        request, name, {"principal": principal, "nav": nav, **context}, status_code=status_code
    )


def ui_error(request: Request, status: int, message: str, hint: str | None):
    """An error page (or the login page when the credentials are missing)."""
    if status == 401:
        target = quote(request.url.path)
        response = RedirectResponse(f"/ui/login?next={target}", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response
    return render(request, "error.html", status_code=status, status=status, message=message, hint=hint)


def check_origin(request: Request) -> None:
    """Refuse a form sent from another site (the cookie is SameSite=Strict; this is a second lock)."""
    origin = request.headers.get("origin")
    if origin and origin not in ("null",) and origin.split("://", 1)[-1] != request.headers.get("host"):
        raise ForbiddenError("The form was sent from another site.")


def require_role(principal: Principal, team: str, role: str) -> None:
    """Raise ``ForbiddenError`` unless ``principal`` has ``role`` (or a higher one) on ``team``."""
    if not principal.can(team, role):
        raise ForbiddenError(f"You need the {role} role on team `{team}` for this.", hint="Ask a team admin.")


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/ui/jobs", error: str | None = None):
    return render(request, "login.html", next=next if next.startswith("/ui") else "/ui/jobs", error=error)


@router.post("/login")
def login(
    request: Request, token: Annotated[str, Form(max_length=8192)], next: Annotated[str, Form()] = "/ui/jobs"
):
    check_origin(request)
    try:
        request.app.state.service.auth.authenticate(token.strip())
    except AuthenticationError as exc:
        return render(request, "login.html", status_code=401, next=next, error=exc.message)
    response = RedirectResponse(next if next.startswith("/ui") else "/ui/jobs", status_code=303)
    secure = request.url.scheme == "https"
    response.set_cookie(
        COOKIE, token.strip(), httponly=True, samesite="strict", secure=secure, path="/", max_age=12 * 3600
    )
    return response


@router.post("/logout")
def logout():
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/jobs", response_class=HTMLResponse)
def jobs_page(request: Request, principal: Caller, q: str | None = None):
    svc = request.app.state.service
    teams = None if principal.role("*") else [t for t in principal.teams() if principal.can(t, "viewer")]
    rows = jobs.list_jobs(svc.engine, teams=teams, name=(q or None) and q[:63], limit=500)
    deployed = {}
    for row in rows:
        found = deployments.list_for_job(svc.engine, row["team"], row["name"])
        deployed[(row["team"], row["name"])] = found[0] if found else None
    deploy_teams = [
        t for t in (principal.teams() if teams is not None else ["*"]) if principal.can(t, "developer")
    ]
    return render(request, "jobs.html", jobs=rows, deployed=deployed, q=q or "", deploy_teams=deploy_teams)


@router.post("/deploy")
def deploy_form(request: Request, principal: Caller, team: Annotated[str, Form(max_length=63)],
                job: Annotated[str, Form(max_length=63)], file: Annotated[UploadFile, File()],
                schedule: Annotated[str, Form(max_length=120)] = ""):  # fmt: skip
    """Create the job if needed, upload its zipped folder and deploy that version."""
    check_origin(request)
    svc = request.app.state.service
    team, job = team.strip(), job.strip()
    for label, value in (("team", team), ("job", job)):
        if not re.match(jobs.NAME_PATTERN, value):
            raise ApiError(
                f"`{value}` is not a valid {label} name.", hint="Use lowercase letters, digits, - and _."
            )
    require_role(principal, team, "developer")
    try:
        with svc.engine.connect() as conn:
            jobs.get_job(conn, team, job)
    except NotFoundError:
        jobs.create_job(svc.engine, team, job, actor=principal.subject)
    data = file.file.read(svc.max_source_bytes + 1)
    info, _ = sources.upload(
        svc.engine, team, job, data, max_bytes=svc.max_source_bytes, actor=principal.subject
    )
    values = {
        "id": deployments.DEFAULT_DEPLOYMENT,
        "version": info["version"],
        "schedule": schedule.strip() or None,
    }
    svc.prepare_source(team, job, info["version"])
    deployment, action = deployments.deploy(svc.engine, team, job, values, actor=principal.subject)
    svc.meshkit.pm.hook.deployment_changed(meshkit=svc.meshkit, deployment=deployment, action=action)
    return RedirectResponse(f"/ui/teams/{team}/jobs/{job}", status_code=303)


@router.get("/teams/{team}/jobs/{job}", response_class=HTMLResponse)
def job_page(request: Request, team: Team, job: JobName, principal: Caller):
    require_role(principal, team, "viewer")
    svc = request.app.state.service
    with svc.engine.connect() as conn:
        info = jobs.get_job(conn, team, job)
    runs = executions.list_executions(svc.engine, team, job=job, limit=30)
    events = trigger_history(svc.engine, team, job, limit=20)
    longest = max([r["duration"] or 0 for r in runs] + [1])
    return render(request, "job.html", job=info, deployments=deployments.list_for_job(svc.engine, team, job),
                  versions=sources.list_versions(svc.engine, team, job, limit=10), executions=runs, longest=longest,
                  can_run=principal.can(team, "developer"), trigger_events=events)  # fmt: skip


@router.get("/teams/{team}/jobs/{job}/sources/{version}/environment", response_class=PlainTextResponse)
def environment_log(team: Team, job: JobName, version: int, principal: Caller, request: Request):
    """The build log of a version's own environment (its requirements.txt), as text."""
    require_role(principal, team, "viewer")
    env = request.app.state.service.source_environment(team, job, version)
    return env.get("log") or f"v{version} of {team}/{job}: environment {env['status']} (no build log)."


@router.post("/teams/{team}/jobs/{job}/deployments/{deployment}/start")
def start_form(request: Request, team: Team, job: JobName, deployment: DeploymentId, principal: Caller):
    check_origin(request)
    require_role(principal, team, "developer")
    started = executions.start(request.app.state.service, team, job, deployment_id=deployment, arguments=None,
                               actor=principal.subject)  # fmt: skip
    return RedirectResponse(f"/ui/teams/{team}/jobs/{job}/executions/{started['id']}", status_code=303)


def _execution(request: Request, team: str, job: str, execution: str, principal: Principal) -> dict:
    """What the execution page shows above its log: status, facts and steps."""
    require_role(principal, team, "viewer")
    svc = request.app.state.service
    info = executions.get(svc.engine, team, job, execution)
    run = svc.meshkit.runs.get(execution)
    graph = run_graph(svc.meshkit, execution) if run is not None and "graph" in run.details else None
    return {"execution": info, "steps": run.steps if run else [], "can_cancel": principal.can(team, "developer"),
            "final": info["status"] in FINAL_STATUSES, "graph": graph,
            "graph_svg": Markup(render_run_graph(graph)) if graph else None}  # fmt: skip


@router.get("/teams/{team}/jobs/{job}/executions/{execution}", response_class=HTMLResponse)
def execution_page(request: Request, team: Team, job: JobName, execution: ExecutionId, principal: Caller):
    context = _execution(request, team, job, execution, principal)
    log = executions.read_log(request.app.state.service, team, job, execution)
    return render(request, "execution.html", log=log, **context)


@router.get("/teams/{team}/jobs/{job}/executions/{execution}/live", response_class=HTMLResponse)
def execution_live(request: Request, team: Team, job: JobName, execution: ExecutionId, principal: Caller):
    """The execution page's status, facts and steps alone, which the page polls while it runs."""
    return render(request, "_execution_live.html", **_execution(request, team, job, execution, principal))


@router.post("/teams/{team}/jobs/{job}/executions/{execution}/cancel")
def cancel_form(request: Request, team: Team, job: JobName, execution: ExecutionId, principal: Caller):
    check_origin(request)
    require_role(principal, team, "developer")
    executions.cancel(request.app.state.service, team, job, execution, actor=principal.subject)
    return RedirectResponse(f"/ui/teams/{team}/jobs/{job}/executions/{execution}", status_code=303)


@router.get("/transfers", response_class=HTMLResponse)
def transfers_page(request: Request, principal: Caller):
    from meshkit.data.transfer import list_transfers

    require_role(principal, "*", "viewer")
    return render(request, "transfers.html", transfers=list_transfers(request.app.state.service.meshkit))


@router.get("/transfers/{name}", response_class=HTMLResponse)
def transfer_page(request: Request, name: str, principal: Caller):
    from meshkit.data.transfer import transfer_status

    require_role(principal, "*", "viewer")
    found = transfer_status(request.app.state.service.meshkit, name)
    if found is None:
        raise NotFoundError(
            f"No transfer named `{name}` has run.", hint="See the transfers at /ui/transfers."
        )
    history = list(reversed(found.get("history") or []))  # oldest first, as the charts read
    most_rows = max([h.get("numRecords") or 0 for h in history] + [1])
    longest = max([h.get("duration") or 0 for h in history] + [0.001])
    return render(
        request, "transfer.html", transfer=found, history=history, most_rows=most_rows, longest=longest
    )


def mount(app: FastAPI, meshkit) -> None:
    """Add the UI routes, its static files and the plugin pages' navigation links to ``app``."""
    from meshkit.service.ui import pipelines, runs

    for found in (router, pipelines.router, runs.router):
        app.include_router(found)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="static")
    pages = [("Jobs", "/ui/jobs"), ("Pipelines", "/ui/pipelines"), ("Transfers", "/ui/transfers")]
    for group in meshkit.pm.hook.register_ui_pages(meshkit=meshkit):
        pages.extend(group or [])
    app.state.ui_pages = pages

    @app.get("/", include_in_schema=False)
    @app.get("/ui", include_in_schema=False)
    @app.get("/ui/", include_in_schema=False)
    def home():
        return RedirectResponse("/ui/jobs", status_code=307)
