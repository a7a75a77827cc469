"""`meshkit export kubernetes` and `export control-service`: manifests valid against Kubernetes' schema."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from export_tools import validate_kubernetes

from meshkit.testing import run_cli


def _objects(path):
    return [o for o in yaml.safe_load_all(path.read_text()) if o]


def test_scheduled_job_is_a_cronjob_with_secret_references(export_ws, tmp_path, monkeypatch):
    monkeypatch.setenv("OPS_DSN", "postgresql://u:hunter2@db/x")
    out = tmp_path / "out"
    result = run_cli(["export", "kubernetes", "nightly", "-o", str(out)], workspace=export_ws)
    assert result.exit_code == 0, result.output
    manifests = out / "nightly.yaml"
    config_map, cron = _objects(manifests)
    assert (config_map["kind"], cron["kind"]) == ("ConfigMap", "CronJob")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["meshkit", "--workspace", "/workspace", "run", "jobs/nightly"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert secrets == {"MESHKIT_METADATA_URL": {"name": "meshkit-metadata", "key": "url"},
                       "OPS_DSN": {"name": "meshkit-secrets", "key": "OPS_DSN"}}  # fmt: skip
    assert container["resources"]["limits"] == {"cpu": "1", "memory": "1Gi"}
    assert config_map["data"] == {"MESHKIT_TEAM": "sales"}
    dockerfile = (out / "nightly.Dockerfile").read_text()
    assert "RUN pip install --no-cache-dir -r jobs/nightly/requirements.txt" in dockerfile
    assert "hunter2" not in manifests.read_text() + dockerfile
    checked = validate_kubernetes([manifests])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_unscheduled_job_is_a_job_with_configured_image_and_resources(export_ws, tmp_path):
    out = tmp_path / "out"
    overrides = ["-c", "export_image=registry.local/sales:7", "-c", "export_memory_limit=3Gi",
                 "-c", "export_namespace=data"]  # fmt: skip
    result = run_cli([*overrides, "export", "kubernetes", "adhoc", "-o", str(out)], workspace=export_ws)
    assert result.exit_code == 0, result.output
    _, job = _objects(out / "adhoc.yaml")
    assert job["kind"] == "Job" and job["metadata"]["namespace"] == "data"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.local/sales:7"
    assert container["resources"]["limits"]["memory"] == "3Gi"
    assert "requirements" not in (out / "adhoc.Dockerfile").read_text()
    checked = validate_kubernetes([out / "adhoc.yaml"])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_control_service_manifests(export_ws, tmp_path):
    out = tmp_path / "out"
    result = run_cli(["export", "control-service", "-o", str(out)], workspace=export_ws)
    assert result.exit_code == 0, result.output
    path = out / "meshkit-service.yaml"
    kinds = [o["kind"] for o in _objects(path)]
    assert kinds == ["ConfigMap", "ServiceAccount", "Role", "RoleBinding", "Deployment", "Service"]
    deployment = _objects(path)[4]
    server = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "MESHKIT_METADATA_URL",
            "valueFrom": {"secretKeyRef": {"name": "meshkit-metadata", "key": "url"}}} in server["env"]  # fmt: skip
    assert all("value" not in e for e in server["env"])  # credentials only by reference
    checked = validate_kubernetes([path])
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_validator_rejects_a_broken_manifest(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: x}\nspec: {schedule: 1, nonsense: true}\n"
    )
    assert validate_kubernetes([broken]).returncode != 0


def test_unknown_target_and_job_are_config_errors(export_ws, tmp_path):
    result = run_cli(["export", "kubernetes", "nope", "-o", str(tmp_path)], workspace=export_ws)
    assert result.exit_code == 2 and "No job `nope`" in result.output


def test_pipeline_runs_meshkits_runner_in_one_pod(pipeline_ws, tmp_path):
    out = tmp_path / "out"
    result = run_cli(["-c", f"export_workspace={pipeline_ws}", "export", "kubernetes", "daily", "-o", str(out)],
                     workspace=pipeline_ws)  # fmt: skip
    assert result.exit_code == 0, result.output
    _, cron = _objects(out / "daily.yaml")
    assert cron["kind"] == "CronJob" and cron["spec"]["timeZone"] == "Europe/Berlin"
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][1:] == ["--workspace", str(pipeline_ws), "pipeline", "run", "daily"]
    assert "-r jobs/nightly/requirements.txt" in (out / "daily.Dockerfile").read_text()
    checked = validate_kubernetes([out / "daily.yaml"])
    assert checked.returncode == 0, checked.stdout + checked.stderr

    # no cluster here: the pod's command runs on this machine instead, and runs the whole graph
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    ran = subprocess.run(container["command"], env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for marker in ("extracted.txt", "reported.txt", "after.txt"):
        assert (pipeline_ws / marker).read_text() == "ran"
