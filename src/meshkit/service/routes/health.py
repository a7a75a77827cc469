"""Health, readiness and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Depends, Response

from meshkit.service.auth import principal_of
from meshkit.service.routes import Service

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz():
    """The process is up (no authentication)."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "The metadata database is unreachable."}})
def readyz(svc: Service):
    """The metadata database answers (no authentication)."""
    try:
        with svc.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return Response('{"status": "unavailable"}', status_code=503, media_type="application/json")
    return {"status": "ready"}


@router.get(
    "/metrics", dependencies=[Depends(principal_of)], responses={200: {"content": {"text/plain": {}}}}
)
def metrics(svc: Service):
    """Prometheus metrics (any valid credential: scrape with a bearer token)."""
    return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")
