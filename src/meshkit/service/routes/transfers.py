"""Transfers (Fybrik-style BatchTransfer and SyncTransfer specs): apply a spec, read status and history.

A SyncTransfer runs as a long-lived process the service restarts when it dies
(:mod:`meshkit.service.streams`), until ``DELETE /transfers/{name}/stream``.

Transfers belong to the workspace rather than to a team, so reading needs a role on ``*`` (any
team admin grants it with ``--role *=viewer``) and applying needs developer on ``*``. Applied
transfers use the workspace's stores only (see :mod:`meshkit.service.transfer_stores`).
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path

from meshkit.service import audit
from meshkit.service.exceptions import NotFoundError
from meshkit.service.routes import API, ERRORS, Developer, Service, Viewer
from meshkit.service.transfer_stores import check_transfer_stores

router = APIRouter(prefix=f"{API}/transfers", responses=ERRORS, tags=["transfers"])
TransferName = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")]
SPEC = Body(media_type="application/yaml", description="A BatchTransfer spec in YAML.", max_length=1_000_000)


@router.get("", response_model=list[dict[str, Any]])
def list_transfers(svc: Service, _: Viewer):
    """Every known transfer with its phase and last status."""
    from meshkit.data.transfer import list_transfers as listed

    return listed(svc.meshkit)


@router.get("/{name}", response_model=dict[str, Any])
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


@router.post("", status_code=202, response_model=dict[str, Any])
def apply_transfer(svc: Service, principal: Developer, spec: Annotated[str, SPEC]):
    """Check a spec and run it in the background; poll ``GET /transfers/{name}`` for its status."""
    from meshkit.data.transfer import parse_transfer, run_transfer

    transfer = parse_transfer(spec, "request body")
    check_transfer_stores(svc.meshkit, transfer)
    with svc.engine.begin() as conn:
        audit.record(conn, principal.subject, "transfer.apply", target=transfer.name)
    if transfer.is_sync:  # runs until stopped (DELETE .../stream), restarted when its process dies
        svc.streams.start(transfer.name, spec)
        return {"name": transfer.name, "phase": "Running"}
    threading.Thread(
        target=run_transfer, args=(svc.meshkit, transfer), name=f"transfer-{transfer.name}", daemon=True
    ).start()
    return {"name": transfer.name, "phase": "Submitted"}
