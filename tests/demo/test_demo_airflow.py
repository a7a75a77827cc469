"""The demo's SmartPizza pipeline exported with ``meshkit export airflow``: a real Airflow 3 loads the
DAG with the pipeline's tasks and dependencies, and ``airflow dags test`` runs it on a copy of
the demo workspace: one node of each kind runs its ``meshkit`` command, the others are marked
successful (each task is a fresh ``meshkit`` process, some seconds apiece; the whole pipeline
ran in the demo already).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from meshkit.testing import run_cli

DAG_ID = "meshkit_pipeline_smartpizza"
#: The tasks ``airflow dags test`` runs: a transfer, a job with arguments, the build, the checks, a publish.
RUN = ["orders-customers", "orders_ingest.2026-11-21", "build", "checks", "publish-orders"]
DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dags = {d: {t.task_id: sorted(t.upstream_task_ids) for t in bag.dags[d].tasks} for d in bag.dag_ids}
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": dags,
                  "max_active_tasks": {d: bag.dags[d].max_active_tasks for d in bag.dag_ids}}))
"""


def _export_tools():
    """The Airflow 3 helpers of the exporter tests (tests/deploy/export_tools.py)."""
    path = Path(__file__).resolve().parents[1] / "deploy" / "export_tools.py"
    spec = importlib.util.spec_from_file_location("export_tools", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def airflow(tmp_path_factory):
    """``airflow(*args)``: the Airflow 3 command line in a fresh home with its database migrated."""
    tools = _export_tools()
    try:
        executable = tools.ensure_airflow()
    except (subprocess.CalledProcessError, OSError) as exc:
        tools.missing(f"could not install Airflow 3: {exc}")
    home = tmp_path_factory.mktemp("airflow")
    (home / "dags").mkdir()
    env = tools.airflow_environment(home)

    def run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(executable), *args], env=env, capture_output=True, text=True, timeout=timeout
        )

    migrated = run("db", "migrate")
    assert migrated.returncode == 0, (migrated.stdout + migrated.stderr)[-3000:]
    run.home, run.python, run.env = home, executable.parent / "python", env
    return run


def _runs(workspace: Path) -> list:
    """The workspace's runs of jobs, transfers, builds, checks and publishes."""
    from meshkit.core.context import Meshkit

    with Meshkit.open(workspace) as mk:
        return [
            r
            for r in mk.runs.list(limit=10_000)
            if r.kind in ("job", "transfer", "build", "quality", "publish")
        ]


def test_demo_pipeline_exports_to_a_dag_that_airflow_loads_and_runs(demo, airflow, tmp_path):
    _result, built = demo
    workspace = tmp_path / "smartpizza"  # a copy: the other demo tests read the demo's own
    shutil.copytree(built, workspace, ignore=shutil.ignore_patterns("report"))
    nodes = yaml.safe_load((workspace / "pipelines" / "smartpizza.yaml").read_text())["nodes"]
    out = tmp_path / "dags"
    exported = run_cli(["export", "airflow", "smartpizza", "-o", str(out)], workspace=workspace)
    assert exported.exit_code == 0, exported.output

    done = subprocess.run([str(airflow.python), "-c", DAGBAG, str(out)], env=airflow.env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    bag = json.loads(done.stdout.strip().splitlines()[-1])
    assert bag["errors"] == {}
    assert bag["dags"][DAG_ID] == {n["name"]: sorted(n.get("depends_on", [])) for n in nodes}
    assert bag["max_active_tasks"][DAG_ID] == 1  # one process writes the DuckDB file at a time

    before = {r.id for r in _runs(workspace)}
    shutil.copy(out / f"{DAG_ID}.py", airflow.home / "dags")
    others = "|".join(re.escape(n["name"]) for n in nodes if n["name"] not in RUN)
    tested = airflow("dags", "test", DAG_ID, "--mark-success-pattern", f"(?:{others})")
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output[-4000:]  # a failed task fails the DAG run, and the command
    ran = [r for r in _runs(workspace) if r.id not in before]
    assert sorted((r.kind, r.name, r.status) for r in ran) == [
        ("build", "smartpizza", "succeeded"),
        ("job", "orders_ingest", "succeeded"),
        ("quality", "smartpizza", "succeeded"),
        ("transfer", "orders-customers", "succeeded"),
    ]
    assert next(r for r in ran if r.kind == "job").arguments == {"day": "2026-11-21"}
    assert "`orders` 1.0.0 is already published, unchanged." in output  # the demo published it
