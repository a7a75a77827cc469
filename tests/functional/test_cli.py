"""The core commands as a newcomer types them."""

import json
import os
import subprocess
import sys
from pathlib import Path

from meshkit.testing import run_cli


def test_init_create_run_runs(tmp_path):
    ws = tmp_path / "ws"
    result = run_cli(["init", str(ws)])
    assert result.exit_code == 0, result.output
    assert (ws / "meshkit.toml").is_file() and (ws / "jobs").is_dir() and (ws / ".meshkit").is_dir()
    assert ".meshkit/" in (ws / ".gitignore").read_text()
    assert run_cli(["create", "job", "hello"], workspace=ws).exit_code == 0
    assert sorted(p.name for p in (ws / "jobs" / "hello").iterdir()) == [
        "10_create_table.sql", "20_ingest.py", "30_report.sql", "config.ini"]  # fmt: skip
    result = run_cli(["run", "hello", "--arg", "name=ann"], workspace=ws)
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.stdout and "10 rows written" in result.stdout
    runs = json.loads(run_cli(["runs", "--json"], workspace=ws).stdout)
    assert [(r["name"], r["status"], r["rows_written"]) for r in runs] == [("hello", "succeeded", 10)]


def test_init_refuses_an_existing_workspace(tmp_path):
    assert run_cli(["init", str(tmp_path)]).exit_code == 0
    result = run_cli(["init", str(tmp_path)])
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_create_job_rejects_bad_names_and_duplicates(workspace, cli):
    assert cli("create", "job", "bad name").exit_code == 2
    assert cli("create", "job", "ok").exit_code == 0
    result = cli("create", "job", "ok")
    assert result.exit_code == 2 and "already exists" in result.stderr


def test_config_shows_value_and_source(workspace, cli):
    (workspace.root / "meshkit.toml").write_text(
        '[config]\ndb_default_type = "sqlite"\nlog_level = "DEBUG"\n'
    )
    result = cli("-c", "log_level=WARNING", "config", "--json", env={"MESHKIT_INGEST_BATCH_ROWS": "500"})
    rows = {r["key"]: (r["value"], r["source"]) for r in json.loads(result.stdout)}
    assert rows["db_default_type"] == ("sqlite", "meshkit.toml")
    assert rows["log_level"] == ("WARNING", "command line")
    assert rows["ingest_batch_rows"] == (500, "environment MESHKIT_INGEST_BATCH_ROWS")
    assert rows["connection_retries"] == (3, "default")


def test_bad_config_is_exit_code_2_with_the_file(workspace, cli):
    (workspace.root / "meshkit.toml").write_text("[config]\ndb_defualt_type = 'x'\n")
    result = cli("config")
    assert result.exit_code == 2
    assert (
        "Unknown config key `db_defualt_type`" in result.stderr
        and "Did you mean `db_default_type`?" in result.stderr
    )
    (workspace.root / "meshkit.toml").write_text("[config\n")
    result = cli("config")
    assert result.exit_code == 2 and "meshkit.toml" in result.stderr and "Traceback" not in result.stderr


def test_plugins_lists_builtins_with_hooks(cli):
    result = cli("plugins")
    assert result.exit_code == 0
    assert "meshkit.job.runner" in result.stdout and "run_job" in result.stdout


def test_usage_error_is_exit_code_2(cli):
    assert cli("run").exit_code == 2
    assert cli("no-such-command").exit_code == 2


def test_runs_show_unknown_run(cli):
    result = cli("runs", "show", "nope")
    assert result.exit_code == 2 and "No run `nope`" in result.stderr


def test_console_script_is_installed(tmp_path):
    exe = Path(sys.executable).parent / "meshkit"
    result = subprocess.run(
        [str(exe), "--version"], capture_output=True, text=True, env=os.environ.copy(), check=False
    )
    assert result.returncode == 0 and "meshkit" in result.stdout


def test_quickstart_example_runs(tmp_path):
    import shutil

    ws = tmp_path / "quickstart"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "quickstart", ws)
    for job in ("load_orders", "daily_sales"):
        result = run_cli(["run", job, "--arg", "day=2026-11-20"], workspace=ws)
        assert result.exit_code == 0, result.output
    assert "orders" in result.stdout and "revenue" in result.stdout
    runs = json.loads(run_cli(["runs", "--json"], workspace=ws).stdout)
    assert [(r["name"], r["status"]) for r in runs] == [
        ("daily_sales", "succeeded"),
        ("load_orders", "succeeded"),
    ]


def test_run_reports_its_own_run_when_a_newer_one_exists(workspace, cli):
    """A job that starts another job (as a pipeline's nodes do at once) still reports its own run."""
    for name in ("outer", "inner"):
        (workspace.root / "jobs" / name).mkdir(parents=True)
    (workspace.root / "jobs" / "inner" / "10_one.sql").write_text("SELECT 1")
    (workspace.root / "jobs" / "outer" / "10_nested.py").write_text(
        "import os, subprocess, sys\n\n\n"
        "def run(job_input):\n"
        "    meshkit = os.path.join(os.path.dirname(sys.executable), 'meshkit')\n"
        f"    subprocess.run([meshkit, '-w', {str(workspace.root)!r}, 'run', 'inner'], check=True)\n"
    )
    result = cli("run", "outer")
    assert result.exit_code == 0, result.output
    runs = {r["name"]: r["id"] for r in json.loads(cli("runs", "--json").stdout)}
    assert f"Run {runs['outer']} succeeded" in result.stdout, result.stdout
