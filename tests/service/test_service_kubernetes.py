"""The Kubernetes executor's Job and CronJob, validated by the kubernetes client's own models (no cluster)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kubernetes import client

from meshkit.service.deployments import Deployment
from meshkit.service.executors import ExecutionSpec
from meshkit.service.executors.kubernetes import KubernetesExecutor, k8s_name

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _executor(tmp_path):
    from meshkit.testing import plugin_workspace

    mk = plugin_workspace(tmp_path / "ws", service_k8s_namespace="data-jobs", service_k8s_image="registry.local/meshkit:1.0",
                          service_url="https://meshkit.example.com")  # fmt: skip
    return KubernetesExecutor(mk), mk


def _roundtrip(obj, cls):
    """Serialize as the API server would receive it and parse it back with the client's models."""
    data = client.ApiClient().sanitize_for_serialization(obj)
    json.dumps(data)
    return data, cls.from_dict(data)


def test_job_per_execution(tmp_path):
    executor, mk = _executor(tmp_path)
    spec = ExecutionSpec(run_id="orders-daily-20240101T030000-abcd1234", team="sales", job="orders-daily", deployment="production",
                         version=3, job_dir=Path("/x"), workspace=Path("/w"), log_path=Path("/l"),
                         arguments={"day": "2024-01-01"}, timeout=600)  # fmt: skip
    data, job = _roundtrip(executor.render_job(spec), client.V1Job)
    mk.close()
    assert (data["apiVersion"], data["kind"], data["metadata"]["namespace"]) == (
        "batch/v1",
        "Job",
        "data-jobs",
    )
    assert DNS_LABEL.match(job.metadata.name) and len(job.metadata.name) <= 63
    assert job.spec.backoff_limit == 0 and job.spec.active_deadline_seconds == 600
    pod = job.spec.template.spec
    assert pod.restart_policy == "Never"
    main = pod.containers[0]
    assert main.image == "registry.local/meshkit:1.0"
    assert main.command[-4:] == ["--run-id", spec.run_id, "--arguments", '{"day": "2024-01-01"}']
    assert main.resources.limits == {"cpu": "1", "memory": "1Gi"}
    fetch = pod.init_containers[0]
    env = {e.name: e for e in fetch.env}
    assert (
        env["MESHKIT_SOURCE_URL"].value
        == "https://meshkit.example.com/api/v1/teams/sales/jobs/orders-daily/sources/3/download"
    )
    # credentials are references to Secrets, never values
    assert (
        env["MESHKIT_TOKEN"].value is None
        and env["MESHKIT_TOKEN"].value_from.secret_key_ref.name == "meshkit-service-token"
    )
    assert main.env[0].value_from.secret_key_ref.name == "meshkit-metadata"
    assert {v.name for v in pod.volumes} == {m.name for m in main.volume_mounts} == {"workspace"}


def test_cronjob_per_deployment(tmp_path):
    executor, mk = _executor(tmp_path)
    deployment = Deployment(team="sales", job="a-very-long-job-name-for-the-daily-orders-pipeline", id="production", version=7,
                            schedule="0 3 * * *", timezone="Europe/Berlin", retries=2, timeout=3600, enabled=False)  # fmt: skip
    data, cron = _roundtrip(executor.render_cronjob(deployment), client.V1CronJob)
    mk.close()
    assert data["kind"] == "CronJob" and len(cron.metadata.name) <= 52 and DNS_LABEL.match(cron.metadata.name)
    spec = cron.spec
    assert (spec.schedule, spec.time_zone, spec.suspend, spec.concurrency_policy) == (
        "0 3 * * *",
        "Europe/Berlin",
        True,
        "Forbid",
    )
    assert (
        spec.job_template.spec.backoff_limit == 2 and spec.job_template.spec.active_deadline_seconds == 3600
    )
    main = spec.job_template.spec.template.spec.containers[0]
    assert "$(MESHKIT_RUN_ID)" in main.command
    assert {e.name for e in main.env} == {"MESHKIT_METADATA_URL", "MESHKIT_RUN_ID"}


def test_names_are_dns_labels():
    assert k8s_name("mk", "Sales_Team", "orders") == "mk-sales-team-orders"
    long = k8s_name("mk", "x" * 100)
    assert len(long) == 63 and DNS_LABEL.match(long) and long != k8s_name("mk", "x" * 101)


def test_job_per_transfer_execution(tmp_path):
    """A transfer applied through the service is a Job too: it fetches the spec and runs `transfer apply`."""
    executor, mk = _executor(tmp_path)
    spec = ExecutionSpec(run_id="orders-copy-20240101T030000-abcd1234", team="*", job="orders-copy", deployment="transfer",
                         version=2, job_dir=Path("/x"), workspace=Path("/w"), log_path=Path("/l"), timeout=900,
                         kind="transfer")  # fmt: skip
    data, job = _roundtrip(executor.render_job(spec), client.V1Job)
    mk.close()
    assert DNS_LABEL.match(job.metadata.name) and job.spec.active_deadline_seconds == 900
    pod = job.spec.template.spec
    assert pod.containers[0].command == ["meshkit", "--workspace", "/workspace", "transfer", "apply",
                                         "/workspace/jobs/orders-copy/transfer.yaml", "--run-id", spec.run_id]  # fmt: skip
    env = {e.name: e for e in pod.init_containers[0].env}
    assert (
        env["MESHKIT_SOURCE_URL"].value
        == "https://meshkit.example.com/api/v1/transfers/orders-copy/sources/2/download"
    )
    assert all(value == "" or DNS_LABEL.match(value) for value in job.metadata.labels.values())
