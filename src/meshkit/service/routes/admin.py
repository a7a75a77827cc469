"""Caller identity, API tokens and the audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from meshkit.service import audit, auth
from meshkit.service.exceptions import NotFoundError
from meshkit.service.models import AuditEntry, TokenCreate, TokenCreated, TokenInfo, WhoAmI
from meshkit.service.routes import API, ERRORS, Admin, Service, Team, Viewer

router = APIRouter(prefix=API, responses=ERRORS)


@router.get("/whoami", response_model=WhoAmI, tags=["auth"])
def whoami(request_principal: Annotated[auth.Principal, Depends(auth.principal_of)]):
    """The caller's subject and roles (any valid credential)."""
    return {
        "subject": request_principal.subject,
        "roles": request_principal.roles,
        "via": request_principal.via,
    }


@router.get("/tokens", response_model=list[TokenInfo], tags=["auth"])
def list_tokens(svc: Service, _: Admin):
    """Every API token (without its secret); needs admin on ``*``."""
    return auth.list_tokens(svc.engine)


@router.post("/tokens", response_model=TokenCreated, status_code=201, tags=["auth"])
def create_token(body: TokenCreate, svc: Service, principal: Admin):
    """Create an API token; the response is the only time its value is shown."""
    token_id, token = auth.create_token(svc.engine, name=body.name, subject=body.subject, roles=body.roles,
                                        expires_in_days=body.expires_in_days)  # fmt: skip
    with svc.engine.begin() as conn:
        audit.record(
            conn,
            principal.subject,
            "token.create",
            target=token_id,
            details={"subject": body.subject, "roles": body.roles},
        )
    info = next(t for t in auth.list_tokens(svc.engine) if t["id"] == token_id)
    return {**info, "token": token}


@router.delete("/tokens/{token_id}", status_code=204, tags=["auth"])
def revoke_token(token_id: Annotated[str, Path(pattern=r"^[0-9a-f]{1,32}$")], svc: Service, principal: Admin):
    if not auth.revoke_token(svc.engine, token_id):
        raise NotFoundError(f"No active token `{token_id}`.", hint="List tokens with GET /api/v1/tokens.")
    svc.auth.forget()
    with svc.engine.begin() as conn:
        audit.record(conn, principal.subject, "token.revoke", target=token_id)
    return Response(status_code=204)


@router.get("/teams/{team}/audit", response_model=list[AuditEntry], tags=["audit"])
def team_audit(team: Team, svc: Service, _: Viewer, action: Annotated[str | None, Query(max_length=64)] = None,
               limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):  # fmt: skip
    """Who deployed, started, cancelled or changed what in the team, newest first."""
    return audit.entries(svc.engine, team=team, action=action, limit=limit, offset=offset)
