"""Transfers through the API and the UI: apply a BatchTransfer spec, then read its status and history."""

from __future__ import annotations

import time

import anyio
import pyarrow as pa
import pytest

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


async def test_apply_transfer_and_read_status(api, service, mk):
    mk.store("warehouse").write(
        "orders", pa.table({"id": [1, 2, 3], "email": ["a@x", "b@x", "c@x"]}), mode="overwrite"
    )
    admin = service.tokens.headers("admin")
    forbidden = await api.post(
        "/api/v1/transfers", content=SPEC, headers={"content-type": "application/yaml"}
    )
    assert forbidden.status_code == 403  # developer of one team only
    applied = await api.post(
        "/api/v1/transfers", content=SPEC, headers={**admin, "content-type": "application/yaml"}
    )
    assert applied.status_code == 202, applied.text
    assert applied.json() == {"name": "orders-copy", "phase": "Submitted"}
    deadline = time.monotonic() + 60
    while True:
        status = await api.get("/api/v1/transfers/orders-copy", headers=admin)
        if status.status_code == 200 and status.json()["phase"] in ("Succeeded", "Failed"):
            break
        assert time.monotonic() < deadline, status.text
        await anyio.sleep(0.2)
    body = status.json()
    assert (body["phase"], body["numRecords"]) == ("Succeeded", 3), body
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
