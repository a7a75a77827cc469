"""The scheduler: fires each cron tick of each enabled deployment exactly once, and retries failures.

Every server process runs it. A tick is claimed by an atomic
``UPDATE ... SET next_run_at = <next> WHERE next_run_at = <tick>``: of several processes on one
database exactly one sees its update succeed, and it records the execution in the same
transaction, so a tick is neither fired twice nor lost. Ticks are claimed up to ``CHUNK`` per
transaction, in one order in every process (no deadlocks between them). Without ``catch_up`` a
deployment whose ticks were missed (server down) fires once for the latest one; with it, once
for each.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from croniter import croniter

from meshkit.core.metadata import runs
from meshkit.service.deployments import Deployment, next_tick
from meshkit.service.executions import submit, submit_many
from meshkit.service.tables import deployments, executions

if TYPE_CHECKING:
    from meshkit.service.runtime import ControlService

log = logging.getLogger("meshkit.service")
BATCH = 500
#: Ticks claimed per transaction.
CHUNK = 100
#: The due ticks, built once (every tick of the worker loop asks). NOTE: one total order in every
#: process, so chunks lock their rows in the same order.
_DUE = (sa.select(deployments)
        .where(deployments.c.enabled.is_(True), deployments.c.next_run_at <= sa.bindparam("at"))
        .order_by(deployments.c.next_run_at, deployments.c.team, deployments.c.job, deployments.c.id)
        .limit(BATCH))  # fmt: skip
#: The failed executions waiting for their next attempt, built once too.
_RETRIES = (sa.select(executions, runs.c.ended_at)
            .select_from(executions.join(runs, runs.c.id == executions.c.run_id))
            .where(executions.c.state == "retry").order_by(executions.c.submitted_at).limit(BATCH))  # fmt: skip


def latest_tick(schedule: str, timezone: str, at: datetime) -> datetime:
    """The last tick of ``schedule`` at or before ``at``, in UTC."""
    local = (at + timedelta(microseconds=1)).astimezone(ZoneInfo(timezone))
    return croniter(schedule, local).get_prev(datetime).astimezone(UTC)


class _Ticks:
    """The ticks a claim at ``at`` fires and moves to, computed once per schedule (a burst shares one)."""

    def __init__(self, at: datetime):
        self.at = at
        self._known: dict[tuple, tuple[datetime, datetime]] = {}

    def fire(self, deployment: Deployment, tick: datetime) -> tuple[datetime, datetime]:
        """``(scheduled_for, following)``: without ``catch_up`` the latest tick fires once, else each."""
        key = (deployment.schedule, deployment.timezone, tick, deployment.catch_up)
        if key not in self._known:
            schedule, zone = deployment.schedule, deployment.timezone
            if deployment.catch_up:
                self._known[key] = tick, next_tick(schedule, zone, tick)
            else:
                latest = max(tick, latest_tick(schedule, zone, self.at))
                self._known[key] = latest, next_tick(schedule, zone, max(tick, self.at))
        return self._known[key]


class Scheduler:
    """Fires due deployments and due retries for one server process."""

    def __init__(self, svc: ControlService):
        self.svc = svc

    def fire_due(self, at: datetime) -> int:
        """Fire every tick due at ``at``; returns how many this process fired."""
        fired = 0
        while True:
            with self.svc.engine.connect() as conn:
                due = [Deployment.from_row(r) for r in conn.execute(_DUE, {"at": at}).mappings()]
            if not due:
                return fired
            won = 0
            for start in range(0, len(due), CHUNK):
                won += self._fire_chunk(due[start : start + CHUNK], at)
            fired += won
            if not won and len(due) < BATCH:
                return fired

    def _fire_chunk(self, chunk: list[Deployment], at: datetime) -> int:
        """Claim and record the ticks of ``chunk`` in one transaction; returns how many this process won."""
        ticks = _Ticks(at)
        try:
            with self.svc.engine.begin() as conn:
                won = [(d, tick) for d in chunk if (tick := self._claim(conn, d, ticks)) is not None]
                submit_many(self.svc, conn, won, trigger="scheduled", actor="scheduler")
        except sa.exc.OperationalError as exc:  # e.g. a lock timeout: another process holds these ticks
            log.info("%d ticks not fired by this process: %s", len(chunk), exc.orig)
            return 0
        for _, scheduled_for in won:
            self.svc.metrics.scheduler_lag.observe(max(0.0, (at - scheduled_for).total_seconds()))
        return len(won)

    @staticmethod
    def _claim(conn: sa.Connection, deployment: Deployment, ticks: _Ticks) -> datetime | None:
        """Claim this tick of ``deployment`` (move its next tick on); returns the tick to fire, if won."""
        tick = deployment.next_run_at
        if not deployment.schedule:
            return None
        scheduled_for, following = ticks.fire(deployment, tick)
        key = (
            (deployments.c.team == deployment.team)
            & (deployments.c.job == deployment.job)
            & (deployments.c.id == deployment.id)
        )
        won = conn.execute(deployments.update().where(key, deployments.c.next_run_at == tick)
                           .values(next_run_at=following)).rowcount  # fmt: skip
        return scheduled_for if won else None

    def retry_due(self, at: datetime) -> int:
        """Start the next attempt of failed executions whose retry delay has passed."""
        with self.svc.engine.connect() as conn:
            waiting = conn.execute(_RETRIES).mappings().all()
        started = 0
        for row in waiting:
            key = (
                (deployments.c.team == row["team"])
                & (deployments.c.job == row["job"])
                & (deployments.c.id == row["deployment"])
            )
            with self.svc.engine.begin() as conn:
                found = conn.execute(sa.select(deployments).where(key)).mappings().first()
                ended = (
                    row["ended_at"].replace(tzinfo=UTC) if row["ended_at"].tzinfo is None else row["ended_at"]
                )
                if found is not None and ended + timedelta(seconds=found["retry_delay"]) > at:
                    continue
                won = conn.execute(executions.update().where(executions.c.run_id == row["run_id"], executions.c.state == "retry")
                                   .values(state="done")).rowcount  # fmt: skip
                if not won or found is None:
                    continue
                submit(self.svc, conn, Deployment.from_row(found), trigger="retry", actor="scheduler",
                       scheduled_for=row["scheduled_for"], attempt=row["attempt"] + 1)  # fmt: skip
                started += 1
        return started
