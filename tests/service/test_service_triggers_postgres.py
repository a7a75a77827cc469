# ruff: noqa: F811 - the PostgreSQL fixtures are imported from test_service_postgres
"""Each trigger kind fires exactly once per event with two scheduler processes on one PostgreSQL.

Two processes watch the same triggers at once (polling S3 and the catalog, listening to NATS
and reading Kafka, receiving the same webhook calls); the events table admits each event once,
so every event starts exactly one execution.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import uuid

import pytest
import sqlalchemy as sa
from service_helpers import HELLO, TEAM, deploy
from test_service_postgres import pg_api, pg_url  # noqa: F401 - fixtures

from meshkit.core.metadata import runs
from meshkit.core.runs import now
from meshkit.service.tables import executions
from meshkit.service.triggers import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, trigger_events

pytestmark = pytest.mark.anyio
NATS_URL = os.environ.get("MESHKIT_TEST_NATS_URL", "nats://127.0.0.1:4222")


def service_missing(reason: str) -> None:
    if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


RACER = textwrap.dedent("""
    import json, logging, os, sys, time
    logging.basicConfig(level=logging.INFO)
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace
    from meshkit.service.exceptions import ConflictError
    from meshkit.service.runtime import ControlService

    workspace, url, kind, start_at, seconds, calls = sys.argv[1:7]
    svc = ControlService(Meshkit(Workspace.load(workspace), overrides={"metadata_url": url}))
    if kind == "message":
        svc.triggers.start()
        assert svc.triggers.wait_listening(60), "the listeners never started"
        open(f"{workspace}/listening-{time.time()}", "w").close()
    while time.time() < float(start_at):
        time.sleep(0.001)
    fired, deadline = 0, time.time() + float(seconds)
    if kind == "webhook":
        from meshkit.service.triggers import receive_webhook
        for body, headers in json.loads(calls):
            try:
                receive_webhook(svc, "data", "hello", "production", body.encode(), headers)
                fired += 1
            except ConflictError as exc:
                print("refused:", exc, file=sys.stderr)
    while time.time() < deadline or (kind == "message" and not os.path.exists(f"{workspace}/published")):
        if kind in ("dataset", "object"):
            svc.triggers._next_dataset, svc.triggers._next_object = 0.0, {}
            fired += svc.triggers.poll()
        time.sleep(0.02)
    svc.triggers.stop()
    print(fired)
