"""``meshkit server`` as a real process: CLI login/deploy/execute, and a restart in the middle of runs."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
import sqlalchemy as sa
from service_helpers import SLOW, write_job

from meshkit.service.executors import run_log
from meshkit.service.executors.local import process_runs
from meshkit.service.tables import executions

TEAM = "data"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(root, port: int) -> subprocess.Popen:
    log = open(root / "server.log", "ab")  # noqa: SIM115 - kept open for the process's lifetime
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))",
                             "--workspace", str(root), "-c", "service_tick_seconds=0.2", "server", "--port", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError((root / "server.log").read_text())


def _wait(client, path: str, statuses: set[str], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(path).json()
        if body["status"] in statuses and body.get("state") in (None, "done", "retry", "launched") and (
            body["status"] in ("running", "submitted") or body.get("state") != "launched"):  # fmt: skip
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.2)


def test_cli_and_restart_reconciliation(workspace, cli):
    root = workspace.root
    write_job(root / "jobs", "hello", {"10_hello.py": "import logging\n\ndef run(job_input):\n    logging.getLogger('hello').info('hi from the service')\n"},
              config="[owner]\nteam = data\n")  # fmt: skip
    write_job(root / "jobs", "broken", {"10_fail.py": "def run(job_input):\n    raise ValueError('order ' + str(6 * 7) + ' has no customer')\n"},
              config="[owner]\nteam = data\n")  # fmt: skip
    write_job(root / "jobs", "lost", SLOW)
    write_job(root / "jobs", "survivor", SLOW)
    port = _free_port()
    server = _start_server(root, port)
    try:
        assert oct((root / ".meshkit" / "credentials").stat().st_mode & 0o777) == "0o600"
        printed = (root / "server.log").read_text()
        ui, docs = (re.search(rf"{label} +(http\S+)", printed).group(1) for label in ("UI", "API docs"))
        assert httpx.get(ui, follow_redirects=True).url.path == "/ui/login"
        assert "swagger-ui" in httpx.get(docs).text
        for job in ("hello", "broken", "lost", "survivor"):
            result = cli("deploy", str(root / "jobs" / job), "--team", TEAM)
            assert result.exit_code == 0, result.output
        assert "Deployed data/hello v1" in cli("deploy", str(root / "jobs" / "hello")).output
        result = cli("execute", "hello", "--team", TEAM, "--start", "--wait")
        assert result.exit_code == 0, result.output
        assert "hi from the service" in result.stdout and "succeeded" in result.stdout
        failed = cli("execute", "broken", "--team", TEAM, "--start", "--wait")
        assert failed.exit_code == 1, failed.output
        # the run's own log says what failed; the command adds where to look, not the same error again
        assert "ValueError: order 42 has no customer" in failed.stdout, failed.output
        assert "order 42" not in failed.stderr and "error is in the log above" in failed.stderr, failed.output
        listed = cli("list", "--json")
        assert '"last_status": "succeeded"' in listed.stdout
        assert "production" in cli("show", "hello", "--team", TEAM).stdout
        _remote_properties_and_secrets(cli)

        token = (root / ".meshkit" / "service" / "admin-token").read_text().strip()
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}/api/v1/teams/{TEAM}/jobs",
            headers={"Authorization": f"Bearer {token}"},
        )
        ids = {}
        for job in ("lost", "survivor"):
            ids[job] = client.post(f"/{job}/executions", json={"arguments": {"seconds": 120}}).json()["id"]
        for job, run_id in ids.items():
            _wait(client, f"/{job}/executions/{run_id}", {"running"})

        os.killpg(server.pid, signal.SIGKILL)  # the server dies; its executions run on in their own sessions
        server.wait()
        engine = sa.create_engine(f"sqlite:///{root / '.meshkit' / 'metadata.db'}")
        with engine.connect() as conn:
            pids = dict(
                conn.execute(
                    sa.select(executions.c.job, executions.c.pid).where(executions.c.job.in_(ids))
                ).all()
            )
        engine.dispose()
        os.killpg(pids["lost"], signal.SIGKILL)  # ... and one of them is lost while the server is down

        server = _start_server(root, port)
        lost = _wait(
            client,
            f"/lost/executions/{ids['lost']}",
            {"platform_error", "succeeded", "cancelled", "user_error"},
        )
        assert lost["status"] == "platform_error" and "server restarted" in lost["error"]
        survivor = client.get(f"/survivor/executions/{ids['survivor']}").json()
        assert survivor["status"] == "running"  # adopted, still running
        cancel = cli("execute", "survivor", "--team", TEAM, "--cancel", ids["survivor"])
        assert cancel.exit_code == 0, cancel.output
        survivor = _wait(
            client,
            f"/survivor/executions/{ids['survivor']}",
            {"cancelled", "platform_error", "succeeded"},
            30,
        )
        assert survivor["status"] == "cancelled"
        metrics = client.get(f"http://127.0.0.1:{port}/metrics").text
        assert 'meshkit_executions_total{status="platform_error"} 1.0' in metrics
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        _stop_executions(root)


def _remote_properties_and_secrets(cli) -> None:
    """``properties`` and ``secrets`` with ``--remote`` act on the deployed job through the service."""
    remote = ("--remote", "--job", "hello", "--team", TEAM)
    assert cli("properties", "set", *remote, "batch", "500").exit_code == 0
    assert cli("properties", "set", *remote, "region", "eu").exit_code == 0
    assert cli("properties", "delete", *remote, "region").exit_code == 0
    assert json.loads(cli("properties", "list", *remote, "--json").stdout) == {"batch": "500"}
    assert cli("properties", "list", "--json").stdout.strip() == "{}"  # the workspace's own are untouched
    result = cli("secrets", "set", *remote, "db_password", "s3cr3t-value")
    assert result.exit_code == 0, result.output
    listed = cli("secrets", "list", *remote)
    assert "db_password" in listed.stdout and "s3cr3t-value" not in listed.output
    assert cli("secrets", "get", *remote, "db_password").stdout.strip() == "********"
    refused = cli("secrets", "get", *remote, "db_password", "--reveal")
    assert refused.exit_code == 1 and "never returns secret values" in refused.stderr
    assert "s3cr3t-value" not in refused.output
    assert cli("secrets", "delete", *remote, "db_password").exit_code == 0
    assert "db_password" not in cli("secrets", "list", *remote).stdout
    missing_job = cli("properties", "list", "--remote", "--team", TEAM)
    assert missing_job.exit_code == 2 and "--remote needs --job" in missing_job.output


def _stop_executions(root) -> None:
    """Stop the job processes this test's servers launched (by their recorded process ids)."""
    engine = sa.create_engine(f"sqlite:///{root / '.meshkit' / 'metadata.db'}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(executions.c.run_id, executions.c.pid).where(executions.c.pid.is_not(None))
        ).all()
    engine.dispose()
    for run_id, pid in rows:
        if process_runs(pid, run_log(root / ".meshkit" / "runs", run_id)):
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(autouse=True)
def _user_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.delenv("MESHKIT_TOKEN", raising=False)
