"""Helpers of the control-service tests: job folders, zips, tokens per role, deploy and wait."""

from __future__ import annotations

import io
import textwrap
import time
import zipfile
from pathlib import Path

from meshkit.service.auth import create_token

TEAM = "data"


def write_job(root: Path, name: str, steps: dict[str, str], config: str | None = None) -> Path:
    """A job folder with ``steps`` (file name -> source) and an optional config.ini."""
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, source in steps.items():
        (folder / filename).write_text(textwrap.dedent(source))
    if config is not None:
        (folder / "config.ini").write_text(textwrap.dedent(config))
    return folder


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


HELLO = {"10_hello.py": """
    def run(job_input):
        print("hello", job_input.get_arguments())
    """}  # fmt: skip

SLOW = {"10_slow.py": """
    import time

    def run(job_input):
        print("slow job started", flush=True)
        time.sleep(float(job_input.get_arguments().get("seconds", 60)))
    """}  # fmt: skip


class Tokens(dict):
    """Bearer headers by role name: admin (all teams), developer, viewer (team data), outsider (team other)."""

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self[role]}"}


def make_tokens(engine) -> Tokens:
    tokens = Tokens()
    for role, roles in (("admin", {"*": "admin"}), ("developer", {TEAM: "developer"}), ("viewer", {TEAM: "viewer"}),
                        ("outsider", {"other": "admin"})):  # fmt: skip
        tokens[role] = create_token(engine, name=role, subject=f"{role}@example.com", roles=roles)[1]
    return tokens


def stop_service(svc, timeout: float = 15.0) -> None:
    """Stop the worker, stop executions still running and wait for their watchers."""
    import sqlalchemy as sa

    from meshkit.service.tables import executions

    svc.stop()
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(executions).where(executions.c.state == "launched")).mappings().all()
    for row in rows:
        svc.executor.cancel(dict(row))
    deadline = time.monotonic() + timeout
    while svc.running and time.monotonic() < deadline:
        time.sleep(0.05)


async def deploy(api, job: str, files: dict[str, str], **deployment) -> dict:
    """Create ``job`` in team data, upload ``files`` and deploy them; returns the deployment."""
    response = await api.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": job})
    assert response.status_code in (201, 409), response.text
    response = await api.post(
        f"/api/v1/teams/{TEAM}/jobs/{job}/sources", files={"file": ("job.zip", zip_bytes(files))}
    )
    assert response.status_code == 201, response.text
    body = {"version": response.json()["version"], **deployment}
    response = await api.post(f"/api/v1/teams/{TEAM}/jobs/{job}/deployments", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def wait_status(api, job: str, execution_id: str, statuses: set[str], timeout: float = 60.0) -> dict:
    """Poll an execution until its status is in ``statuses`` (and, once final, the service has seen it end)."""
    import anyio

    deadline = time.monotonic() + timeout
    while True:
        response = await api.get(f"/api/v1/teams/{TEAM}/jobs/{job}/executions/{execution_id}")
        body = response.json()
        settled = body.get("state") in (None, "done", "retry") or body.get("status") in (
            "submitted",
            "running",
        )
        if body.get("status") in statuses and settled:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(
                f"execution {execution_id} still {body.get('status')} after {timeout} s: {body}"
            )
        await anyio.sleep(0.1)
