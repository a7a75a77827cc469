"""The audit log: who deployed, started, cancelled or changed what, and when."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from meshkit.core.runs import now
from meshkit.service.tables import audit_log


def record(conn: sa.Connection, actor: str, action: str, *, team: str | None = None, target: str | None = None,
           details: dict[str, Any] | None = None) -> None:  # fmt: skip
    """Add an entry inside the caller's transaction, so the change and its record commit together."""
    conn.execute(
        audit_log.insert().values(
            at=now(), actor=actor, team=team, action=action, target=target, details=details or {}
        )
    )


def entries(engine: sa.Engine, *, team: str | None = None, action: str | None = None, limit: int = 50,
            offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first, filtered by team and action."""
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset)
    if team is not None:
        query = query.where(audit_log.c.team == team)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
