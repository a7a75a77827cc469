"""Transfers (Fybrik-style BatchTransfer specs): apply a spec, read status and history.

Transfers belong to the workspace rather than to a team, so reading needs a role on ``*`` (any
team admin grants it with ``--role *=viewer``) and applying needs developer on ``*``. Applied
transfers use the workspace's stores only (see :mod:`meshkit.service.transfer_stores`).
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Body, Path

from meshkit.core.errors import ConfigError
from meshkit.service import audit
from meshkit.service.exceptions import NotFoundError
from meshkit.service.models import TransferStatus, TransferSubmitted
from meshkit.service.routes import API, ERRORS, Developer, Service, Viewer
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
    """Check a spec and run it in the background; poll ``GET /transfers/{name}`` for its status."""
    from meshkit.data.transfer import parse_transfer, run_transfer

    transfer = parse_transfer(spec, "request body")
    if transfer.is_sync:
        raise ConfigError("The service runs BatchTransfers; a SyncTransfer runs until it is stopped.",
                          where="request body: kind", hint="Run it with `meshkit transfer apply FILE` where it "
                          "can keep running, or drain it on a schedule with `--until-idle` from a job.")  # fmt: skip
    check_transfer_stores(svc.meshkit, transfer)
    with svc.engine.begin() as conn:
        audit.record(conn, principal.subject, "transfer.apply", target=transfer.name)
    threading.Thread(
        target=run_transfer, args=(svc.meshkit, transfer), name=f"transfer-{transfer.name}", daemon=True
    ).start()
    return {"name": transfer.name, "phase": "Submitted"}
