"""Transfers (Fybrik-style BatchTransfer and SyncTransfer specs): apply a spec, read status and history.

A SyncTransfer runs as a long-lived process the service restarts when it dies
(:mod:`meshkit.service.streams`), until ``DELETE /transfers/{name}/stream``.

Transfers belong to the workspace rather than to a team, so reading needs a role on ``*`` (any
team admin grants it with ``--role *=viewer``) and applying needs developer on ``*``. Applied
transfers use the workspace's stores only (see :mod:`meshkit.service.transfer_stores`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Response

from meshkit.service import audit
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
    supervised = svc.streams.describe(name)
    if found is None and supervised is None:
        raise NotFoundError(f"No transfer `{name}`.", hint="Apply one with POST /api/v1/transfers.")
    return {
        **(found or {"name": name, "phase": "Pending"}),
        **({"supervised": supervised} if supervised else {}),
    }


@router.delete("/{name}/stream", response_model=dict[str, Any])
def stop_stream(name: TransferName, svc: Service, principal: Developer):
    """Stop a SyncTransfer the service runs (SIGTERM: it ends after its current batch)."""
    if not svc.streams.stop(name):
        raise NotFoundError(
            f"The service runs no SyncTransfer `{name}`.", hint="GET /api/v1/transfers lists them."
        )
    with svc.engine.begin() as conn:
        audit.record(conn, principal.subject, "transfer.stop", target=name)
    return {"name": name, "stopped": True}


@router.post("", status_code=202, response_model=TransferSubmitted)
def apply_transfer(svc: Service, principal: Developer, spec: Annotated[str, SPEC]):
    """Check a spec and queue it as an execution; poll ``GET /transfers/{name}`` for its status."""
    from meshkit.data.transfer import parse_transfer

    transfer = parse_transfer(spec, "request body")
    check_transfer_stores(svc.meshkit, transfer)
    if transfer.is_sync:  # runs until stopped (DELETE .../stream), restarted when its process dies
        with svc.engine.begin() as conn:
            audit.record(conn, principal.subject, "transfer.apply", target=transfer.name)
        svc.streams.start(transfer.name, spec)
        return {"name": transfer.name, "phase": "Running"}
    run = submit(svc, transfer, spec, actor=principal.subject)
    return {"name": transfer.name, "phase": "Submitted", "runId": run.id}


@router.post("/{name}/cancel", status_code=202, response_model=TransferCancelled)
def cancel_transfer(name: TransferName, svc: Service, principal: Developer):
    """Stop the running execution of a transfer; its status ends ``Failed`` with the run ``cancelled``."""
    return {"name": name, "runId": cancel(svc, name, actor=principal.subject)}


@router.get("/{name}/sources/{version}/download", responses={200: {"content": {"application/zip": {}},
                                                                   "description": "The zipped spec."}})  # fmt: skip
def download_spec(
    name: TransferName, version: Annotated[int, Path(ge=1, le=2**31 - 1)], svc: Service, _: Viewer
):
    """The spec of a transfer execution, zipped as ``transfer.yaml`` (Kubernetes pods fetch it)."""
    from meshkit.service.sources import get_version
    from meshkit.service.transfer_executions import TEAM

    with svc.engine.connect() as conn:
        row = get_version(conn, TEAM, name, version, content=True)
    return Response(row["content"], media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}-v{version}.zip"'})  # fmt: skip
