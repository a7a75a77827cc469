"""The REST API against the real app in-process (httpx ASGITransport), on SQLite, with real executions."""

from __future__ import annotations

import anyio
import pytest
from service_helpers import HELLO, SLOW, TEAM, deploy, wait_status, zip_bytes

pytestmark = pytest.mark.anyio
JOBS = f"/api/v1/teams/{TEAM}/jobs"


async def test_jobs_sources_and_deployments(api):
    response = await api.post(
        JOBS,
        json={
            "name": "orders",
            "description": "Daily orders",
            "contacts": {"notified_on_job_success": ["a@x.io"]},
        },
    )
    assert response.status_code == 201
    assert response.json()["created_by"] == "developer@example.com"
    assert (await api.post(JOBS, json={"name": "orders"})).json()["error"]["code"] == "conflict"

    upload = await api.post(
        f"{JOBS}/orders/sources",
        files={"file": ("o.zip", zip_bytes({"orders/10_a.py": "def run(j): pass\n"}))},
    )
    assert upload.status_code == 201
    first = upload.json()
    assert (first["version"], first["created"], first["files"]) == (1, True, ["10_a.py"])
    again = await api.post(
        f"{JOBS}/orders/sources", files={"file": ("o.zip", zip_bytes({"10_a.py": "def run(j): pass\n"}))}
    )
    assert (again.json()["version"], again.json()["created"], again.json()["sha256"]) == (
        1,
        False,
        first["sha256"],
    )
    second = await api.post(
        f"{JOBS}/orders/sources", files={"file": ("o.zip", zip_bytes({"10_a.py": "def run(j): 1\n"}))}
    )
    assert second.json()["version"] == 2

    download = await api.get(f"{JOBS}/orders/sources/2/download")
    assert download.headers["content-type"] == "application/zip" and download.content[:2] == b"PK"

    deployment = await api.post(
        f"{JOBS}/orders/deployments",
        json={"version": 2, "schedule": "0 3 * * *", "timezone": "Europe/Berlin"},
    )
    assert deployment.status_code == 201, deployment.text
    body = deployment.json()
    assert body["id"] == "production" and body["next_run_at"] is not None
    assert body["next_run_at"].endswith(("01:00:00Z", "02:00:00Z", "+00:00"))

    patched = await api.patch(f"{JOBS}/orders/deployments/production", json={"enabled": False})
    assert patched.json()["enabled"] is False and patched.json()["next_run_at"] is None
    assert [d["id"] for d in (await api.get(f"{JOBS}/orders/deployments")).json()] == ["production"]

    listed = await api.get(JOBS, params={"name": "ord"})
    assert [j["name"] for j in listed.json()] == ["orders"]
    assert (await api.delete(f"{JOBS}/orders/deployments/production")).status_code == 204
    assert (await api.get(f"{JOBS}/orders/deployments/production")).status_code == 404

    audit = await api.get(f"/api/v1/teams/{TEAM}/audit")
    actions = [e["action"] for e in audit.json()]
    assert actions[:3] == ["deployment.delete", "deployment.update", "deployment.create"]
    assert {"job.create", "source.upload"} <= set(actions)


async def test_properties_and_write_only_secrets(api):
    await api.post(JOBS, json={"name": "keeper"})
    put = await api.put(f"{JOBS}/keeper/properties", json={"properties": {"last_id": 42, "tags": ["a"]}})
    assert put.json() == {"properties": {"last_id": 42, "tags": ["a"]}}
    assert (await api.get(f"{JOBS}/keeper/properties")).json()["properties"]["last_id"] == 42

    secret = "s3cr3t-value-never-shown"
    assert (await api.put(f"{JOBS}/keeper/secrets/db_password", json={"value": secret})).status_code == 204
    listed = await api.get(f"{JOBS}/keeper/secrets")
    assert listed.json() == {"names": ["db_password"]}
    audit = await api.get(f"/api/v1/teams/{TEAM}/audit", params={"action": "secret.set"})
    assert secret not in listed.text + audit.text and audit.json()[0]["details"] == {"key": "db_password"}
    assert (await api.delete(f"{JOBS}/keeper/secrets/db_password")).status_code == 204
    assert (await api.delete(f"{JOBS}/keeper/secrets/db_password")).json()["error"]["code"] == "not_found"


