"""Jobs and their sources (VDK's Jobs and Source APIs)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Response, UploadFile

from meshkit.service import jobs, sources
from meshkit.service.auth import Principal, principal_of
from meshkit.service.exceptions import PayloadTooLargeError
from meshkit.service.jobs import NAME_PATTERN
from meshkit.service.models import Job, JobCreate, JobPatch, SourceEnvironment, SourceVersion
from meshkit.service.reads import read
from meshkit.service.routes import API, ERRORS, Admin, Developer, JobName, Service, Team, Viewer

router = APIRouter(prefix=API, responses=ERRORS)
Caller = Annotated[Principal, Depends(principal_of)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10**9)]
Version = Annotated[int, Path(ge=1, le=2**31 - 1, description="Source version.")]


@router.get("/jobs", response_model=list[Job], tags=["jobs"])
def list_all_jobs(svc: Service, principal: Caller, team: Annotated[str | None, Query(pattern=NAME_PATTERN)] = None,
                  name: Annotated[str | None, Query(max_length=63)] = None, limit: Limit = 50, offset: Offset = 0):  # fmt: skip
    """Jobs of every team the caller can view (or of ``team``), filtered by a name substring."""
    teams = None if principal.role("*") else [t for t in principal.teams() if principal.can(t, "viewer")]
    if team is not None:
        teams = [team] if teams is None or team in teams else []
    return jobs.list_jobs(svc.reader, teams=teams, name=name, limit=limit, offset=offset)


@router.get("/teams/{team}/jobs", response_model=list[Job], tags=["jobs"])
def list_team_jobs(team: Team, svc: Service, _: Viewer, name: Annotated[str | None, Query(max_length=63)] = None,
                   limit: Limit = 50, offset: Offset = 0):  # fmt: skip
    return jobs.list_jobs(svc.reader, teams=[team], name=name, limit=limit, offset=offset)


@router.post("/teams/{team}/jobs", response_model=Job, status_code=201, tags=["jobs"])
def create_job(team: Team, body: JobCreate, svc: Service, principal: Developer):
    return jobs.create_job(svc.engine, team, body.name, description=body.description, contacts=body.contacts,
                           actor=principal.subject)  # fmt: skip


@router.get("/teams/{team}/jobs/{job}", response_model=Job, tags=["jobs"])
def get_job(team: Team, job: JobName, svc: Service, _: Viewer):
    return read(svc.reader, lambda conn: jobs.get_job(conn, team, job))


@router.patch("/teams/{team}/jobs/{job}", response_model=Job, tags=["jobs"])
def update_job(team: Team, job: JobName, body: JobPatch, svc: Service, principal: Developer):
    return jobs.update_job(
        svc.engine, team, job, body.model_dump(exclude_unset=True, exclude_none=True), actor=principal.subject
    )


@router.delete("/teams/{team}/jobs/{job}", status_code=204, tags=["jobs"])
def delete_job(team: Team, job: JobName, svc: Service, principal: Admin):
    jobs.delete_job(svc.engine, team, job, actor=principal.subject)
    return Response(status_code=204)


@router.post(
    "/teams/{team}/jobs/{job}/sources", response_model=SourceVersion, status_code=201, tags=["sources"]
)
def upload_source(team: Team, job: JobName, svc: Service, principal: Developer,
                  file: Annotated[UploadFile, File(description="The zipped job folder.")]):  # fmt: skip
    """Upload a zipped job folder; an unchanged folder returns the existing version (``created`` false)."""
    data = file.file.read(svc.max_source_bytes + 1)
    if len(data) > svc.max_source_bytes:
        raise PayloadTooLargeError(f"The source archive is larger than {svc.max_source_bytes} bytes.")
    info, created = sources.upload(
        svc.engine, team, job, data, max_bytes=svc.max_source_bytes, actor=principal.subject
    )
    return {**info, "created": created}


@router.get("/teams/{team}/jobs/{job}/sources", response_model=list[SourceVersion], tags=["sources"])
def list_sources(team: Team, job: JobName, svc: Service, _: Viewer, limit: Limit = 50, offset: Offset = 0):
    return sources.list_versions(svc.engine, team, job, limit=limit, offset=offset)


@router.get("/teams/{team}/jobs/{job}/sources/{version}", response_model=SourceVersion, tags=["sources"])
def get_source(team: Team, job: JobName, version: Version, svc: Service, _: Viewer):
    with svc.engine.connect() as conn:
        return sources.get_version(conn, team, job, version)


@router.get("/teams/{team}/jobs/{job}/sources/{version}/environment", response_model=SourceEnvironment,
            tags=["sources"])  # fmt: skip
def source_environment(team: Team, job: JobName, version: Version, svc: Service, _: Viewer):
    """The environment of the version's ``requirements.txt``: its status and build log."""
    return svc.source_environment(team, job, version)


@router.get("/teams/{team}/jobs/{job}/sources/{version}/download", tags=["sources"],
            responses={200: {"content": {"application/zip": {}}, "description": "The zipped job folder."}})  # fmt: skip
def download_source(team: Team, job: JobName, version: Version, svc: Service, _: Viewer):
    with svc.engine.connect() as conn:
        row = sources.get_version(conn, team, job, version, content=True)
    filename = f"{job}-v{version}.zip"
    return Response(
        row["content"],
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
