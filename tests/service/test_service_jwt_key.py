"""The HS256 key of the service is a secret key: its reference is resolved, and a weak or missing key refuses to start."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from service_helpers import TEAM

from meshkit.core.errors import ConfigError
from meshkit.core.workspace import init_workspace
from meshkit.service.app import create_app
from meshkit.testing import plugin_workspace, run_cli

pytestmark = pytest.mark.anyio
REFERENCE = "env:MK_TEST_JWT_SECRET"


def _workspace(tmp_path, key: str):
    """A workspace whose meshkit.toml sets ``service_jwt_secret = key``."""
    root = init_workspace(tmp_path / "ws").root
    toml = root / "meshkit.toml"
    toml.write_text(toml.read_text().replace("[config]\n", f'[config]\nservice_jwt_secret = "{key}"\n'))
    return root


def _token(key: str) -> str:
    claims = {"sub": "ana", "exp": int(time.time()) + 300, "meshkit_roles": {"*": "admin"}}
    return jwt.encode(claims, key, "HS256")


@pytest.mark.filterwarnings("ignore:The HMAC key is")  # the reference text is a short key, on purpose
async def test_a_referenced_key_is_resolved_and_its_reference_text_is_no_key(tmp_path, monkeypatch):
    real = secrets.token_urlsafe(32)
    monkeypatch.setenv("MK_TEST_JWT_SECRET", real)
    root = _workspace(tmp_path, REFERENCE)
    with plugin_workspace(root) as mk:
        app = create_app(mk, worker=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meshkit.test") as client:
            forged = await client.get(
                "/api/v1/whoami", headers={"Authorization": f"Bearer {_token(REFERENCE)}"}
            )
            assert forged.status_code == 401, forged.text
            genuine = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {_token(real)}"})
            assert genuine.status_code == 200, genuine.text
            assert genuine.json() == {"subject": "ana", "roles": {"*": "admin"}, "via": "jwt"}
            created = await client.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": "x"},
                                        headers={"Authorization": f"Bearer {_token(real)}"})  # fmt: skip
            assert created.status_code == 201, created.text
        assert mk.redactor.redact(f"key {real}") == "key ***"
    shown = run_cli(["config", "--json"], workspace=root)
    assert shown.exit_code == 0, shown.output
    assert real not in shown.output and REFERENCE in shown.output


@pytest.mark.parametrize(
    ("key", "env", "message"),
    [
        ("env:MK_TEST_JWT_SECRET", {}, r"`service_jwt_secret` from meshkit.toml cannot be resolved: "
                                       r"Environment variable `MK_TEST_JWT_SECRET` is not set"),
        ("env:MK_TEST_JWT_SECRET", {"MK_TEST_JWT_SECRET": "short-key"}, r"`service_jwt_secret` \(meshkit.toml\) is 9 "
                                                                        r"bytes long; an HS256 key needs at least 32"),
        ("secret:jwt_key", {}, r"`service_jwt_secret` from meshkit.toml cannot be resolved: Secret `jwt_key` is not set"),
        ("a-literal-key-of-31-bytes-long!", {}, r"is 31 bytes long; an HS256 key needs at least 32"),
    ],
)  # fmt: skip
def test_the_app_refuses_to_start_without_a_strong_key(tmp_path, monkeypatch, key, env, message):
    monkeypatch.delenv("MK_TEST_JWT_SECRET", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with plugin_workspace(_workspace(tmp_path, key)) as mk:
        with pytest.raises(ConfigError, match=message) as err:
            create_app(mk, worker=False)
    assert "short-key" not in str(err.value)


def test_meshkit_server_refuses_to_start_with_a_clear_error(tmp_path):
    root = _workspace(tmp_path, REFERENCE)
    env = {k: v for k, v in os.environ.items() if k != "MK_TEST_JWT_SECRET"}
    done = subprocess.run([sys.executable, "-c", "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))",
                           "--workspace", str(root), "server", "--port", "1"],
                          capture_output=True, text=True, env=env, timeout=60)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "`service_jwt_secret` from meshkit.toml cannot be resolved" in output
    assert "MK_TEST_JWT_SECRET" in output and "Traceback" not in output
    assert not (root / ".meshkit" / "service" / "admin-token").exists()  # refused before doing anything


def test_every_secret_reference_is_resolved_before_the_app_starts(tmp_path, monkeypatch):
    monkeypatch.delenv("MK_TEST_SMTP_PASSWORD", raising=False)
    with plugin_workspace(tmp_path / "ws", notify_smtp_password="env:MK_TEST_SMTP_PASSWORD") as mk:
        with pytest.raises(ConfigError, match=r"`notify_smtp_password` from command line cannot be resolved: "
                                              r"Environment variable `MK_TEST_SMTP_PASSWORD` is not set"):  # fmt: skip
            create_app(mk, worker=False)
