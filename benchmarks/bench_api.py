"""API latency of the control service on PostgreSQL: p99 of list/get endpoints at a fixed request rate.

Anchor: the issue's target, p99 under 50 ms at 200 requests/s with 1,000 jobs and 100,000
executions. Default scale is 200 jobs and 20,000 executions for 10 s; set MESHKIT_BENCH_FULL=1 for
the full size (or MESHKIT_BENCH_JOBS / _EXECUTIONS / _RATE / _SECONDS). Also prints the server's
CPU time per request, which shows what one machine can carry even when other processes share it.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa

FULL = os.environ.get("MESHKIT_BENCH_FULL") == "1"
JOBS = int(os.environ.get("MESHKIT_BENCH_JOBS", 1000 if FULL else 200))
EXECUTIONS = int(os.environ.get("MESHKIT_BENCH_EXECUTIONS", 100_000 if FULL else 20_000))
RATE = float(os.environ.get("MESHKIT_BENCH_RATE", 200))
SECONDS = float(os.environ.get("MESHKIT_BENCH_SECONDS", 30 if FULL else 10))
PG_DSN = os.environ.get("MESHKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
ANCHOR_P99_MS = 50.0
TEAM = "bench"


def seed(url: str, root: Path) -> tuple[str, list[str], list[tuple[str, str]]]:
    """Jobs, deployments and executions straight into the metadata database; returns an admin token."""
    from meshkit.core.context import Meshkit
    from meshkit.core.metadata import runs
    from meshkit.core.workspace import init_workspace
    from meshkit.service.auth import create_token
    from meshkit.service.tables import executions, jobs

    mk = Meshkit(init_workspace(root), overrides={"metadata_url": url})
    engine = mk.metadata.engine
    _, token = create_token(engine, name="bench", subject="bench", roles={TEAM: "viewer"})
    names = [f"job-{i:05d}" for i in range(JOBS)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(jobs.insert(), [{"team": TEAM, "name": n, "description": "", "contacts": {}, "created_at": start,
                                      "updated_at": start} for n in names])  # fmt: skip
    statuses = ["succeeded"] * 8 + ["user_error", "platform_error"]
    sample = []
    for chunk in range(0, EXECUTIONS, 5000):
        run_rows, exec_rows = [], []
        for i in range(chunk, min(chunk + 5000, EXECUTIONS)):
            name = names[i % JOBS]
            at = start + timedelta(minutes=i)
            run_id = f"{name}-{i:07d}"
            run_rows.append({"id": run_id, "kind": "job", "name": name, "status": random.choice(statuses), "team": TEAM,
                             "created_at": at, "started_at": at, "ended_at": at + timedelta(seconds=30), "rows_written": 10,
                             "arguments": {}, "details": {}})  # fmt: skip
            exec_rows.append({"run_id": run_id, "team": TEAM, "job": name, "deployment": "production", "version": 1,
                              "trigger": "scheduled", "scheduled_for": at, "attempt": 1, "executor": "local", "state": "done",
                              "submitted_at": at})  # fmt: skip
            if i % 97 == 0:
                sample.append((name, run_id))
        with engine.begin() as conn:
            conn.execute(runs.insert(), run_rows)
            conn.execute(executions.insert(), exec_rows)
    with engine.begin() as conn:
        conn.execute(sa.text("ANALYZE"))
    mk.close()
    return token, names, sample


def start_server(root: Path, url: str) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [sys.executable, "-c", "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))", "--workspace", str(root),
           "-c", f"metadata_url={url}", "-c", "service_scheduler=false", "server", "--port", str(port), "--workers", os.environ.get("MESHKIT_BENCH_WORKERS", "2")]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError("the server did not start")


async def load(
    base: str, token: str, names: list[str], sample: list[tuple[str, str]]
) -> dict[str, list[float]]:
    """Open-loop load: one request every 1/RATE s whatever the answers' pace; latencies by endpoint."""
    api = f"/api/v1/teams/{TEAM}"
    kinds = [
        ("list jobs", lambda: f"{api}/jobs?limit=50&offset={random.randrange(0, max(1, JOBS - 50))}"),
        ("get job", lambda: f"{api}/jobs/{random.choice(names)}"),
        ("list executions", lambda: f"{api}/jobs/{random.choice(names)}/executions?limit=20"),
        ("list team executions", lambda: f"{api}/executions?status=user_error&limit=20"),
        ("get execution", lambda: "{0}/jobs/{1[0]}/executions/{1[1]}".format(api, random.choice(sample))),
    ]
    latencies: dict[str, list[float]] = {k: [] for k, _ in kinds}
    errors = 0
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=10
    ) as client:

        async def one(kind, path):
            nonlocal errors
            started = time.perf_counter()
            response = await client.get(path)
            latencies[kind].append((time.perf_counter() - started) * 1000)
            errors += response.status_code != 200

        tasks = []
        begin = time.perf_counter()
        for i in range(int(RATE * SECONDS)):
            await asyncio.sleep(max(0.0, begin + i / RATE - time.perf_counter()))
            kind, path = random.choice(kinds)
            tasks.append(asyncio.create_task(one(kind, path())))
        await asyncio.gather(*tasks)
    if errors:
        print(f"{errors} requests failed")
    return latencies


def server_cpu(pid: int) -> float | None:
    """CPU seconds used so far by the server's worker processes (Linux ``/proc``; ``None`` elsewhere)."""
    if not os.path.isdir("/proc/self"):
        return None
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def p99(values: list[float]) -> float:
    return (
        statistics.quantiles(values, n=100)[98]
        if len(values) >= 2
        else (values[0] if values else float("nan"))
    )


def main() -> None:
    import psycopg

    name = f"mk_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        print(f"skipped: PostgreSQL at {PG_DSN} unavailable ({exc})")
        return
    url = (
        sa.engine.make_url(PG_DSN)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "ws"
            started = time.perf_counter()
            token, names, sample = seed(url, root)
            print(f"seeded {JOBS} jobs and {EXECUTIONS} executions in {time.perf_counter() - started:.1f} s")
            proc, base = start_server(root, url)
            asyncio.run(load(base, token, names, sample[:50]))  # warm-up pass is not measured
            cpu_before = server_cpu(proc.pid)
            latencies = asyncio.run(load(base, token, names, sample))
            everything = [v for values in latencies.values() for v in values]
            print(f"{RATE:.0f} requests/s for {SECONDS:.0f} s, {len(everything)} requests")
            if cpu_before is not None:  # the load this machine can carry, less sensitive to other processes
                used = server_cpu(proc.pid) - cpu_before
                print(f"server CPU {used * 1000 / len(everything):.2f} ms per request")
            print(f"{'endpoint':<22}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}")
            for kind, values in latencies.items():
                print(f"{kind:<22}{len(values):>6}{statistics.median(values):>9.1f}{p99(values):>9.1f}")
            overall = p99(everything)
            print(
                f"overall p99 {overall:.1f} ms; anchor (issue target) {ANCHOR_P99_MS:.0f} ms; ratio {overall / ANCHOR_P99_MS:.2f}x"
            )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=15)
        with psycopg.connect(PG_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
