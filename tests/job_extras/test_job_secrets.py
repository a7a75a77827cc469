"""Secrets: backends (local encrypted, env, memory, vault), the `meshkit secrets` commands, and
that no secret value reaches a run's log or the error output of a failing job."""

import json
import os
import sqlite3
import stat
import subprocess
import sys

import pytest

from meshkit.core.errors import ConfigError, TransientError
from meshkit.job.secrets import LocalSecrets, generate_key, secrets_backend
from meshkit.testing import plugin_workspace

SECRET = "Sup3r-S3cret-value"


def metadata_rows(workspace, sql):
    con = sqlite3.connect(workspace.root / ".meshkit" / "metadata.db")
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


# ---------------------------------------------------------------------------- local backend


def test_local_secrets_are_encrypted_with_a_key_file_of_mode_0600(mk, workspace):
    backend = secrets_backend(mk)
    assert isinstance(backend, LocalSecrets)
    backend.set_all("job_a", {"password": SECRET, "token": "tok-123456"})
    key_file = workspace.root / ".meshkit" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert backend.get("job_a", "password") == SECRET
    assert backend.get_all("job_a") == {"password": SECRET, "token": "tok-123456"}
    assert backend.get("job_a", "missing") is None
    assert backend.get_all("") == {}
    stored = metadata_rows(workspace, "SELECT scope, key, ciphertext FROM secrets ORDER BY key")
    assert [(scope, key) for scope, key, _ in stored] == [("job_a", "password"), ("job_a", "token")]
    assert all(SECRET.encode() not in blob and b"tok-123456" not in blob for _, _, blob in stored)


def test_set_all_replaces_the_scope_only(mk):
    backend = secrets_backend(mk)
    backend.set_all("a", {"x": "one-value", "y": "two-value"})
    backend.set_all("", {"x": "workspace-value"})
    backend.set_all("a", {"z": "three-value"})
    assert backend.get_all("a") == {"z": "three-value"}
    assert backend.get_all("") == {"x": "workspace-value"}


def test_values_read_are_registered_for_redaction(mk, workspace):
    secrets_backend(mk).set_all("", {"api": SECRET})
    with plugin_workspace(workspace.root) as other:  # a fresh process-like instance reads it back
        assert other.get_secret("api") == SECRET
        assert other.redactor.redact(f"calling with {SECRET}") == "calling with ***"


def test_configured_key_is_used_and_a_wrong_key_says_so(workspace):
    key = generate_key()
    with plugin_workspace(workspace.root, secret_key=key) as mk:
        secrets_backend(mk).set_all("", {"db": SECRET})
        assert mk.get_secret("db") == SECRET
    assert not (workspace.root / ".meshkit" / "secret.key").exists()
    with plugin_workspace(workspace.root, secret_key=generate_key()) as mk:
        with pytest.raises(ConfigError, match="encrypted with another key") as info:
            mk.get_secret("db")
        assert SECRET not in str(info.value)
    with plugin_workspace(workspace.root, secret_key="not-a-key") as mk:
        with pytest.raises(ConfigError, match="not 32 bytes") as info:
            mk.get_secret("db")
        assert "not-a-key" not in str(info.value)


def test_the_key_may_be_an_env_reference_but_not_a_secret_it_protects(workspace, monkeypatch):
    monkeypatch.setenv("MK_TEST_SECRET_KEY", generate_key())
    with plugin_workspace(workspace.root, secret_key="env:MK_TEST_SECRET_KEY") as mk:
        secrets_backend(mk).set_all("", {"db": SECRET, "master": generate_key()})
        assert mk.get_secret("db") == SECRET
        assert mk.redactor.redact(os.environ["MK_TEST_SECRET_KEY"]) == "***"
    with plugin_workspace(workspace.root, secret_key="secret:master") as mk:
        with pytest.raises(ConfigError, match=r"`secret_key` from command line cannot be resolved: "
                                              r"reading secrets needs `secret_key` itself"):  # fmt: skip
            mk.get_secret("db")


