"""Deployments of a job (VDK's Deployment API)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from meshkit.service import deployments
from meshkit.service.models import Deployment, DeploymentCreate, DeploymentPatch
from meshkit.service.routes import API, ERRORS, DeploymentId, Developer, JobName, Service, Team, Viewer

router = APIRouter(
    prefix=f"{API}/teams/{{team}}/jobs/{{job}}/deployments", responses=ERRORS, tags=["deployments"]
)


def _changed(svc, deployment, action: str) -> None:
    svc.meshkit.pm.hook.deployment_changed(meshkit=svc.meshkit, deployment=deployment, action=action)


@router.post("", response_model=Deployment, status_code=201)
def deploy(team: Team, job: JobName, body: DeploymentCreate, svc: Service, principal: Developer):
    """Deploy a source version (create the deployment, or replace it when the id exists).

    A version with a ``requirements.txt`` has them installed first, into an environment of its own;
    when that fails, nothing is deployed and the error quotes the build log.
    """
    svc.prepare_source(team, job, body.version)
    deployment, action = deployments.deploy(svc.engine, team, job, body.model_dump(), actor=principal.subject)
    _changed(svc, deployment, action)
    return deployment.as_dict()


@router.get("", response_model=list[Deployment])
def list_deployments(team: Team, job: JobName, svc: Service, _: Viewer):
    return [d.as_dict() for d in deployments.list_for_job(svc.engine, team, job)]


@router.get("/{deployment}", response_model=Deployment)
def get_deployment(team: Team, job: JobName, deployment: DeploymentId, svc: Service, _: Viewer):
    with svc.engine.connect() as conn:
        return deployments.get(conn, team, job, deployment).as_dict()


@router.patch("/{deployment}", response_model=Deployment)
def patch_deployment(team: Team, job: JobName, deployment: DeploymentId, body: DeploymentPatch, svc: Service,
                     principal: Developer):  # fmt: skip
    """Change fields; send ``"schedule": null`` to make the deployment manual-only."""
    changes = body.model_dump(exclude_unset=True)
    changes = {k: v for k, v in changes.items() if v is not None or k in ("schedule", "timeout")}
    if "version" in changes:
        svc.prepare_source(team, job, changes["version"])
    updated = deployments.patch(svc.engine, team, job, deployment, changes, actor=principal.subject)
    _changed(svc, updated, "updated")
    return updated.as_dict()


@router.delete("/{deployment}", status_code=204)
def undeploy(team: Team, job: JobName, deployment: DeploymentId, svc: Service, principal: Developer):
    removed = deployments.undeploy(svc.engine, team, job, deployment, actor=principal.subject)
    _changed(svc, removed, "undeployed")
    return Response(status_code=204)
