"""Scheduler: N deployments on one cron fire on time, none twice, none lost; start latency of a run.

Anchor: the issue's target, 500 deployments on a one-minute cron start within 5 s of their tick for
10 minutes, and a run's start latency (request -> subprocess running) under 1 s. The default is
a short run: 20 deployments on a 30-second cron (seconds as a sixth field) for 2 ticks; MESHKIT_BENCH_FULL=1 runs the full
size (or MESHKIT_BENCH_DEPLOYMENTS / _TICKS). Every execution is a real run of the local executor, in a
warm worker of its zygote. Prints the CPU each execution costs the server, the zygote and the
run itself: with all deployments on one tick, that total on two cores bounds when the last run starts.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

FULL = os.environ.get("MESHKIT_BENCH_FULL") == "1"
DEPLOYMENTS = int(os.environ.get("MESHKIT_BENCH_DEPLOYMENTS", 500 if FULL else 20))
TICKS = int(os.environ.get("MESHKIT_BENCH_TICKS", 10 if FULL else 2))
CRON = "* * * * *" if FULL else "* * * * * */30"  # croniter: a sixth field is seconds
TICK_SECONDS = 60 if FULL else 30
ANCHOR_LAG = 5.0
ANCHOR_START = 1.0
TEAM = "bench"


def start_server(root: Path) -> tuple[subprocess.Popen, str, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-c", "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))", "--workspace", str(root),
           "-c", f"service_max_concurrent={DEPLOYMENTS + 5}", "-c", "service_tick_seconds=0.2", "server", "--port", str(port)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base, (root / ".meshkit" / "service" / "admin-token").read_text().strip()
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


def deploy(client: httpx.Client, name: str, schedule: str | None) -> None:
    from meshkit.service.sources import zip_folder

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / name
        folder.mkdir()
        (folder / "10_step.py").write_text("def run(job_input):\n    pass\n")
        client.post(f"/teams/{TEAM}/jobs", json={"name": name}).raise_for_status()
        client.post(
            f"/teams/{TEAM}/jobs/{name}/sources", files={"file": ("j.zip", zip_folder(folder))}
        ).raise_for_status()
    client.post(
        f"/teams/{TEAM}/jobs/{name}/deployments", json={"version": 1, "schedule": schedule}
    ).raise_for_status()


def start_latency(client: httpx.Client, engine: sa.Engine, runs: int = 5) -> tuple[list[float], list[float]]:
    """Seconds from the start request to the launched subprocess, and to the run marked running."""
    from meshkit.service.tables import executions

    launched, running = [], []
    for _ in range(runs):
        began = time.perf_counter()
        run_id = client.post(f"/teams/{TEAM}/jobs/manual/executions", json={}).raise_for_status().json()["id"]
        seen_launch = None
        while True:
            with engine.connect() as conn:
                pid = conn.execute(sa.select(executions.c.pid).where(executions.c.run_id == run_id)).scalar()
            if pid and seen_launch is None:
                seen_launch = time.perf_counter() - began
            status = client.get(f"/teams/{TEAM}/jobs/manual/executions/{run_id}").json()["status"]
            if status != "submitted":
                launched.append(seen_launch or time.perf_counter() - began)
                running.append(time.perf_counter() - began)
                break
            time.sleep(0.02)
        while client.get(f"/teams/{TEAM}/jobs/manual/executions/{run_id}").json()["state"] != "done":
            time.sleep(0.1)
    return launched, running


def process_cpu(server: int) -> dict[str, float]:
    """CPU seconds so far of the server, of its children (the zygote), and of the processes they started
    (its warm workers and forked runs, alive or ended)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            stats[int(stat.parent.name)] = [int(f) for f in stat.read_text().rsplit(")", 1)[1].split()[1:15]]
        except (OSError, ValueError):
            continue
    cpu = {"server": 0.0, "zygote": 0.0, "runs": 0.0}
    if server in stats:
        cpu["server"] = (stats[server][10] + stats[server][11]) / tick
    zygotes = {pid for pid, fields in stats.items() if fields[0] == server}
    for pid in zygotes:
        cpu["zygote"] += (stats[pid][10] + stats[pid][11]) / tick
        cpu["runs"] += (stats[pid][12] + stats[pid][13]) / tick  # the processes it waited for
    frontier = zygotes
    while frontier:  # and those alive now (warm workers), with what they waited for
        frontier = {pid for pid, fields in stats.items() if fields[0] in frontier}
        cpu["runs"] += sum(sum(stats[pid][10:14]) for pid in frontier) / tick
    return cpu


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def main() -> None:
    from meshkit.core.metadata import runs
    from meshkit.core.workspace import init_workspace
    from meshkit.service.tables import executions

    with tempfile.TemporaryDirectory() as tmp:
        root = init_workspace(Path(tmp) / "ws").root
        proc, base, token = start_server(root)
        engine = sa.create_engine(f"sqlite:///{root / '.meshkit' / 'metadata.db'}")
        try:
            client = httpx.Client(
                base_url=f"{base}/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
            )
            deploy(client, "manual", None)
            launched, running = start_latency(client, engine)
            print(f"start latency over {len(running)} runs: launch {statistics.median(launched):.3f} s, "
                  f"running {statistics.median(running):.2f} s (median); anchor {ANCHOR_START:.0f} s; "
                  f"ratio {statistics.median(running) / ANCHOR_START:.2f}x (launch {statistics.median(launched) / ANCHOR_START:.2f}x)")  # fmt: skip
            for i in range(DEPLOYMENTS):
                deploy(client, f"cron-{i:04d}", CRON)
            deployed = datetime.now(UTC)  # ticks before this one did not find every deployment yet
            print(f"{DEPLOYMENTS} deployments on `{CRON}`, waiting for {TICKS} ticks...")
            time.sleep(TICK_SECONDS * (TICKS + 1) + 2)
            for i in range(DEPLOYMENTS):  # stop scheduling, then wait for the measured runs
                client.patch(
                    f"/teams/{TEAM}/jobs/cron-{i:04d}/deployments/production", json={"enabled": False}
                )
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:  # let the measured ticks' runs start and end
                with engine.connect() as conn:
                    busy = conn.execute(sa.select(sa.func.count()).select_from(executions)
                                        .where(executions.c.state != "done")).scalar_one()  # fmt: skip
                if not busy:
                    break
                time.sleep(1)
            query = (sa.select(executions.c.job, executions.c.scheduled_for, executions.c.launched_at, runs.c.started_at, runs.c.status)
                     .select_from(executions.join(runs, runs.c.id == executions.c.run_id))
                     .where(executions.c.trigger == "scheduled"))  # fmt: skip
            with engine.connect() as conn:
                rows = conn.execute(query).all()
            cpu = process_cpu(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            engine.dispose()
    ticks = sorted({r.scheduled_for for r in rows if _utc(r.scheduled_for) > deployed})[:TICKS]
    measured = [r for r in rows if r.scheduled_for in ticks]
    keys = [(r.job, r.scheduled_for) for r in measured]
    twice = len(keys) - len(set(keys))
    lost = DEPLOYMENTS * len(ticks) - len(set(keys))
    launch_lag = [
        (_utc(r.launched_at) - _utc(r.scheduled_for)).total_seconds() for r in measured if r.launched_at
    ]
    run_lag = [
        (_utc(r.started_at) - _utc(r.scheduled_for)).total_seconds()
        for r in measured
        if r.started_at and r.status != "skipped"
    ]
    skipped = sum(r.status == "skipped" for r in measured)
    late = sum(lag > ANCHOR_LAG for lag in run_lag)
    print(
        f"{len(ticks)} ticks x {DEPLOYMENTS} deployments: {len(measured)} executions, {twice} fired twice, {lost} lost, {skipped} skipped"
    )
    total = len(rows) + 5  # and the start-latency runs
    print(f"CPU per execution: server {cpu['server'] * 1000 / total:.0f} ms (deploys and API included), "
          f"zygote {cpu['zygote'] * 1000 / total:.0f} ms, run {cpu['runs'] * 1000 / total:.0f} ms")  # fmt: skip
    if launch_lag:
        print(
            f"tick -> subprocess launched: median {statistics.median(launch_lag):.2f} s, max {max(launch_lag):.2f} s"
        )
    if run_lag:
        worst = max(run_lag)
        print(f"tick -> run marked running: median {statistics.median(run_lag):.2f} s, max {worst:.2f} s, {late} later than "
              f"{ANCHOR_LAG:.0f} s; anchor {ANCHOR_LAG:.0f} s; ratio {worst / ANCHOR_LAG:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
