"""The control service on PostgreSQL: a real execution, and two scheduler processes that never double-fire."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta

import httpx
import psycopg
import pytest
import sqlalchemy as sa
from service_helpers import HELLO, TEAM, deploy, make_tokens, stop_service, wait_status

from meshkit.core.runs import now
from meshkit.service.tables import deployments, executions
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio


@pytest.fixture
def pg_url(pg_dsn):
    """A fresh PostgreSQL database for one test, dropped afterwards."""
    name = f"mk_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = sa.engine.make_url(pg_dsn)
    yield base.set(drivername="postgresql+psycopg", database=name).render_as_string(hide_password=False)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def pg_api(tmp_path, pg_url):
    from meshkit.service.app import create_app

    mk = plugin_workspace(tmp_path / "ws", metadata_url=pg_url)
    app = create_app(mk)
    svc = app.state.service
    svc.tick_seconds = 0.1
    tokens = make_tokens(svc.engine)
    svc.start()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meshkit.test",
                                 headers=tokens.headers("developer")) as client:  # fmt: skip
        client.app = app
        yield client
    stop_service(svc)
    mk.close()


async def test_execution_on_postgres(pg_api):
    await deploy(pg_api, "hello", HELLO)
    started = (
        await pg_api.post(f"/api/v1/teams/{TEAM}/jobs/hello/executions", json={"arguments": {"n": 1}})
    ).json()
    done = await wait_status(pg_api, "hello", started["id"], {"succeeded", "user_error", "platform_error"})
    log = (await pg_api.get(f"/api/v1/teams/{TEAM}/jobs/hello/executions/{started['id']}/logs")).json()[
        "text"
    ]
    assert done["status"] == "succeeded", log
    jobs = (await pg_api.get("/api/v1/jobs")).json()
    assert [(j["name"], j["last_status"]) for j in jobs] == [("hello", "succeeded")]


RACER = textwrap.dedent("""
    import sys, time
    from datetime import datetime, timedelta
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace
    from meshkit.service.runtime import ControlService

    workspace, url, base, start_at = sys.argv[1], sys.argv[2], datetime.fromisoformat(sys.argv[3]), float(sys.argv[4])
    svc = ControlService(Meshkit(Workspace.load(workspace), overrides={"metadata_url": url}))
    while time.time() < start_at:
        time.sleep(0.001)
    fired = 0
    for minute in range(4):
        for _ in range(3):
            fired += svc.scheduler.fire_due(base + timedelta(minutes=minute))
    print(fired)
""")


async def test_two_scheduler_processes_never_double_fire(pg_api, tmp_path):
    import time

    app = pg_api.app
    svc = app.state.service
    svc.stop()  # only the two racing processes schedule
    jobs = [f"job{i}" for i in range(8)]
    for job in jobs:
        await deploy(pg_api, job, {"10_a.py": "def run(j):\n    pass\n"}, schedule="* * * * *")
    base = now().replace(second=0, microsecond=0) + timedelta(minutes=2)
    with svc.engine.begin() as conn:
        conn.execute(deployments.update().values(next_run_at=base))
    url = svc.meshkit.config.get("metadata_url")
    start_at = time.time() + 3
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(svc.meshkit.workspace.root), url, base.isoformat(), str(start_at)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    outputs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    fired = [int(out.strip()) for out, _ in outputs]
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(executions.c.job, executions.c.scheduled_for)).all()
    assert sum(fired) == len(rows) == len(jobs) * 4
    assert len(set(rows)) == len(rows)  # no tick twice
    assert {(job, base + timedelta(minutes=m)) for job in jobs for m in range(4)} == {
        (j, t) for j, t in rows
    }  # none lost


def _seed_runs(engine, names: list[str]) -> dict[str, str]:
    """Two runs per job, the newer one with a status of its own; returns the newest status per job."""
    from meshkit.core.metadata import runs

    at, newest, rows = now(), {}, []
    for i, name in enumerate(names):
        newest[name] = ("succeeded", "user_error", "platform_error")[i % 3]
        for age, status in (
            (60, "succeeded" if newest[name] != "succeeded" else "user_error"),
            (0, newest[name]),
        ):
            rows.append({"id": f"{name}-{age}", "kind": "job", "name": name, "status": status, "team": TEAM,
                         "created_at": at - timedelta(seconds=age), "rows_written": 0})  # fmt: skip
    with engine.begin() as conn:
        conn.execute(runs.insert(), rows)
    return newest


async def test_job_pages_carry_the_last_status(pg_api):
    names = [f"page-{i:02d}" for i in range(7)]
    for name in names:
        assert (await pg_api.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": name})).status_code == 201
    newest = _seed_runs(pg_api.app.state.service.engine, names)
    listed = []
    for offset in (0, 3, 6):
        page = (await pg_api.get(f"/api/v1/teams/{TEAM}/jobs", params={"limit": 3, "offset": offset})).json()
        listed += [(j["name"], j["last_status"]) for j in page]
    assert listed == [(name, newest[name]) for name in names]
    filtered = (await pg_api.get(f"/api/v1/teams/{TEAM}/jobs", params={"name": "-0", "limit": 2})).json()
    assert [j["name"] for j in filtered] == names[:2]


async def test_reads_survive_dropped_connections(pg_api, pg_url):
    """The API's read pool does not ping; a connection the database dropped is replaced transparently."""
    assert (await pg_api.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": "steady"})).status_code == 201
    _seed_runs(pg_api.app.state.service.engine, ["steady"])
    for _ in range(3):
        assert (await pg_api.get(f"/api/v1/teams/{TEAM}/jobs/steady")).status_code == 200
    database = sa.engine.make_url(pg_url).database
    with psycopg.connect(pg_url.replace("+psycopg", ""), autocommit=True) as admin:
        killed = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = %s AND pid <> pg_backend_pid()", (database,)).fetchone()[0]  # fmt: skip
    assert killed >= 1
    job = await pg_api.get(f"/api/v1/teams/{TEAM}/jobs/steady")
    assert job.status_code == 200 and job.json()["name"] == "steady"
    runs_page = await pg_api.get(f"/api/v1/teams/{TEAM}/jobs/steady/executions")
    assert runs_page.status_code == 200
    assert [r["id"] for r in runs_page.json()] == ["steady-0", "steady-60"]
