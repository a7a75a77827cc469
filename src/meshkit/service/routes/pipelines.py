"""Built-in plugin: the REST endpoints of triggers and pipeline runs in the control service.

- ``PUT|GET /api/v1/teams/{team}/jobs/{job}/deployments/{deployment}/triggers``: a deployment's
  triggers (developer to set, viewer to read);
- ``GET /api/v1/teams/{team}/jobs/{job}/triggers/history``: the events that fired, newest first;
- ``POST /api/v1/hooks/{team}/{job}/{deployment}``: a webhook call, authenticated by its HMAC
  signature only (no token), see :func:`meshkit.service.triggers.receive_webhook`;
- ``GET /api/v1/teams/{team}/jobs/{job}/executions/{id}/graph``: a pipeline execution's graph
  with each node's status.

FastAPI is imported only when the service builds its app.
"""


def build_router():
    from typing import Any

    from fastapi import APIRouter, Body, Request
    from fastapi.responses import JSONResponse

    from meshkit.service import triggers as tr
    from meshkit.service.exceptions import NotFoundError
    from meshkit.service.routes import (
        API,
        ERRORS,
        DeploymentId,
        Developer,
        ExecutionId,
        JobName,
        Service,
        Team,
        Viewer,
    )

    router = APIRouter(prefix=API, responses=ERRORS, tags=["triggers"])
    base = "/teams/{team}/jobs/{job}"

    @router.put(base + "/deployments/{deployment}/triggers")
    def set_triggers(team: Team, job: JobName, deployment: DeploymentId, svc: Service, principal: Developer,
                     body: list[dict[str, Any]] = Body(..., description="The triggers, as in pipelines/NAME.yaml.")):  # fmt: skip
        """Replace the deployment's triggers (webhook, object, message, dataset)."""
        return tr.set_triggers(svc.engine, team, job, deployment, body, actor=principal.subject)

    @router.get(base + "/deployments/{deployment}/triggers")
    def get_triggers(team: Team, job: JobName, deployment: DeploymentId, svc: Service, _: Viewer):
        return tr.list_triggers(svc.engine, team, job, deployment)

    @router.get(base + "/triggers/history")
    def trigger_history(team: Team, job: JobName, svc: Service, _: Viewer, limit: int = 50):
        """The trigger events of the job's deployments, newest first, with the execution each started."""
        return tr.history(svc.engine, team, job, limit=max(1, min(limit, 500)))

    @router.post("/hooks/{team}/{job}/{deployment}", status_code=202)
    async def webhook(team: Team, job: JobName, deployment: DeploymentId, request: Request, svc: Service):
        """Start the deployment: the body is signed with the key of one of its webhook triggers."""
        from starlette.concurrency import run_in_threadpool

        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        run_id = await run_in_threadpool(tr.receive_webhook, svc, team, job, deployment, body, headers)
        return JSONResponse({"run_id": run_id}, status_code=202)

    @router.get(base + "/executions/{execution}/graph", tags=["pipelines"])
    def execution_graph(team: Team, job: JobName, execution: ExecutionId, svc: Service, _: Viewer):
        """A pipeline execution's graph: its nodes, what each waits for, and each node's status."""
        from meshkit.pipelines.runner import run_graph

        found = run_graph(svc.meshkit, execution)
        if found is None or found["team"] != team or found["job"] != job:
            raise NotFoundError(f"Job `{team}/{job}` has no pipeline execution `{execution}`.",
                                hint="List executions with GET .../executions.")  # fmt: skip
        return found

    return router
