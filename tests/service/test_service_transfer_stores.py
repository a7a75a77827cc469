"""Transfers applied through the service use the workspace's stores only: no reading the server's files.

Inline stores (a URL or ``{type: ...}``) are refused unless the server admin allows them, and then
their local files must lie under ``service_file_roots``, real paths compared (``..``, symlinks).
"""

from __future__ import annotations

import contextlib
import time

import anyio
import httpx
import pyarrow as pa
import pytest
from service_helpers import make_tokens, stop_service

from meshkit.core.errors import ConfigError
from meshkit.service.app import create_app
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio
YAML = {"content-type": "application/yaml"}


def spec(name: str, source: str, destination: str) -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata: {{name: {name}}}
spec:
  source: {source}
  destination: {destination}
"""


@contextlib.asynccontextmanager
async def admin_client(root, **overrides):
    """An admin's client of the real app on the workspace at ``root``, run with config ``overrides``."""
    with plugin_workspace(root) as seed:  # NOTE: closed before the transfers' processes open the warehouse
        seed.store("warehouse").write("orders", pa.table({"id": [1, 2, 3]}), mode="overwrite")
    with plugin_workspace(root, **overrides) as mk:
        app = create_app(mk)
        svc = app.state.service
        svc.tick_seconds = 0.1
        tokens = make_tokens(svc.engine)
        transport = httpx.ASGITransport(app=app)
        svc.start()  # NOTE: applied transfers run as executions, which the worker launches
        try:
            async with httpx.AsyncClient(transport=transport, base_url="http://meshkit.test",
                                         headers={**tokens.headers("admin"), **YAML}) as client:  # fmt: skip
                yield client
        finally:
            stop_service(svc)


async def apply(client, name: str, source: str, destination: str) -> httpx.Response:
    return await client.post("/api/v1/transfers", content=spec(name, source, destination))


async def finished(client, name: str) -> dict:
    deadline = time.monotonic() + 60
    while True:
        status = await client.get(f"/api/v1/transfers/{name}")
        if status.status_code == 200 and status.json()["phase"] in ("Succeeded", "Failed", "Fatal"):
            return status.json()
        assert time.monotonic() < deadline, status.text
        await anyio.sleep(0.1)


def refused(response: httpx.Response, status: int, where: str, text: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["where"] == where and text in error["message"], error


ORDERS = "{store: warehouse, asset: orders}"


async def test_only_the_workspace_stores_by_default(workspace):
    root = workspace.root
    toml = root / "meshkit.toml"
    toml.write_text(
        toml.read_text() + '\n[stores.landing]\ntype = "files"\npath = "landing"\nformat = "csv"\n'
    )
    async with admin_client(root) as client:
        for name, source, destination, where in [
            ("etc", "{store: 'file:///etc?format=csv', asset: passwd}", "{store: sqlite, asset: stolen}", "spec.source.store"),
            ("etc-inline", "{store: {type: files, path: /etc, format: csv}, asset: passwd}", "{store: sqlite, asset: t}", "spec.source.store"),
            ("pg-url", ORDERS, "{store: 'postgresql://postgres@127.0.0.1:5432/test', asset: public.leak}", "spec.destination.store"),
            ("sqlite-url", "{store: 'sqlite:////etc/some.db', asset: t}", "{store: sqlite, asset: t}", "spec.source.store"),
        ]:  # fmt: skip
            refused(await apply(client, name, source, destination), 403, where, "workspace's stores only")
        escape = await apply(
            client, "escape", "{store: landing, asset: ../../../etc/passwd}", "{store: sqlite, asset: t}"
        )
        refused(escape, 400, "spec.source.asset", "not a relative path inside store `landing`")
        unknown = await apply(client, "unknown", "{store: nowhere, asset: t}", "{store: sqlite, asset: t}")
        refused(unknown, 400, "spec.source.store", "Unknown store `nowhere`")
        listed = (await client.get("/api/v1/transfers")).json()
        assert listed == []  # nothing refused was run

        accepted = await apply(
            client, "to-landing", ORDERS, "{store: landing, asset: orders.csv, mode: overwrite}"
        )
        assert accepted.status_code == 202, accepted.text
        assert (await finished(client, "to-landing"))["phase"] == "Succeeded"
    assert (root / "landing" / "orders.csv").read_text().splitlines() == ['"id"', "1", "2", "3"]


async def test_admins_may_allow_inline_stores_under_file_roots(tmp_path, pg_schema):
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "in").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.csv").write_text("token\nhunter2\n")
    (allowed / "link").symlink_to(outside, target_is_directory=True)
    root = tmp_path / "ws"
    async with admin_client(
        root, service_allow_inline_stores=True, service_file_roots=[str(allowed)]
    ) as client:
        for name, source, where in [
            ("etc", "{store: 'file:///etc?format=csv', asset: passwd}", "spec.source.store"),
            ("dotdot", f"{{store: {{type: files, path: '{allowed}/../outside', format: csv}}, asset: secret.csv}}", "spec.source.store"),
            ("symlinked-store", f"{{store: 'file://{allowed}/link?format=csv', asset: secret.csv}}", "spec.source.store"),
            ("symlinked-asset", f"{{store: 'file://{allowed}?format=csv', asset: link/secret.csv}}", "spec.source.store"),
            ("sqlite-outside", f"{{store: 'sqlite:///{outside}/x.db', asset: t}}", "spec.source.store"),
            ("duckdb-outside", f"{{store: {{type: duckdb, path: '{outside}/x.duckdb'}}, asset: t}}", "spec.source.store"),
            ("iceberg-catalog-outside", f"{{store: {{type: iceberg, catalog_uri: 'sqlite:///{outside}/c.db', warehouse: 'file://{allowed}'}}, asset: t}}", "spec.source.store"),
            ("iceberg-default-catalog", "{store: {type: iceberg}, asset: t}", "spec.source.store"),
        ]:  # fmt: skip
            response = await apply(client, name, source, "{store: sqlite, asset: t}")
            refused(response, 403, where, "is outside the folders the service may use")
            assert (
                "hunter2" not in response.text and str(allowed.resolve()) in response.json()["error"]["hint"]
            )

        files = f"{{store: 'file://{allowed}/in?format=csv', asset: orders.csv, mode: overwrite}}"
        postgres = f"{{store: 'postgresql://postgres@127.0.0.1:5432/test', asset: {pg_schema}.orders, mode: overwrite}}"
        for name, destination in (("to-files", files), ("to-postgres", postgres)):
            accepted = await apply(client, name, ORDERS, destination)
            assert accepted.status_code == 202, accepted.text
            status = await finished(client, name)
            assert (status["phase"], status["numRecords"]) == ("Succeeded", 3), status
    assert (allowed / "in" / "orders.csv").read_text().splitlines() == ['"id"', "1", "2", "3"]


def test_file_roots_must_be_folders(tmp_path):
    with plugin_workspace(tmp_path / "ws", service_file_roots=[str(tmp_path / "missing")]) as mk:
        with pytest.raises(
            ConfigError, match=r"`.*missing` in `service_file_roots` \(command line\) is not a folder"
        ):
            create_app(mk, worker=False)
