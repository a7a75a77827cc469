"""Fixtures of the exporter tests: an example workspace, and Airflow 3 once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from export_tools import airflow_environment, ensure_airflow, missing

from meshkit.core.workspace import init_workspace

STEP = """\
from pathlib import Path


def run(job_input):
    marker = Path(job_input.get_arguments().get("marker", "ran.txt"))
    marker.write_text("ran")
"""


def add_job(root: Path, name: str, *, config: str = "", requirements: str | None = None) -> Path:
    job = root / "jobs" / name
    job.mkdir(parents=True)
    (job / "10_step.py").write_text(STEP)
    if config:
        (job / "config.ini").write_text(config)
    if requirements is not None:
        (job / "requirements.txt").write_text(requirements)
    return job


@pytest.fixture
def export_ws(tmp_path):
    """A workspace with a scheduled job whose config references a secret, and an unscheduled one."""
    ws = init_workspace(tmp_path / "ws")
    with open(ws.root / "meshkit.toml", "a") as toml:
        toml.write('\n[stores.ops]\ntype = "postgres"\ndsn = "env:OPS_DSN"\n')
    add_job(ws.root, "nightly", config="[owner]\nteam = sales\n[job]\nschedule_cron = 0 3 * * *\n",
            requirements="tabulate==0.9.0\n")  # fmt: skip
    add_job(ws.root, "adhoc")
    return ws.root


PIPELINE = """\
name: daily
concurrency: 2
schedule: "30 5 * * *"
timezone: Europe/Berlin
defaults: {retries: 1, retry_delay: 1}
nodes:
  - {name: extract, job: adhoc, arguments: {marker: extracted.txt}}
  - {name: report, job: nightly, depends_on: [extract], timeout: 600, arguments: {marker: reported.txt}}
  - {name: tolerant, job: broken, retries: 0, fail_pipeline_on_error: false}
  - {name: after_tolerant, job: adhoc, depends_on: [tolerant], arguments: {marker: after.txt}}
"""


@pytest.fixture
def pipeline_ws(export_ws):
    """``export_ws`` with a failing job and pipeline ``daily`` over the three jobs."""
    job = add_job(export_ws, "broken")
    (job / "10_step.py").write_text("def run(job_input):\n    raise ValueError('broken on purpose')\n")
    (export_ws / "pipelines").mkdir()
    (export_ws / "pipelines" / "daily.yaml").write_text(PIPELINE)
    return export_ws


@pytest.fixture(scope="session")
def airflow(tmp_path_factory):
    """``airflow(*args)`` runs the Airflow 3 command line in a fresh home with its database migrated."""
    try:
        executable = ensure_airflow()
    except (subprocess.CalledProcessError, OSError) as exc:
        missing(f"could not install Airflow 3: {exc}")
    home = tmp_path_factory.mktemp("airflow")
    (home / "dags").mkdir()
    env = airflow_environment(home)

    def run(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(executable), *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    migrated = run("db", "migrate")
    if migrated.returncode:
        pytest.fail(f"airflow db migrate failed:\n{migrated.stdout[-2000:]}\n{migrated.stderr[-2000:]}")
    run.home = home
    run.python = executable.parent / "python"
    run.env = env
    return run