async def test_bad_input_gets_json_errors_not_500(api):
    cases = [
        (api.post(JOBS, json={"name": "Bad Name!"}), 422, "invalid_request"),
        (
            api.post(JOBS, content=b"{not json", headers={"content-type": "application/json"}),
            422,
            "invalid_request",
        ),
        (api.get(f"{JOBS}/missing"), 404, "not_found"),
        (api.get("/api/v1/nothing-here"), 404, "not_found"),
        (api.get(JOBS, params={"limit": -1}), 422, "invalid_request"),
    ]
    for call, status, code in cases:
        response = await call
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text
        assert response.json()["error"]["message"]
    await api.post(JOBS, json={"name": "zips"})
    bad_zip = await api.post(f"{JOBS}/zips/sources", files={"file": ("x.zip", b"not a zip at all")})
    assert (bad_zip.status_code, bad_zip.json()["error"]["code"]) == (400, "invalid_source")
    no_steps = await api.post(
        f"{JOBS}/zips/sources", files={"file": ("x.zip", zip_bytes({"README.md": "hi"}))}
    )
    assert "no step file" in no_steps.json()["error"]["message"]
    slip = await api.post(
        f"{JOBS}/zips/sources", files={"file": ("x.zip", zip_bytes({"../evil.py": "x", "10_a.py": "y"}))}
    )
    assert slip.status_code == 400 and "outside the job folder" in slip.json()["error"]["message"]
    await api.post(f"{JOBS}/zips/sources", files={"file": ("x.zip", zip_bytes({"10_a.py": "y"}))})
    bad_cron = await api.post(f"{JOBS}/zips/deployments", json={"version": 1, "schedule": "every day"})
    assert bad_cron.json()["error"] == {"code": "invalid_schedule", "message": "`every day` is not a cron expression.",
                                        "hint": bad_cron.json()["error"]["hint"], "where": "schedule"}  # fmt: skip
    bad_zone = await api.post(f"{JOBS}/zips/deployments", json={"version": 1, "timezone": "Mars/Olympus"})
    assert bad_zone.json()["error"]["where"] == "timezone"
    missing_version = await api.post(f"{JOBS}/zips/deployments", json={"version": 7})
    assert missing_version.status_code == 404


async def test_real_execution_succeeds_with_arguments_and_logs(api, service):
    await deploy(api, "hello", HELLO, arguments={"day": "2024-01-01"})
    started = await api.post(f"{JOBS}/hello/executions", json={"arguments": {"region": "eu"}})
    assert started.status_code == 202, started.text
    execution = started.json()
    assert execution["status"] == "submitted" and execution["trigger"] == "manual"
    done = await wait_status(api, "hello", execution["id"], {"succeeded", "user_error", "platform_error"})
    logs = await api.get(f"{JOBS}/hello/executions/{execution['id']}/logs")
    assert done["status"] == "succeeded", logs.json()["text"]
    assert done["arguments"] == {"day": "2024-01-01", "region": "eu"} and done["duration"] is not None
    assert logs.json()["complete"] is True
    tail = await api.get(f"{JOBS}/hello/executions/{execution['id']}/logs", params={"tail": 1})
    assert tail.json()["text"].count("\n") == 0 and tail.json()["text"] in logs.json()["text"]
    listed = await api.get(f"{JOBS}/hello/executions", params={"status": "succeeded"})
    assert [e["id"] for e in listed.json()] == [execution["id"]]
    # The execution is marked done just before the server counts it: give the count a moment.
    for _ in range(100):
        metrics = await api.get("/metrics")
        if 'meshkit_executions_total{status="succeeded"} 1.0' in metrics.text:
            break
        await anyio.sleep(0.05)
    assert 'meshkit_executions_total{status="succeeded"} 1.0' in metrics.text
    assert "meshkit_api_request_seconds_bucket" in metrics.text


async def test_cancel_running_execution_and_conflicts(api):
    await deploy(api, "sleepy", SLOW)
    execution = (await api.post(f"{JOBS}/sleepy/executions", json={"arguments": {"seconds": 120}})).json()
    await wait_status(api, "sleepy", execution["id"], {"running"})
    second = await api.post(f"{JOBS}/sleepy/executions", json={})
    assert second.status_code == 409 and "still running" in second.json()["error"]["message"]
    cancel = await api.delete(f"{JOBS}/sleepy/executions/{execution['id']}")
    assert cancel.status_code == 202 and cancel.json()["cancel_requested"] is True
    done = await wait_status(
        api, "sleepy", execution["id"], {"cancelled", "succeeded", "user_error", "platform_error"}, 30
    )
    assert done["status"] == "cancelled"
    again = await api.delete(f"{JOBS}/sleepy/executions/{execution['id']}")
    assert again.status_code == 409
    audit = await api.get(f"/api/v1/teams/{TEAM}/audit", params={"action": "execution.cancel"})
    assert audit.json()[0]["actor"] == "developer@example.com"


async def test_execution_past_the_deployment_timeout_is_stopped(api):
    await deploy(api, "overdue", SLOW, timeout=1)
    execution = (await api.post(f"{JOBS}/overdue/executions", json={"arguments": {"seconds": 120}})).json()
    done = await wait_status(
        api, "overdue", execution["id"], {"cancelled", "succeeded", "user_error", "platform_error"}, 60
    )
    assert done["status"] == "user_error" and "timed out after 1 s" in done["error"]
    logs = (await api.get(f"{JOBS}/overdue/executions/{execution['id']}/logs")).json()["text"]
    assert "slow job started" in logs  # what the job printed is in its log
