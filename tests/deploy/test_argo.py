"""`meshkit export argo`: Workflow and CronWorkflow objects built with hera, valid against Argo's schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from export_tools import validate_argo

from meshkit.testing import run_cli


def _export(ws, out, name, *options):
    result = run_cli([*options, "export", "argo", name, "-o", str(out)], workspace=ws)
    assert result.exit_code == 0, result.output
    return out / f"{name}.argo.yaml"


def test_scheduled_job_is_a_valid_cron_workflow(export_ws, tmp_path):
    path = _export(export_ws, tmp_path, "nightly")
    cron = yaml.safe_load(path.read_text())
    assert cron["kind"] == "CronWorkflow"
    assert cron["spec"]["schedules"] == ["0 3 * * *"] and cron["spec"]["concurrencyPolicy"] == "Forbid"
    container = cron["spec"]["workflowSpec"]["templates"][0]["container"]
    assert container["command"][-2:] == ["run", "jobs/nightly"]
    assert {
        "name": "OPS_DSN",
        "valueFrom": {"secretKeyRef": {"key": "OPS_DSN", "name": "meshkit-secrets"}},
    } in container["env"]
    checked = validate_argo(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.strip() == "valid: CronWorkflow"


def test_unscheduled_job_is_a_valid_workflow(export_ws, tmp_path):
    path = _export(export_ws, tmp_path, "adhoc")
    workflow = yaml.safe_load(path.read_text())
    assert workflow["kind"] == "Workflow" and workflow["metadata"]["generateName"] == "mk-adhoc-"
    checked = validate_argo(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: x}\n"
                      "spec: {entrypoint: main, templates: [{name: main, container: {image: 3}}]}\n")  # fmt: skip
    checked = validate_argo(broken)
    assert checked.returncode == 1 and "invalid: Workflow" in checked.stdout


def test_pipeline_is_a_dag_of_node_templates(pipeline_ws, tmp_path):
    path = _export(pipeline_ws, tmp_path, "daily", "-c", f"export_workspace={pipeline_ws}")
    cron = yaml.safe_load(path.read_text())
    spec = cron["spec"]["workflowSpec"]
    assert cron["spec"]["timezone"] == "Europe/Berlin" and spec["parallelism"] == 2
    templates = {t["name"]: t for t in spec["templates"]}
    dag = {t["name"]: t for t in templates["main"]["dag"]["tasks"]}
    assert dag["report"]["depends"] == "extract" and dag["tolerant"]["continueOn"] == {"failed": True}
    report = templates[dag["report"]["template"]]
    assert report["container"]["command"][3:] == [
        "run",
        "nightly",
        "--arguments",
        '{"marker": "reported.txt"}',
    ]
    assert report["retryStrategy"]["limit"] == 1 and report["activeDeadlineSeconds"] == 600
    checked = validate_argo(path)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # no cluster here: each node's container command runs on this machine (in the workspace, the
    # image's WORKDIR), in the DAG's order
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    codes = {}
    for name, task in dag.items():
        command = templates[task["template"]]["container"]["command"]
        codes[name] = subprocess.run(
            command, env=env, cwd=pipeline_ws, capture_output=True, timeout=600
        ).returncode
    assert codes == {
        "extract": 0,
        "report": 0,
        "tolerant": 1,
        "after-tolerant": 0,
    }  # Argo task names are DNS labels
    assert (pipeline_ws / "reported.txt").read_text() == "ran"
