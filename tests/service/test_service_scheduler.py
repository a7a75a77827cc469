"""The scheduler on SQLite: ticks fire once, overlaps are skipped, missed ticks caught up, failures retried."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from service_helpers import TEAM, deploy

from meshkit.core.metadata import runs
from meshkit.core.runs import now
from meshkit.service.tables import deployments, executions

pytestmark = pytest.mark.anyio
STEP = {"10_a.py": "def run(job_input):\n    pass\n"}


def _set_next(svc, job: str, when) -> None:
    with svc.engine.begin() as conn:
        conn.execute(deployments.update().where(deployments.c.job == job).values(next_run_at=when))


def _executions(svc, job: str) -> list[dict]:
    query = (sa.select(executions.c.scheduled_for, executions.c.trigger, executions.c.attempt, executions.c.state, runs.c.status)
             .select_from(executions.join(runs, runs.c.id == executions.c.run_id)).where(executions.c.job == job)
             .order_by(executions.c.submitted_at))  # fmt: skip
    with svc.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


async def test_each_tick_fires_once_and_overlaps_are_skipped(api, service):
    svc = service.state.service
    svc.stop()  # drive the scheduler by hand, with a clock of our own
    await deploy(api, "ticker", STEP, schedule="*/5 * * * *")
    base = now().replace(second=0, microsecond=0) + timedelta(hours=1)
    base -= timedelta(minutes=base.minute % 5)
    _set_next(svc, "ticker", base)
    assert svc.scheduler.fire_due(base - timedelta(seconds=1)) == 0
    assert svc.scheduler.fire_due(base) == 1
    assert svc.scheduler.fire_due(base + timedelta(seconds=30)) == 0  # same tick again: nothing
    assert (
        svc.scheduler.fire_due(base + timedelta(minutes=5)) == 1
    )  # next tick while the first is still queued
    rows = _executions(svc, "ticker")
    assert [(r["scheduled_for"].replace(tzinfo=None), r["status"]) for r in rows] == [
        (base.replace(tzinfo=None), "submitted"),
        ((base + timedelta(minutes=5)).replace(tzinfo=None), "skipped"),
    ]
    with svc.engine.connect() as conn:
        next_run = conn.execute(
            sa.select(deployments.c.next_run_at).where(deployments.c.job == "ticker")
        ).scalar_one()
    assert next_run.replace(tzinfo=None) == (base + timedelta(minutes=10)).replace(tzinfo=None)


async def test_missed_ticks_fire_once_or_are_caught_up(api, service):
    svc = service.state.service
    svc.stop()
    await deploy(api, "late", STEP, schedule="0 * * * *")
    await deploy(api, "eager", STEP, schedule="0 * * * *", catch_up=True)
    at = now().replace(minute=30, second=0, microsecond=0)
    for job in ("late", "eager"):
        _set_next(svc, job, at - timedelta(hours=3, minutes=30))  # three missed ticks, the fourth is due too
    with svc.engine.begin() as conn:  # let every tick be recorded, not skipped
        conn.execute(executions.update().values(state="done"))
    svc.scheduler.fire_due(at)
    late = _executions(svc, "late")
    assert [r["scheduled_for"].replace(tzinfo=None) for r in late] == [
        (at - timedelta(minutes=30)).replace(tzinfo=None)
    ]
    eager = _executions(svc, "eager")
    assert len(eager) == 4 and len({r["scheduled_for"] for r in eager}) == 4
    assert [r["status"] for r in eager] == ["submitted", "skipped", "skipped", "skipped"]


async def test_failed_scheduled_execution_is_retried(api, service):
    svc = service.state.service
    await deploy(api, "flaky", {"10_fail.py": "def run(job_input):\n    raise ValueError('boom')\n"}, schedule="0 0 1 1 *",
                 retries=1)  # fmt: skip
    _set_next(svc, "flaky", now() - timedelta(seconds=1))
    svc.wake()
    import anyio

    with anyio.fail_after(90):
        while True:
            rows = _executions(svc, "flaky")
            if len(rows) == 2 and all(r["state"] == "done" for r in rows):
                break
            await anyio.sleep(0.2)
    assert [(r["trigger"], r["attempt"], r["status"]) for r in rows] == [
        ("scheduled", 1, "user_error"),
        ("retry", 2, "user_error"),
    ]
    assert rows[0]["scheduled_for"] == rows[1]["scheduled_for"]
    job = (await api.get(f"/api/v1/teams/{TEAM}/jobs/flaky/executions")).json()
    assert "boom" in job[0]["error"]


async def test_executions_ending_together_are_finalized_once(api, service):
    """finalize_many marks a burst of ended executions done in one go; a second finalize finds none left."""
    from meshkit.core.runs import RunStore
    from meshkit.service.executions import finalize_many

    svc = service.state.service
    svc.stop()
    for job in ("a", "b", "c"):
        await deploy(api, job, STEP, schedule="*/5 * * * *")
        _set_next(svc, job, now() - timedelta(seconds=1))
    assert svc.scheduler.fire_due(now()) == 3
    ids = {r["job"]: r["run_id"] for r in _rows(svc)}
    with svc.engine.begin() as conn:
        conn.execute(executions.update().values(state="launched"))
    store = RunStore(svc.meshkit.metadata)
    done = store.get(ids["a"])
    store.start(done, owned=False)
    store.finish(done, "succeeded")  # the job recorded its own end; b and c ended without one
    ended = [
        (ids["a"], 0, "the process exited"),
        (ids["b"], -9, "the process exited"),
        (ids["c"], 1, "the process exited"),
    ]
    assert finalize_many(svc, ended) == {
        ids["a"]: "succeeded",
        ids["b"]: "platform_error",
        ids["c"]: "platform_error",
    }
    assert finalize_many(svc, ended) == {}  # another process finalizing the same executions wins none
    assert {r["job"]: (r["state"], r["status"]) for r in _rows(svc)} == {
        "a": ("done", "succeeded"),
        "b": ("done", "platform_error"),
        "c": ("done", "platform_error"),
    }
    assert "exit code -9" in store.get(ids["b"]).error


def _rows(svc) -> list[dict]:
    query = (sa.select(executions.c.job, executions.c.run_id, executions.c.state, runs.c.status)
             .select_from(executions.join(runs, runs.c.id == executions.c.run_id)))  # fmt: skip
    with svc.engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]