def test_a_ciphertext_moved_to_another_name_does_not_decrypt(mk, workspace):
    backend = secrets_backend(mk)
    backend.set_all("", {"a": SECRET, "b": "other-value"})
    with mk.metadata.engine.begin() as conn:
        conn.exec_driver_sql(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE key = 'a') WHERE key = 'b'"
        )
    with pytest.raises(ConfigError, match="Cannot decrypt secret `b`"):
        backend.get("", "b")


# ---------------------------------------------------------------------------- env and memory backends


def test_env_backend_reads_variables_and_refuses_writes(workspace, monkeypatch):
    monkeypatch.setenv("MESHKIT_SECRET_WAREHOUSE_PASSWORD", SECRET)
    with plugin_workspace(workspace.root, secrets_backend="env") as mk:
        assert mk.get_secret("WAREHOUSE_PASSWORD") == SECRET
        assert mk.get_secret("warehouse_password") == SECRET
        assert secrets_backend(mk).get_all("any_job")["WAREHOUSE_PASSWORD"] == SECRET
        assert mk.redactor.redact(SECRET) == "***"
        with pytest.raises(ConfigError, match="read-only"):
            secrets_backend(mk).set_all("", {"x": "y"})


def test_memory_backend_for_plugin_tests(tmp_path):
    with plugin_workspace(tmp_path / "ws", secrets_backend="memory") as mk:
        backend = secrets_backend(mk)
        assert secrets_backend(mk) is backend  # one backend per instance
        backend.set_all("job", {"k": SECRET})
        assert mk.get_secret("k", scope="job") == SECRET
        assert mk.redactor.redact(SECRET) == "***"
    with plugin_workspace(tmp_path / "ws", secrets_backend="memory") as mk:
        assert mk.get_secret("k", scope="job") is None


def test_unknown_backend_names_the_known_ones(workspace):
    with plugin_workspace(workspace.root, secrets_backend="keychain") as mk:
        with pytest.raises(ConfigError, match="Unknown secrets backend `keychain`") as info:
            mk.get_secret("x")
        assert "env, local, memory, vault" in info.value.hint


def test_vault_backend_says_what_is_missing_or_unreachable(workspace, monkeypatch):
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    with plugin_workspace(workspace.root, secrets_backend="vault") as mk:
        with pytest.raises(ConfigError, match="No Vault address"):
            mk.get_secret("x")
    with plugin_workspace(workspace.root, secrets_backend="vault", vault_url="http://127.0.0.1:1") as mk:
        with pytest.raises(ConfigError, match="No Vault token"):
            mk.get_secret("x")
    token = "hvs.not-a-real-token-123"
    overrides = {"secrets_backend": "vault", "vault_url": "http://127.0.0.1:1", "vault_token": token}
    with plugin_workspace(workspace.root, **overrides) as mk:
        with pytest.raises(TransientError, match="Cannot reach Vault") as info:
            mk.get_secret("x")
        assert token not in str(info.value)
        assert mk.redactor.redact(token) == "***"


def test_vault_backend(workspace):
    if not os.environ.get("VAULT_ADDR") or not os.environ.get("VAULT_TOKEN"):
        pytest.skip("HashiCorp Vault (optional) not configured: set VAULT_ADDR and VAULT_TOKEN")
    path = f"meshkit-test-{os.getpid()}-{workspace.root.parent.name}"
    with plugin_workspace(workspace.root, secrets_backend="vault", vault_path=path) as mk:
        backend = secrets_backend(mk)
        assert backend.get_all("job") == {}
        backend.set_all("job", {"password": SECRET, "user": "meshkit"})
        backend.set_all("", {"shared": "workspace-value"})
        assert backend.get("job", "password") == SECRET
        assert backend.get_all("job") == {"password": SECRET, "user": "meshkit"}
        assert backend.get_all("") == {"shared": "workspace-value"}
        assert mk.redactor.redact(SECRET) == "***"
        assert mk.redactor.redact(os.environ["VAULT_TOKEN"]) == "***"


# ---------------------------------------------------------------------------- meshkit secrets


