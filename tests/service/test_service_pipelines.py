"""Pipelines under the control service: deployed like jobs, run as one execution with a graph of
node runs; triggers by webhook (HMAC over the body, replay window), by a Kafka message and by new
data."""

from __future__ import annotations

import os
import re
import time

import anyio
import pytest
import sqlalchemy as sa
from service_helpers import TEAM, wait_status, zip_bytes

from meshkit.service.triggers import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign, trigger_events
from meshkit.testing import run_cli

pytestmark = pytest.mark.anyio

PIPELINE = {
    "pipeline.yaml": """
        name: nightly
        concurrency: 2
        nodes:
          - {name: a, job: first}
          - {name: b, job: second, depends_on: [a]}
          - {name: c, job: second, depends_on: [a]}
        """,
    "jobs/first/10_a.py": "def run(job_input):\n    print('first')\n",
    "jobs/second/10_b.py": "def run(job_input):\n    print('second')\n",
}


async def deploy_pipeline(api, name: str = "nightly", files: dict | None = None) -> None:
    assert (await api.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": name})).status_code in (201, 409)
    source = await api.post(f"/api/v1/teams/{TEAM}/jobs/{name}/sources",
                            files={"file": ("p.zip", zip_bytes(files or PIPELINE))})  # fmt: skip
    assert source.status_code == 201, source.text
    deployed = await api.post(
        f"/api/v1/teams/{TEAM}/jobs/{name}/deployments", json={"version": source.json()["version"]}
    )
    assert deployed.status_code == 201, deployed.text


async def test_a_deployed_pipeline_runs_as_one_execution_with_a_graph(api):
    await deploy_pipeline(api)
    started = (await api.post(f"/api/v1/teams/{TEAM}/jobs/nightly/executions", json={})).json()
    done = await wait_status(
        api, "nightly", started["id"], {"succeeded", "user_error", "platform_error"}, timeout=120
    )
    log = (await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/executions/{started['id']}/logs")).json()["text"]
    assert done["status"] == "succeeded", log
    graph = (await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/executions/{started['id']}/graph")).json()
    assert [(n["name"], n["status"], n["depends_on"]) for n in graph["nodes"]] == [
        ("a", "succeeded", []), ("b", "succeeded", ["a"]), ("c", "succeeded", ["a"])]  # fmt: skip
    outsider = {"Authorization": f"Bearer {api.tokens['outsider']}"}
    assert (
        await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/executions/{started['id']}/graph", headers=outsider)
    ).status_code == 403


async def test_webhook_fires_once_per_signed_call(api, monkeypatch):
    monkeypatch.setenv("NIGHTLY_HOOK_KEY", "s3cr3t-key")
    await deploy_pipeline(api)
    url = f"/api/v1/teams/{TEAM}/jobs/nightly/deployments/production/triggers"
    assert (await api.put(url, json=[{"type": "webhook", "secret": "abc"}])).status_code == 400
    put = await api.put(
        url, json=[{"type": "webhook", "secret": "env:NIGHTLY_HOOK_KEY", "replay_window": 60}]
    )
    assert put.status_code == 200, put.text
    body, stamp = b'{"reason": "files landed"}', int(time.time())
    hook = f"/api/v1/hooks/{TEAM}/nightly/production"
    signed = {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign("s3cr3t-key", body, stamp)}
    anonymous = {"Authorization": ""}
    first = await api.post(hook, content=body, headers={**signed, **anonymous})
    assert first.status_code == 202, first.text
    replay = await api.post(hook, content=body, headers={**signed, **anonymous})
    assert replay.status_code == 409
    for headers in (
        {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign("wrong-key", body, stamp)},
        {TIMESTAMP_HEADER: str(stamp - 120), SIGNATURE_HEADER: sign("s3cr3t-key", body, stamp - 120)},
        {TIMESTAMP_HEADER: str(stamp), SIGNATURE_HEADER: sign("s3cr3t-key", body + b" ", stamp)},
        {},
    ):
        refused = await api.post(hook, content=body, headers={**headers, **anonymous})
        assert refused.status_code == 401, refused.text
        assert "s3cr3t" not in refused.text
    run_id = first.json()["run_id"]
    done = await wait_status(
        api, "nightly", run_id, {"succeeded", "user_error", "platform_error"}, timeout=120
    )
    assert done["status"] == "succeeded" and done["trigger"] == "webhook"
    history = (await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/triggers/history")).json()
    assert [(h["type"], h["run_id"], h["outcome"]) for h in history] == [("webhook", run_id, "fired")]
    live = (await api.get(f"/ui/teams/{TEAM}/jobs/nightly/executions/{run_id}/live")).text
    assert 'class="pipeline-graph"' in live  # the graph is drawn, and redrawn as the page polls
    assert all(f'data-node="{n}"' in live for n in "abc") and "status-succeeded" in live
    page = (await api.get(f"/ui/teams/{TEAM}/jobs/nightly")).text
    assert "Trigger history" in page and run_id in page


async def test_new_data_starts_the_pipeline_that_reads_it(api, service):
    svc = service.state.service
    await deploy_pipeline(api)
    url = f"/api/v1/teams/{TEAM}/jobs/nightly/deployments/production/triggers"
    put = await api.put(url, json=[{"type": "dataset", "datasets": ["warehouse/cities"]}])
    assert put.status_code == 200, put.text
    root = svc.meshkit.workspace.root
    (root / "cities.csv").write_text("name,population\nBerlin,3850809\n")
    (root / "transfers").mkdir(exist_ok=True)
    (root / "transfers" / "cities.yaml").write_text(
        "kind: BatchTransfer\nmetadata: {name: cities}\nspec:\n  source: {store: {type: files, path: .}, asset: cities.csv}\n"
        "  destination: {store: warehouse, asset: cities, mode: overwrite}\n"
    )
    for _ in range(2):  # two writes: two events
        applied = await anyio.to_thread.run_sync(
            lambda: run_cli(["transfer", "apply", str(root / "transfers" / "cities.yaml")], workspace=root)
        )
        assert applied.exit_code == 0, applied.output
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            history = (await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/triggers/history")).json()
            if len(history) == _ + 1:
                break
            await anyio.sleep(0.2)
    assert [h["type"] for h in history] == ["dataset", "dataset"]
    assert {h["detail"]["dataset"] for h in history} == {"warehouse/cities"}
    assert len({h["detail"]["written_by"] for h in history}) == 2
    await anyio.sleep(2.5)  # more polls find nothing new
    with svc.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(trigger_events)).scalar_one() == 2


async def test_a_kafka_message_starts_the_pipeline(api, service):
    from confluent_kafka import Producer

    from meshkit.core.errors import PlatformError
    from meshkit.data.stores.tansu import start_tansu

    try:
        broker = start_tansu()
    except PlatformError as exc:
        if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
            pytest.fail(f"required service unavailable: {exc}")
        pytest.skip(f"Tansu broker unavailable: {exc}")
    try:
        await deploy_pipeline(api)
        url = f"/api/v1/teams/{TEAM}/jobs/nightly/deployments/production/triggers"
        trigger = {"type": "message", "broker": "kafka", "url": broker.bootstrap_servers, "subject": "landed"}
        put = await api.put(url, json=[trigger])
        assert put.status_code == 200, put.text
        producer = Producer({"bootstrap.servers": broker.bootstrap_servers})
        producer.produce("landed", b'{"files": 3}')
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 60
        while not (history := (await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/triggers/history")).json()):
            assert time.monotonic() < deadline, "the message never started the pipeline"
            await anyio.sleep(0.2)
        [event] = history
        assert (event["type"], event["outcome"]) == ("message", "fired")
        assert re.fullmatch(r"landed:\d+@0", event["event"])  # topic, partition, offset
        done = await wait_status(api, "nightly", event["run_id"], {"succeeded", "user_error", "platform_error"},
                                 timeout=120)  # fmt: skip
        assert done["status"] == "succeeded" and done["trigger"] == "message"
        graph = (
            await api.get(f"/api/v1/teams/{TEAM}/jobs/nightly/executions/{event['run_id']}/graph")
        ).json()
        assert {n["status"] for n in graph["nodes"]} == {"succeeded"}
    finally:
        broker.stop()
