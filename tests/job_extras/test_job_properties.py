"""Properties: backends (local, env, memory), the `meshkit properties` commands, and jobs that
read and write them."""

import json

import duckdb
import pytest

from meshkit.core.errors import ConfigError, UserError
from meshkit.job.properties import LocalProperties, properties_backend
from meshkit.testing import plugin_workspace


def test_local_properties_keep_json_values_per_scope(mk, workspace):
    backend = properties_backend(mk)
    assert isinstance(backend, LocalProperties)
    values = {
        "last_ts": "2024-01-03",
        "retries": 3,
        "ratio": 0.5,
        "on": True,
        "tags": ["a", "b"],
        "nested": {"k": None},
    }
    backend.set_all("nightly", values)
    backend.set_all("", {"region": "eu"})
    with plugin_workspace(workspace.root) as other:
        assert properties_backend(other).get_all("nightly") == values
        assert properties_backend(other).get_all("") == {"region": "eu"}
    backend.set_all("nightly", {"retries": 4})
    assert backend.get_all("nightly") == {"retries": 4}
    assert backend.get_all("") == {"region": "eu"}


def test_values_must_be_json(mk):
    with pytest.raises(UserError, match="Property `when` of job `j` is a set"):
        properties_backend(mk).set_all("j", {"when": {1, 2}})


def test_env_backend_reads_variables_and_refuses_writes(workspace, monkeypatch):
    monkeypatch.setenv("MESHKIT_PROPERTY_API_URL", "https://example.test")
    with plugin_workspace(workspace.root, properties_backend="env") as mk:
        assert properties_backend(mk).get_all("any")["API_URL"] == "https://example.test"
        with pytest.raises(ConfigError, match="read-only"):
            properties_backend(mk).set_all("any", {"x": 1})


def test_memory_backend(tmp_path):
    with plugin_workspace(tmp_path / "ws", properties_backend="memory") as mk:
        backend = properties_backend(mk)
        value = {"list": [1]}
        backend.set_all("j", {"v": value})
        value["list"].append(2)  # the stored copy does not change with the caller's object
        assert backend.get_all("j") == {"v": {"list": [1]}}


def test_properties_commands(cli, tmp_path):
    assert cli("properties", "set", "region", "eu").exit_code == 0
    assert cli("properties", "set", "--job", "nightly", "last_ts", "2024-01-01").exit_code == 0
    assert cli("properties", "get", "region").stdout.strip() == "eu"
    assert cli("properties", "get", "--job", "nightly", "last_ts").stdout.strip() == "2024-01-01"
    listed = cli("properties", "list")
    assert "region" in listed.stdout and "eu" in listed.stdout and "last_ts" not in listed.stdout
    path = tmp_path / "props.json"
    path.write_text(json.dumps({"batch": 500, "tables": ["a", "b"]}))
    assert cli("properties", "set", "--job", "nightly", "--from-json", str(path)).exit_code == 0
    as_json = cli("properties", "list", "--job", "nightly", "--json")
    assert json.loads(as_json.stdout) == {"batch": 500, "last_ts": "2024-01-01", "tables": ["a", "b"]}
    assert cli("properties", "get", "--job", "nightly", "tables").stdout.strip() == '["a", "b"]'
    assert cli("properties", "set", "--job", "nightly", "--from-json", str(path), "--replace").exit_code == 0
    assert json.loads(cli("properties", "list", "--job", "nightly", "--json").stdout) == {
        "batch": 500,
        "tables": ["a", "b"],
    }
    assert cli("properties", "delete", "--job", "nightly", "batch").exit_code == 0
    missing = cli("properties", "get", "--job", "nightly", "batch")
    assert missing.exit_code == 1 and "No property `batch` in job `nightly`" in missing.output


def test_properties_set_usage_errors(cli, tmp_path):
    assert cli("properties", "set", "only_key").exit_code == 2
    path = tmp_path / "p.json"
    path.write_text("{")
    bad = cli("properties", "set", "--from-json", str(path))
    assert bad.exit_code == 1 and "Invalid JSON" in bad.output and "p.json:1" in bad.output


def test_a_job_reads_and_keeps_state_in_properties(cli, make_job, workspace):
    """A job reads its watermark, processes from it and stores the next one (VDK's usage)."""
    make_job("incremental", {"10_step.py": """
        def run(job_input):
            props = job_input.get_all_properties()
            seen = props.get("runs", 0)
            job_input.execute_query("CREATE TABLE IF NOT EXISTS marks (region VARCHAR, run INTEGER)")
            job_input.execute_query("INSERT INTO marks VALUES ('{region}', %d)" % (seen + 1))
            props["runs"] = seen + 1
            props.pop("region", None)
            job_input.set_all_properties(props)
    """})  # fmt: skip
    assert cli("properties", "set", "region", "eu").exit_code == 0
    for _ in range(2):
        result = cli("run", "incremental")
        assert result.exit_code == 0, result.output
    assert json.loads(cli("properties", "list", "--job", "incremental", "--json").stdout) == {"runs": 2}
    assert cli("properties", "get", "region").stdout.strip() == "eu"
    con = duckdb.connect(str(workspace.root / ".meshkit" / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("SELECT region, run FROM marks ORDER BY run").fetchall() == [("eu", 1), ("eu", 2)]
    finally:
        con.close()