def test_secrets_commands(cli):
    assert cli("secrets", "set", "db_password", SECRET).exit_code == 0
    assert cli("secrets", "set", "--job", "nightly", "api_key", "key-987654").exit_code == 0
    shown = cli("secrets", "get", "db_password")
    assert shown.exit_code == 0 and shown.stdout.strip() == "********"
    assert cli("secrets", "get", "db_password", "--reveal").stdout.strip() == SECRET
    listed = cli("secrets", "list")
    assert "db_password" in listed.stdout and SECRET not in listed.output and "api_key" not in listed.stdout
    assert "api_key" in cli("secrets", "list", "--job", "nightly").stdout
    assert cli("secrets", "delete", "db_password").exit_code == 0
    missing = cli("secrets", "get", "db_password")
    assert missing.exit_code == 1 and "No secret `db_password` in the workspace" in missing.output


def test_secrets_set_from_json(cli, tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"a": "alpha-value", "b": "beta-value", "port": 5432, "opts": {"ssl": True}}))
    assert cli("secrets", "set", "--job", "j", "--from-json", str(path)).exit_code == 0
    assert cli("secrets", "get", "--job", "j", "b", "--reveal").stdout.strip() == "beta-value"
    assert cli("secrets", "get", "--job", "j", "port", "--reveal").stdout.strip() == "5432"
    assert cli("secrets", "get", "--job", "j", "opts", "--reveal").stdout.strip() == '{"ssl": true}'
    path.write_text("[1, 2]")
    bad = cli("secrets", "set", "--from-json", str(path))
    assert bad.exit_code == 1 and "JSON object" in bad.output


def test_secrets_set_prompts_with_hidden_input(workspace):
    """Without VALUE the value is read from a prompt (stdin here), never echoed, never in argv."""
    command = "import sys; from meshkit.cli.main import main; sys.exit(main())"
    done = subprocess.run(
        [sys.executable, "-c", command, f"--workspace={workspace.root}", "secrets", "set", "typed"],
        input=f"{SECRET}\n", capture_output=True, text=True, timeout=60, start_new_session=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    with plugin_workspace(workspace.root) as mk:
        assert mk.get_secret("typed") == SECRET


def test_env_backend_set_fails_clearly_from_the_cli(cli):
    result = cli("-c", "secrets_backend=env", "secrets", "set", "x", "value-1234")
    assert result.exit_code == 2
    assert "read-only" in result.output and "MESHKIT_SECRET_<NAME>" in result.output


# ---------------------------------------------------------------------------- no secret in logs or errors

LEAKY_STEP = """
import logging

def run(job_input):
    password = job_input.get_secret("db_password")
    logging.getLogger("leaky").info("connecting with %s", password)
    logging.getLogger("leaky").warning(f"inline {password}")
    raise ValueError(f"login failed for password {password}")
"""


def test_a_secret_never_reaches_the_run_log(cli, make_job, workspace):
    make_job("leaky", {"10_connect.py": LEAKY_STEP})
    assert cli("secrets", "set", "--job", "leaky", "db_password", SECRET).exit_code == 0
    result = cli("run", "leaky")
    assert result.exit_code == 1
    logs = list((workspace.root / ".meshkit" / "runs").glob("leaky-*.log"))
    text = logs[0].read_text()
    assert "connecting with ***" in text and "login failed for password ***" in text
    assert SECRET not in text
    errors = metadata_rows(workspace, "SELECT error FROM runs WHERE name = 'leaky'")
    assert errors and all(SECRET not in (e or "") for (e,) in errors)


def test_a_secret_never_reaches_the_error_output(cli, make_job):
    make_job("leaky", {"10_connect.py": LEAKY_STEP})
    assert cli("secrets", "set", "--job", "leaky", "db_password", SECRET).exit_code == 0
    result = cli("run", "leaky")
    assert result.exit_code == 1
    assert "login failed for password ***" in result.output
    assert SECRET not in result.output


def test_what_a_step_prints_is_redacted(workspace, cli):
    job = workspace.root / "jobs" / "talky"
    job.mkdir(parents=True)
    (job / "10_talk.py").write_text(
        "import sys\n\ndef run(job_input):\n"
        "    value = job_input.get_secret('api')\n"
        "    print('out', value)\n    print('err', value, file=sys.stderr)\n"
    )
    assert cli("secrets", "set", "api", SECRET).exit_code == 0
    result = cli("run", "talky")
    assert result.exit_code == 0, result.output
    assert "out ***" in result.stdout and "err ***" in result.stderr
    assert SECRET not in result.output
