"""Data jobs registered with the control service, per team (VDK's Jobs API)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from meshkit.core.metadata import runs
from meshkit.core.runs import now
from meshkit.service import audit
from meshkit.service.exceptions import ConflictError, NotFoundError
from meshkit.service.reads import read
from meshkit.service.tables import deployments, executions, jobs, sources

#: Team, job and deployment names: lowercase letters, digits, ``-`` and ``_``.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def get_job(conn: sa.Connection, team: str, name: str) -> dict[str, Any]:
    row = conn.execute(sa.select(jobs).where(jobs.c.team == team, jobs.c.name == name)).mappings().first()
    if row is None:
        raise NotFoundError(
            f"Team `{team}` has no job `{name}`.", hint=f"Create it with POST /api/v1/teams/{team}/jobs."
        )
    return dict(row)


def list_jobs(engine: sa.Engine, *, teams: list[str] | None, name: str | None = None, limit: int = 50,
              offset: int = 0) -> list[dict[str, Any]]:  # fmt: skip
    """Jobs of ``teams`` (all teams when ``None``), by team and name; ``name`` filters by substring.

    The page is cut first, so the last status is looked up only for the jobs returned.
    """
    page = sa.select(jobs).order_by(jobs.c.team, jobs.c.name).limit(limit).offset(offset)
    if teams is not None:
        page = page.where(jobs.c.team.in_(teams))
    if name:
        page = page.where(jobs.c.name.contains(name, autoescape=True))
    page = page.subquery("page")
    last = (sa.select(runs.c.status).where(runs.c.kind == "job", runs.c.team == page.c.team, runs.c.name == page.c.name)
            .order_by(runs.c.created_at.desc()).limit(1).scalar_subquery())  # fmt: skip
    query = sa.select(page, last.label("last_status")).order_by(page.c.team, page.c.name)
    return read(engine, lambda conn: [dict(row) for row in conn.execute(query).mappings()])


def create_job(engine: sa.Engine, team: str, name: str, *, description: str = "", contacts: dict | None = None,
               actor: str) -> dict[str, Any]:  # fmt: skip
    at = now()
    row = {"team": team, "name": name, "description": description, "contacts": contacts or {},
           "created_by": actor, "created_at": at, "updated_at": at}  # fmt: skip
    try:
        with engine.begin() as conn:
            conn.execute(jobs.insert().values(row))
            audit.record(conn, actor, "job.create", team=team, target=name)
    except sa.exc.IntegrityError:
        raise ConflictError(
            f"Team `{team}` already has a job `{name}`.", hint="Choose another name or PATCH the job."
        ) from None
    return row


def update_job(
    engine: sa.Engine, team: str, name: str, changes: dict[str, Any], *, actor: str
) -> dict[str, Any]:
    with engine.begin() as conn:
        get_job(conn, team, name)
        if changes:
            conn.execute(
                jobs.update()
                .where(jobs.c.team == team, jobs.c.name == name)
                .values(**changes, updated_at=now())
            )
            audit.record(
                conn, actor, "job.update", team=team, target=name, details={"fields": sorted(changes)}
            )
        return get_job(conn, team, name)


def delete_job(engine: sa.Engine, team: str, name: str, *, actor: str) -> None:
    """Delete a job with its sources and deployments; its execution history stays."""
    with engine.begin() as conn:
        get_job(conn, team, name)
        active = conn.execute(
            sa.select(sa.func.count()).select_from(executions)
            .where(executions.c.team == team, executions.c.job == name, executions.c.state.in_(("queued", "launched")))
        ).scalar_one()  # fmt: skip
        if active:
            raise ConflictError(
                f"Job `{name}` has {active} execution(s) in progress.", hint="Cancel them first."
            )
        for table in (deployments, sources):
            conn.execute(table.delete().where(table.c.team == team, table.c.job == name))
        conn.execute(jobs.delete().where(jobs.c.team == team, jobs.c.name == name))
        audit.record(conn, actor, "job.delete", team=team, target=name)