""")


@pytest.fixture(scope="module")
def tansu(tmp_path_factory):
    """``bootstrap_servers`` of a Tansu broker (Kafka protocol), stopped by pid at the end."""
    from meshkit.core.errors import PlatformError
    from meshkit.data.stores.tansu import start_tansu

    try:
        broker = start_tansu(log=tmp_path_factory.mktemp("tansu") / "tansu.log")
    except PlatformError as exc:
        service_missing(f"Tansu broker unavailable: {exc}")
    yield broker.bootstrap_servers
    broker.stop()


async def _set(api, triggers: list[dict]) -> None:
    await deploy(api, "hello", HELLO)
    put = await api.put(f"/api/v1/teams/{TEAM}/jobs/hello/deployments/production/triggers", json=triggers)
    assert put.status_code == 200, put.text
    api.app.state.service.stop()  # only the two racing processes watch


def _race(
    svc, kind: str, seconds: float, calls: list | None = None, lead: float = 3.0
) -> tuple[list[int], float]:
    start_at = time.time() + lead
    url = svc.meshkit.config.get("metadata_url")
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(svc.meshkit.workspace.root), url, kind, str(start_at),
                               str(seconds), json.dumps(calls or [])],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    return procs, start_at


def _finish(procs) -> list[int]:
    outputs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    print(outputs)  # shown when the test fails
    return [int(out.strip().splitlines()[-1]) for out, _ in outputs]


def _fired(svc, kind: str) -> tuple[int, int, int]:
    """(executions started by ``kind``, events recorded, distinct runs of those events)."""
    with svc.engine.connect() as conn:
        started = conn.execute(sa.select(sa.func.count()).where(executions.c.trigger == kind)).scalar_one()
        events = conn.execute(sa.select(trigger_events.c.run_id)).scalars().all()
    return started, len(events), len(set(events))


async def test_webhook_calls_fire_once_with_two_processes(pg_api, monkeypatch):
    monkeypatch.setenv("HOOK_KEY", "k3y")
    await _set(pg_api, [{"type": "webhook", "secret": "env:HOOK_KEY"}])
    stamp = int(time.time()) + 5
    calls = [(body, {TIMESTAMP_HEADER.lower(): str(stamp), SIGNATURE_HEADER.lower(): sign("k3y", body.encode(), stamp)})
             for body in (f'{{"n": {i}}}' for i in range(6))]  # fmt: skip
    procs, _ = _race(pg_api.app.state.service, "webhook", 0.5, calls)
    fired = _finish(procs)
    assert sum(fired) == 6, fired
    assert _fired(pg_api.app.state.service, "webhook") == (6, 6, 6)


async def test_new_data_fires_once_with_two_processes(pg_api):
    from meshkit.catalog.tables import datasets

    await _set(pg_api, [{"type": "dataset", "datasets": ["warehouse/a", "warehouse/b"]}])
    svc = pg_api.app.state.service
    at = now()
    with svc.engine.begin() as conn:
        for name in ("w1", "w2", "w3"):
            conn.execute(runs.insert().values(id=name, kind="transfer", name=name, status="succeeded", created_at=at,
                                              started_at=at, ended_at=at, rows_written=1))  # fmt: skip
        for dataset, writer in (("warehouse/a", "w1"), ("warehouse/b", "w2"), ("warehouse/c", "w3")):
            conn.execute(datasets.insert().values(id=dataset, store="warehouse", asset=dataset[10:], last_run_id=writer,
                                                  created_at=at, updated_at=at))  # fmt: skip
    procs, _ = _race(svc, "dataset", 3)
    fired = _finish(procs)
    assert sum(fired) == 2  # warehouse/c is not watched
    assert _fired(svc, "dataset") == (2, 2, 2)


async def test_new_objects_fire_once_with_two_processes(pg_api, s3_endpoint, monkeypatch):
    import pyarrow.fs as pafs

    monkeypatch.setenv("MK_S3_KEY", "testing-key")
    monkeypatch.setenv("MK_S3_SECRET", "testing-secret")
    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    fs = pafs.S3FileSystem(access_key="testing-key", secret_key="testing-secret", region="us-east-1",
                           endpoint_override=s3_endpoint[7:], scheme="http", allow_bucket_creation=True)  # fmt: skip
    fs.create_dir(bucket)
    await _set(pg_api, [{"type": "object", "path": f"s3://{bucket}/incoming/", "endpoint_url": s3_endpoint,
                         "access_key": "env:MK_S3_KEY", "secret_key": "env:MK_S3_SECRET", "interval": 0.1}])  # fmt: skip
    for i in range(4):
        with fs.open_output_stream(f"{bucket}/incoming/file-{i}.csv") as out:
            out.write(b"a,b\n1,2\n")
    with fs.open_output_stream(f"{bucket}/elsewhere/ignored.csv") as out:
        out.write(b"a\n")
    procs, _ = _race(pg_api.app.state.service, "object", 4)
    fired = _finish(procs)
    assert sum(fired) == 4
    assert _fired(pg_api.app.state.service, "object") == (4, 4, 4)


async def test_nats_messages_fire_once_with_two_processes(pg_api):
    try:
        import nats

        client = await nats.connect(NATS_URL, connect_timeout=3, max_reconnect_attempts=0)
    except Exception as exc:  # noqa: BLE001 - any failure means NATS is not usable
        service_missing(f"NATS not reachable at {NATS_URL}: {exc}")
    subject = f"landing.{uuid.uuid4().hex[:8]}"
    await _set(pg_api, [{"type": "message", "broker": "nats", "url": NATS_URL, "subject": subject}])
    svc = pg_api.app.state.service
    procs, _ = _race(svc, "message", 1, lead=0)
    await _listening(svc, 2)  # both processes subscribed
    for i in range(5):
        for _ in range(2):  # the publisher sends each event twice: it still fires once
            await client.publish(subject, b"new file", headers={"Nats-Msg-Id": f"event-{i}"})
    await client.flush()
    await client.close()
    await asyncio.sleep(1)
    (svc.meshkit.workspace.root / "published").touch()
    _finish(procs)
    assert _fired(pg_api.app.state.service, "message") == (5, 5, 5)


async def _listening(svc, count: int) -> None:
    deadline = time.monotonic() + 90
    while len(list(svc.meshkit.workspace.root.glob("listening-*"))) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def _events(svc, count: int) -> None:
    deadline = time.monotonic() + 60
    while _fired(svc, "message")[1] < count and time.monotonic() < deadline:
        await asyncio.sleep(0.2)


async def test_kafka_messages_fire_once_with_two_processes(pg_api, tansu):
    """Both processes read every message; each fires once, and a restart reads on from where they were."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"landing_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": tansu})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    producer = Producer({"bootstrap.servers": tansu})
    producer.produce(topic, b"before the trigger", key=b"old")  # produced before the trigger: never fires
    producer.flush(30)
    await asyncio.sleep(0.05)
    await _set(pg_api, [{"type": "message", "broker": "kafka", "url": tansu, "subject": topic}])
    svc = pg_api.app.state.service
    root = svc.meshkit.workspace.root
    procs, _ = _race(svc, "message", 1, lead=0)
    await _listening(svc, 2)
    for i in range(6):
        producer.produce(topic, f"file {i}".encode(), key=str(i).encode())
    producer.flush(30)
    await _events(svc, 6)
    (root / "published").touch()
    _finish(procs)
    assert _fired(svc, "message") == (6, 6, 6)

    for i in range(6, 8):  # produced while no server runs: read when they are back, the others not again
        producer.produce(topic, f"file {i}".encode(), key=str(i).encode())
    producer.flush(30)
    (root / "published").unlink()
    for old in root.glob("listening-*"):
        old.unlink()
    procs, _ = _race(svc, "message", 1, lead=0)
    await _listening(svc, 2)
    await _events(svc, 8)
    (root / "published").touch()
    _finish(procs)
    assert _fired(svc, "message") == (8, 8, 8)
    with svc.engine.connect() as conn:
        keys = conn.execute(sa.select(trigger_events.c.event)).scalars().all()
    assert all(key.startswith(f"{topic}:") and "@" in key for key in keys)
