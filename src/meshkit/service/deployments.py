"""Deployments: a job's source version with a schedule, arguments and a retry and timeout policy."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import croniter

from meshkit.core.runs import now
from meshkit.service import audit
from meshkit.service.exceptions import ApiError, NotFoundError
from meshkit.service.jobs import get_job
from meshkit.service.sources import get_version
from meshkit.service.tables import deployments

DEFAULT_DEPLOYMENT = "production"


@dataclass
class Deployment:
    """One deployment of a job (a job may have several, e.g. ``production`` and ``backfill``)."""

    team: str
    job: str
    id: str
    version: int
    schedule: str | None = None
    timezone: str = "UTC"
    arguments: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    retries: int = 0
    retry_delay: int = 0
    timeout: int | None = None
    catch_up: bool = False
    next_run_at: datetime | None = None
    updated_by: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_row(cls, row) -> Deployment:
        data = {f.name: row[f.name] for f in fields(cls)}
        for key in ("next_run_at", "created_at", "updated_at"):
            if data[key] is not None and data[key].tzinfo is None:
                data[key] = data[key].replace(tzinfo=UTC)
        data["arguments"] = data["arguments"] or {}
        return cls(**data)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_schedule(schedule: str | None, timezone: str) -> None:
    """Raise an ApiError naming the field when the cron expression or time zone is invalid."""
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError(f"Unknown time zone `{timezone}`.", where="timezone", hint="Use an IANA name such as Europe/Berlin.",
                       code="invalid_schedule") from None  # fmt: skip
    if schedule is not None and (len(schedule) > 120 or not croniter.is_valid(schedule)):
        raise ApiError(f"`{schedule}` is not a cron expression.", where="schedule", code="invalid_schedule",
                       hint="Use five fields (minute hour day month weekday), e.g. `*/15 * * * *`, or @hourly/@daily.")  # fmt: skip


def next_tick(schedule: str, timezone: str, after: datetime) -> datetime:
    """The first tick of ``schedule`` strictly after ``after``, in UTC."""
    local = after.astimezone(ZoneInfo(timezone))
    return croniter(schedule, local).get_next(datetime).astimezone(UTC)


def _where(team: str, job: str, deployment_id: str):
    return (deployments.c.team == team) & (deployments.c.job == job) & (deployments.c.id == deployment_id)


def get(conn: sa.Connection, team: str, job: str, deployment_id: str) -> Deployment:
    row = conn.execute(sa.select(deployments).where(_where(team, job, deployment_id))).mappings().first()
    if row is None:
        raise NotFoundError(
            f"Job `{team}/{job}` has no deployment `{deployment_id}`.",
            hint="Deploy it first (`meshkit deploy`).",
        )
    return Deployment.from_row(row)


def list_for_job(engine: sa.Engine, team: str, job: str) -> list[Deployment]:
    with engine.connect() as conn:
        get_job(conn, team, job)
        query = (
            sa.select(deployments)
            .where(deployments.c.team == team, deployments.c.job == job)
            .order_by(deployments.c.id)
        )
        return [Deployment.from_row(r) for r in conn.execute(query).mappings()]


def deploy(
    engine: sa.Engine, team: str, job: str, values: dict[str, Any], *, actor: str
) -> tuple[Deployment, str]:
    """Create or replace deployment ``values["id"]``; returns it and ``"deployed"`` or ``"updated"``."""
    deployment_id = values.get("id") or DEFAULT_DEPLOYMENT
    values = {k: v for k, v in values.items() if k != "id" and v is not None}
    check_schedule(values.get("schedule"), values.get("timezone", "UTC"))
    at = now()
    with engine.begin() as conn:
        get_job(conn, team, job)
        get_version(conn, team, job, values["version"])
        exists = (
            conn.execute(sa.select(deployments.c.id).where(_where(team, job, deployment_id))).first()
            is not None
        )
        row = Deployment(team, job, deployment_id, **values).as_dict()
        row.update(updated_by=actor, updated_at=at, next_run_at=_first_tick(row, at))
        if exists:
            row.pop("created_at")
            conn.execute(deployments.update().where(_where(team, job, deployment_id)).values(row))
        else:
            conn.execute(deployments.insert().values({**row, "created_at": at}))
        action = "updated" if exists else "deployed"
        audit.record(conn, actor, f"deployment.{'update' if exists else 'create'}", team=team, target=f"{job}/{deployment_id}",
                     details={k: v for k, v in values.items() if k != "arguments"})  # fmt: skip
        return get(conn, team, job, deployment_id), action


def patch(
    engine: sa.Engine, team: str, job: str, deployment_id: str, changes: dict[str, Any], *, actor: str
) -> Deployment:
    """Change some fields; the schedule's next tick is recomputed when schedule, zone or enabled change."""
    with engine.begin() as conn:
        current = get(conn, team, job, deployment_id).as_dict()
        merged = {**current, **changes}
        check_schedule(merged["schedule"], merged["timezone"])
        if "version" in changes:
            get_version(conn, team, job, changes["version"])
        if changes:
            at = now()
            values = {**changes, "updated_by": actor, "updated_at": at}
            if {"schedule", "timezone", "enabled"} & set(changes):
                values["next_run_at"] = _first_tick(merged, at)
            conn.execute(deployments.update().where(_where(team, job, deployment_id)).values(values))
            audit.record(conn, actor, "deployment.update", team=team, target=f"{job}/{deployment_id}",
                         details={k: v for k, v in changes.items() if k != "arguments"})  # fmt: skip
        return get(conn, team, job, deployment_id)


def undeploy(engine: sa.Engine, team: str, job: str, deployment_id: str, *, actor: str) -> Deployment:
    with engine.begin() as conn:
        deployment = get(conn, team, job, deployment_id)
        conn.execute(deployments.delete().where(_where(team, job, deployment_id)))
        audit.record(conn, actor, "deployment.delete", team=team, target=f"{job}/{deployment_id}")
    return deployment


def _first_tick(row: dict[str, Any], at: datetime) -> datetime | None:
    if not row.get("schedule") or not row.get("enabled", True):
        return None
    return next_tick(row["schedule"], row.get("timezone") or "UTC", at)
