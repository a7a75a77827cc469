"""Transfers through the API and the UI: apply a BatchTransfer spec, then read its status and history."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path

import anyio
import pyarrow as pa
import pytest
import sqlalchemy as sa
from service_helpers import SLOW, deploy, wait_status

from meshkit.service.tables import executions
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio
SPEC = """\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata:
  name: orders-copy
spec:
  source: {store: warehouse, asset: orders}
  destination: {store: sqlite, asset: orders_copy, mode: overwrite}
  transformation:
  - {name: drop email, action: RemoveColumn, columns: [email]}
"""


def _read(engine, query):
    with engine.connect() as conn:
        return conn.execute(query).one()


def seed_orders(mk):
    """Write the source table with an instance of its own, closed at once: the transfer's process opens
    the warehouse, which one DuckDB process at a time can write."""
    with plugin_workspace(mk.workspace.root) as other:
        other.store("warehouse").write(
            "orders", pa.table({"id": [1, 2, 3], "email": ["a@x", "b@x", "c@x"]}), mode="overwrite"
        )


async def test_apply_transfer_and_read_status(api, service, mk):
    seed_orders(mk)
    admin = service.tokens.headers("admin")
    forbidden = await api.post(
        "/api/v1/transfers", content=SPEC, headers={"content-type": "application/yaml"}
    )
    assert forbidden.status_code == 403  # developer of one team only
    applied = await api.post(
        "/api/v1/transfers", content=SPEC, headers={**admin, "content-type": "application/yaml"}
    )
    assert applied.status_code == 202, applied.text
    assert applied.json()["name"] == "orders-copy" and applied.json()["phase"] == "Submitted"
    run_id = applied.json()["runId"]
    deadline = time.monotonic() + 60
    while True:
        status = await api.get("/api/v1/transfers/orders-copy", headers=admin)
        if status.status_code == 200 and status.json()["phase"] in ("Succeeded", "Failed"):
            break
        assert time.monotonic() < deadline, status.text
        await anyio.sleep(0.2)
    body = status.json()
    assert (body["phase"], body["numRecords"], body["runId"]) == ("Succeeded", 3, run_id), body
    # NOTE: it ran as an execution: a `meshkit transfer apply` process whose log and run the service kept
    run = mk.runs.get(run_id)
    assert (run.kind, run.status, run.pid) == ("transfer", "succeeded", None)
    assert Path(run.log_path).is_file()
    query = sa.select(executions.c.state, executions.c.host).where(executions.c.run_id == run_id)
    deadline = time.monotonic() + 30
    while (state := _read(service.state.service.engine, query)).state != "done":
        assert time.monotonic() < deadline, state  # the service sees the process end
        await anyio.sleep(0.1)
    assert state.state == "done" and state.host is not None
    spec = await api.get("/api/v1/transfers/orders-copy/sources/1/download", headers=admin)
    assert (
        spec.status_code == 200
        and zipfile.ZipFile(io.BytesIO(spec.content)).read("transfer.yaml").decode() == SPEC
    )
    from meshkit.data.transfer import transfer_status

    assert body == transfer_status(mk, "orders-copy")  # the typed model adds and drops nothing
    assert body["history"][0]["phase"] == "Succeeded"
    assert [t["name"] for t in (await api.get("/api/v1/transfers", headers=admin)).json()] == ["orders-copy"]
    bad = await api.post(
        "/api/v1/transfers", content="kind: [\n", headers={**admin, "content-type": "application/yaml"}
    )
    assert bad.status_code == 400 and "Malformed YAML" in bad.json()["error"]["message"]
    sync = SPEC.replace("BatchTransfer", "SyncTransfer").replace("{store: warehouse, asset: orders}", "{store: {type: nats}, asset: orders}").replace("mode: overwrite", "mode: append")  # fmt: skip
    refused = await api.post(
        "/api/v1/transfers", content=sync, headers={**admin, "content-type": "application/yaml"}
    )
    assert refused.status_code == 403, refused.text  # an inline store runs with the server's access
    page = await api.get("/ui/transfers", headers=admin)
    assert "orders-copy" in page.text and "Succeeded" in page.text


async def test_transfer_routes_publish_typed_schemas(api):
    schema = (await api.get("/openapi.json")).json()
    paths = schema["paths"]
    ok = paths["/api/v1/transfers/{name}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/TransferStatus"}
    status = schema["components"]["schemas"]["TransferStatus"]
    assert {"phase", "numRecords", "history"} <= set(status["properties"])
    submitted = paths["/api/v1/transfers"]["post"]["responses"]["202"]["content"]["application/json"][
        "schema"
    ]
    assert submitted == {"$ref": "#/components/schemas/TransferSubmitted"}


async def test_transfers_wait_for_a_free_slot_and_can_be_cancelled(api, service, mk):
    """A transfer counts towards service_max_concurrent: queued behind a running job, then cancelled."""
    mk.store("warehouse").write(
        "orders", pa.table({"id": [1, 2, 3], "email": ["a", "b", "c"]}), mode="overwrite"
    )
    svc = service.state.service
    svc.max_concurrent = 1
    admin = {**service.tokens.headers("admin"), "content-type": "application/yaml"}
    await deploy(api, "slow", SLOW)
    started = await api.post("/api/v1/teams/data/jobs/slow/executions", json={"arguments": {"seconds": 60}})
    assert started.status_code in (200, 201, 202), started.text
    await wait_status(api, "slow", started.json()["id"], {"running"})
    applied = await api.post("/api/v1/transfers", content=SPEC, headers=admin)
    assert applied.status_code == 202, applied.text
    run_id = applied.json()["runId"]
    await anyio.sleep(1.0)
    assert mk.runs.get(run_id).status == "submitted"  # no free slot: it waits in the queue
    again = await api.post("/api/v1/transfers", content=SPEC, headers=admin)
    assert again.status_code == 409, again.text  # one run of a transfer at a time
    cancelled = await api.post("/api/v1/transfers/orders-copy/cancel", headers=admin)
    assert cancelled.status_code == 202 and cancelled.json()["runId"] == run_id, cancelled.text
    assert mk.runs.get(run_id).status == "cancelled"
    gone = await api.post("/api/v1/transfers/orders-copy/cancel", headers=admin)
    assert gone.status_code == 404
    await api.delete(f"/api/v1/teams/data/jobs/slow/executions/{started.json()['id']}")
