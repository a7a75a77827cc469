"""`meshkit export airflow`: the DAG loads in a real Airflow 3 and `airflow dags test` runs meshkit."""

from __future__ import annotations

import json
import shutil
import subprocess

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.testing import run_cli

DAGBAG = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
                  "tasks": {d: sorted(t.task_id for t in bag.dags[d].tasks) for d in bag.dag_ids}}))
"""


def load_dagbag(airflow, folder):
    done = subprocess.run([str(airflow.python), "-c", DAGBAG, str(folder)], env=airflow.env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_job_dag_loads_and_runs_meshkit(export_ws, tmp_path, airflow):
    out = tmp_path / "dags"
    result = run_cli(["export", "airflow", "nightly", "-o", str(out)], workspace=export_ws)
    assert result.exit_code == 0, result.output
    dag_file = out / "meshkit_job_nightly.py"
    text = dag_file.read_text()
    assert "from airflow.sdk import DAG" in text and "schedule='0 3 * * *'" in text

    bag = load_dagbag(airflow, out)
    assert bag["errors"] == {} and bag["dags"] == ["meshkit_job_nightly"]
    assert bag["tasks"] == {"meshkit_job_nightly": ["nightly"]}

    shutil.copy(dag_file, airflow.home / "dags" / dag_file.name)
    tested = airflow("dags", "test", "meshkit_job_nightly")
    assert tested.returncode == 0, (tested.stdout + tested.stderr)[-4000:]
    assert (export_ws / "ran.txt").read_text() == "ran"  # the task ran the job's step
    with Meshkit(Workspace.load(export_ws)) as mk:
        runs = mk.runs.list(kind="job", name="nightly")
    assert [r.status for r in runs] == ["succeeded"]


def test_pipeline_dag_runs_each_node_as_a_task(pipeline_ws, tmp_path, airflow):
    out = tmp_path / "dags"
    result = run_cli(["export", "airflow", "daily", "-o", str(out)], workspace=pipeline_ws)
    assert result.exit_code == 0, result.output
    dag_file = out / "meshkit_pipeline_daily.py"
    text = dag_file.read_text()
    assert "max_active_tasks=2" in text and "tz='Europe/Berlin'" in text
    assert "t_extract >> t_report" in text and "trigger_rule='all_done'" in text

    bag = load_dagbag(airflow, out)
    assert bag["errors"] == {}
    assert bag["tasks"] == {"meshkit_pipeline_daily": ["after_tolerant", "extract", "report", "tolerant"]}

    shutil.copy(dag_file, airflow.home / "dags" / dag_file.name)
    tested = airflow("dags", "test", "meshkit_pipeline_daily")
    output = tested.stdout + tested.stderr
    assert tested.returncode == 0, output[-4000:]
    assert "broken on purpose" in output  # the tolerated node failed, and the pipeline went on
    for marker in ("extracted.txt", "reported.txt", "after.txt"):
        assert (pipeline_ws / marker).read_text() == "ran"
    with Meshkit(Workspace.load(pipeline_ws)) as mk:
        statuses = sorted((r.name, r.status) for r in mk.runs.list(kind="job"))
    assert statuses == [("adhoc", "succeeded"), ("adhoc", "succeeded"), ("broken", "user_error"),
                        ("nightly", "succeeded")]  # fmt: skip
