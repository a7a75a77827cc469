"""Properties and secrets of a job (VDK's Properties and Secrets APIs); secret values are write-only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from meshkit.service import audit
from meshkit.service.exceptions import NotFoundError
from meshkit.service.jobs import get_job
from meshkit.service.models import Properties, SecretNames, SecretValue
from meshkit.service.routes import API, ERRORS, Developer, JobName, Service, Team, Viewer

router = APIRouter(prefix=f"{API}/teams/{{team}}/jobs/{{job}}", responses=ERRORS)
SecretKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9_.-]{1,200}$", description="Secret name.")]


def _job_scope(svc, team: str, job: str) -> str:
    """The properties and secrets scope of a job: its name, as the job sees it at run time."""
    with svc.engine.connect() as conn:
        get_job(conn, team, job)
    return job


def _audit(svc, actor: str, action: str, team: str, job: str, details: dict) -> None:
    with svc.engine.begin() as conn:
        audit.record(conn, actor, action, team=team, target=job, details=details)


@router.get("/properties", response_model=Properties, tags=["properties"])
def get_properties(team: Team, job: JobName, svc: Service, _: Viewer):
    from meshkit.job.properties import properties_backend

    return {"properties": properties_backend(svc.meshkit).get_all(_job_scope(svc, team, job))}


@router.put("/properties", response_model=Properties, tags=["properties"])
def put_properties(team: Team, job: JobName, body: Properties, svc: Service, principal: Developer):
    """Replace all properties of the job."""
    from meshkit.job.properties import properties_backend

    backend = properties_backend(svc.meshkit)
    scope = _job_scope(svc, team, job)
    backend.set_all(scope, body.properties)
    _audit(svc, principal.subject, "properties.set", team, job, {"keys": sorted(body.properties)})
    return {"properties": backend.get_all(scope)}


@router.get("/secrets", response_model=SecretNames, tags=["secrets"])
def list_secrets(team: Team, job: JobName, svc: Service, _: Viewer):
    """Names of the job's secrets; values are never returned."""
    from meshkit.job.secrets import secrets_backend

    return {"names": sorted(secrets_backend(svc.meshkit).get_all(_job_scope(svc, team, job)))}


@router.put("/secrets/{key}", status_code=204, tags=["secrets"])
def put_secret(
    team: Team, job: JobName, key: SecretKey, body: SecretValue, svc: Service, principal: Developer
):
    from meshkit.job.secrets import secrets_backend

    backend = secrets_backend(svc.meshkit)
    scope = _job_scope(svc, team, job)
    backend.set_all(scope, {**backend.get_all(scope), key: body.value})
    svc.meshkit.redactor.add(body.value)
    _audit(svc, principal.subject, "secret.set", team, job, {"key": key})
    return Response(status_code=204)


@router.delete("/secrets/{key}", status_code=204, tags=["secrets"])
def delete_secret(team: Team, job: JobName, key: SecretKey, svc: Service, principal: Developer):
    from meshkit.job.secrets import secrets_backend

    backend = secrets_backend(svc.meshkit)
    scope = _job_scope(svc, team, job)
    values = backend.get_all(scope)
    if key not in values:
        raise NotFoundError(
            f"Job `{team}/{job}` has no secret `{key}`.", hint="List them with GET .../secrets."
        )
    values.pop(key)
    backend.set_all(scope, values)
    _audit(svc, principal.subject, "secret.delete", team, job, {"key": key})
    return Response(status_code=204)
