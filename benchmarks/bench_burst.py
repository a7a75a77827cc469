"""Scheduler burst: N deployments on one cron tick, from the tick to every run marked running.

Anchor: the issue's target, 500 deployments on one cron tick all running within 5 s of it. A
control service (the real one, in this process, with the local executor) holds N deployments of a
one-step job (MESHKIT_BENCH_DEPLOYMENTS, default 500) on a 30-second cron, all given at once the next
tick a few seconds ahead, after one manual execution warmed the executor. Printed: the
time from the tick to the last execution launched and to the last run marked running (the ratio
against 5 s), none fired twice or lost, and the CPU each execution cost the server, the zygote
and the processes that ran it (on two cores, 500 runs in 5 s leave 20 ms each), with the CPU
seconds in all and the load average (on a shared machine the wall time follows the load; the CPU
decides whether 5 s is reachable on two free cores).
MESHKIT_BENCH_METADATA_URL runs it on another metadata database (e.g. PostgreSQL).
"""

from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

DEPLOYMENTS = int(os.environ.get("MESHKIT_BENCH_DEPLOYMENTS", 500))
METADATA_URL = os.environ.get("MESHKIT_BENCH_METADATA_URL")
CRON = "* * * * * */30"  # croniter: a sixth field is seconds
ANCHOR = 5.0
BUDGET_MS = 2 * ANCHOR / 500 * 1000
TEAM = "bench"
STEP = "def run(job_input):\n    pass\n"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def deploy_all(svc) -> None:
    from meshkit.service import deployments, jobs, sources

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "job"
        folder.mkdir()
        (folder / "10_step.py").write_text(STEP)
        archive = sources.zip_folder(folder)
    for i in range(DEPLOYMENTS + 1):
        name = f"cron-{i:04d}" if i < DEPLOYMENTS else "warm"
        jobs.create_job(svc.engine, TEAM, name, actor="bench")
        sources.upload(svc.engine, TEAM, name, archive, max_bytes=svc.max_source_bytes, actor="bench")
        svc.prepare_source(TEAM, name, 1)  # as deploying through the API does
        # NOTE: no schedule yet: all get the same tick below
        deployments.deploy(svc.engine, TEAM, name, {"version": 1}, actor="bench")


def warm(svc) -> None:
    """One manual execution: the executor's zygote is up and the server's code paths are warm."""
    from meshkit.service import executions as ex

    run_id = ex.start(svc, TEAM, "warm", deployment_id=None, arguments=None, actor="bench")["id"]
    while ex.get(svc.engine, TEAM, "warm", run_id)["state"] != "done":
        time.sleep(0.1)


def next_tick(after: datetime) -> datetime:
    from croniter import croniter

    return croniter(CRON, after).get_next(datetime).astimezone(UTC)


def descendants_cpu(root: int) -> float:
    """CPU seconds of ``root``'s descendants alive now, and of those they waited for."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, cpu = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(f) for f in fields[11:15]) / tick
    total, frontier = 0.0, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier}
        total += sum(cpu[pid] for pid in frontier)
    return total


def main() -> int:
    from meshkit.core.context import Meshkit
    from meshkit.core.metadata import runs
    from meshkit.core.workspace import init_workspace
    from meshkit.service.runtime import ControlService
    from meshkit.service.tables import deployments, executions

    with tempfile.TemporaryDirectory() as tmp:
        workspace = init_workspace(Path(tmp) / "ws")
        overrides = {"service_max_concurrent": DEPLOYMENTS + 5, "service_tick_seconds": 0.1}
        if METADATA_URL:
            overrides["metadata_url"] = METADATA_URL
        mk = Meshkit(workspace, overrides=overrides)
        svc = ControlService(mk)
        try:
            svc.start()
            deploy_all(svc)
            warm(svc)
            tick = next_tick(datetime.now(UTC) + timedelta(seconds=3))
            with svc.engine.begin() as conn:
                conn.execute(
                    deployments.update()
                    .where(deployments.c.job != "warm")
                    .values(schedule=CRON, next_run_at=tick)
                )
            fired = executions.c.trigger == "scheduled"
            cpu_before = resource.getrusage(resource.RUSAGE_SELF), descendants_cpu(os.getpid())
            load_before = os.getloadavg()[0]
            time.sleep(max(0.0, (tick - datetime.now(UTC)).total_seconds()))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                with svc.engine.connect() as conn:
                    count = conn.execute(
                        sa.select(sa.func.count()).select_from(executions).where(fired)
                    ).scalar_one()
                    if count >= DEPLOYMENTS:  # the tick fired: no further one in this measure
                        conn.execute(deployments.update().values(enabled=False))
                        conn.commit()
                    busy = conn.execute(sa.select(sa.func.count()).select_from(executions)
                                        .where(fired, executions.c.state != "done")).scalar_one()  # fmt: skip
                if count >= DEPLOYMENTS and not busy:
                    break
                time.sleep(0.2)
            server = resource.getrusage(resource.RUSAGE_SELF)
            server_cpu = server.ru_utime + server.ru_stime - cpu_before[0].ru_utime - cpu_before[0].ru_stime
            others_cpu = descendants_cpu(os.getpid()) - cpu_before[1]
            load_after = os.getloadavg()[0]
            query = (sa.select(executions.c.job, executions.c.scheduled_for, executions.c.launched_at, executions.c.pid,
                               runs.c.started_at, runs.c.status)
                     .select_from(executions.join(runs, runs.c.id == executions.c.run_id)).where(fired))  # fmt: skip
            with svc.engine.connect() as conn:
                rows = conn.execute(query).all()
        finally:
            svc.stop()
            mk.close()
    jobs = [r.job for r in rows]
    twice, lost = len(jobs) - len(set(jobs)), DEPLOYMENTS - len(set(jobs))
    launched = [(_utc(r.launched_at) - tick).total_seconds() for r in rows if r.launched_at]
    running = [(_utc(r.started_at) - tick).total_seconds() for r in rows if r.started_at]
    statuses = {s: sum(r.status == s for r in rows) for s in {r.status for r in rows}}
    print(f"{DEPLOYMENTS} deployments on one tick ({'metadata ' + METADATA_URL.split('://')[0] if METADATA_URL else 'SQLite metadata'}): "
          f"{len(rows)} executions in {len({r.pid for r in rows})} processes, {twice} fired twice, {lost} lost; {statuses}")  # fmt: skip
    per_run = (server_cpu + others_cpu) * 1000 / len(rows)
    print(f"CPU total {server_cpu + others_cpu:.2f} s (server {server_cpu:.2f}, executor processes {others_cpu:.2f}) on "
          f"{os.cpu_count()} cores; load average {load_before:.1f} at the tick, {load_after:.1f} at the end")  # fmt: skip
    print(f"CPU per execution: {per_run:.1f} ms (server {server_cpu * 1000 / len(rows):.1f}, executor processes "
          f"{others_cpu * 1000 / len(rows):.1f}); budget of 500 runs in 5 s on 2 cores {BUDGET_MS:.0f} ms; "
          f"ratio {per_run / BUDGET_MS:.2f}x")  # fmt: skip
    if launched:
        print(f"tick -> launched: median {statistics.median(launched):.2f} s, last {max(launched):.2f} s")
    if len(running) < DEPLOYMENTS:
        print(f"only {len(running)} of {DEPLOYMENTS} runs were marked running")
        return 1
    worst = max(running)
    print(f"tick -> all {DEPLOYMENTS} running: {worst:.2f} s (median {statistics.median(running):.2f} s); "
          f"anchor {ANCHOR:.0f} s; ratio {worst / ANCHOR:.2f}x")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
