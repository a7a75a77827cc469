"""Transfers (Fybrik-style BatchTransfer specs): apply a spec, read status and history.

Transfers belong to the workspace rather than to a team, so reading needs a role on ``*`` (any
team admin grants it with ``--role *=viewer``) and applying needs developer on ``*``. Applied
transfers use the workspace's stores only (see :mod:`meshkit.service.transfer_stores`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Path, Response

from meshkit.core.errors import ConfigError
from meshkit.service.exceptions import NotFoundError
from meshkit.service.models import TransferCancelled, TransferStatus, TransferSubmitted
from meshkit.service.routes import API, ERRORS, Developer, Service, Viewer
from meshkit.service.transfer_executions import cancel, submit
from meshkit.service.transfer_stores import check_transfer_stores

router = APIRouter(prefix=f"{API}/transfers", responses=ERRORS, tags=["transfers"])
TransferName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")]
SPEC = Body(media_type="application/yaml", description="A BatchTransfer spec in YAML.", max_length=1_000_000)


@router.get("", response_model=list[TransferStatus], response_model_exclude_unset=True)
def list_transfers(svc: Service, _: Viewer):
    """Every known transfer with its phase and last status."""
    from meshkit.data.transfer import list_transfers as listed

    return listed(svc.meshkit)


@router.get("/{name}", response_model=TransferStatus, response_model_exclude_unset=True)
def transfer_status(name: TransferName, svc: Service, _: Viewer):
    """Status and history of one transfer."""
    from meshkit.data.transfer import transfer_status as status

    found = status(svc.meshkit, name)
    if found is None:
        raise NotFoundError(f"No transfer `{name}`.", hint="Apply one with POST /api/v1/transfers.")
    return found


@router.post("", status_code=202, response_model=TransferSubmitted)
def apply_transfer(svc: Service, principal: Developer, spec: Annotated[str, SPEC]):
    """Check a spec and queue it as an execution; poll ``GET /transfers/{name}`` for its status."""
    from meshkit.data.transfer import parse_transfer

    transfer = parse_transfer(spec, "request body")
    if transfer.is_sync:
        raise ConfigError("The service runs BatchTransfers; a SyncTransfer runs until it is stopped.",
                          where="request body: kind", hint="Run it with `meshkit transfer apply FILE` where it "
                          "can keep running, or drain it on a schedule with `--until-idle` from a job.")  # fmt: skip
    check_transfer_stores(svc.meshkit, transfer)
    run = submit(svc, transfer, spec, actor=principal.subject)
    return {"name": transfer.name, "phase": "Submitted", "runId": run.id}


@router.post("/{name}/cancel", status_code=202, response_model=TransferCancelled)
def cancel_transfer(name: TransferName, svc: Service, principal: Developer):
    """Stop the running execution of a transfer; its status ends ``Failed`` with the run ``cancelled``."""
    return {"name": name, "runId": cancel(svc, name, actor=principal.subject)}


@router.get("/{name}/sources/{version}/download", responses={200: {"content": {"application/zip": {}},
                                                                   "description": "The zipped spec."}})  # fmt: skip
def download_spec(name: TransferName, version: Annotated[int, Path(ge=1)], svc: Service, _: Viewer):
    """The spec of a transfer execution, zipped as ``transfer.yaml`` (Kubernetes pods fetch it)."""
    from meshkit.service.sources import get_version
    from meshkit.service.transfer_executions import TEAM

    with svc.engine.connect() as conn:
        row = get_version(conn, TEAM, name, version, content=True)
    return Response(row["content"], media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.zip"'})  # fmt: skip
