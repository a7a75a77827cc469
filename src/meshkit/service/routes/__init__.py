"""Routers of the REST API and their shared parameters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from meshkit.service.auth import Principal, require
from meshkit.service.jobs import NAME_PATTERN
from meshkit.service.models import ErrorBody

API = "/api/v1"
Team = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63, description="Team name.")]
JobName = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63, description="Job name.")]
DeploymentId = Annotated[str, Path(pattern=NAME_PATTERN, max_length=63, description="Deployment id.")]
ExecutionId = Annotated[
    str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$", description="Execution (run) id.")
]

Viewer = Annotated[Principal, Depends(require("viewer"))]
Developer = Annotated[Principal, Depends(require("developer"))]
Admin = Annotated[Principal, Depends(require("admin"))]


async def service(request: Request):
    """The :class:`~meshkit.service.runtime.ControlService` of the app (async: no thread pool hop)."""
    return request.app.state.service


Service = Annotated[object, Depends(service)]

#: Error responses every authenticated endpoint may give, for the OpenAPI document.
ERRORS = {code: {"model": ErrorBody, "description": text} for code, text in (
    (400, "Bad request"), (401, "Missing or invalid credentials"), (403, "Role too low"), (404, "Not found"),
    (409, "Conflict"), (422, "Invalid parameters"))}  # fmt: skip
