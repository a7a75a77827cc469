"""The Kubernetes executor: a Job per execution and a CronJob per scheduled deployment.

Pods fetch the deployed source from the control service in an init container (with a token from
the Secret ``meshkit-service-token``) and run ``meshkit run`` on it against the shared metadata
database (URL from the Secret ``meshkit-metadata``). Credentials are references to Secrets,
never values in the rendered objects.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from meshkit.core.hookspecs import hookimpl
from meshkit.deploy.k8s import TOKEN_SECRET, k8s_name
from meshkit.service.executors import ExecutionSpec, ExitCallback

METADATA_SECRET = "meshkit-metadata"
_FETCH = (
    "import io, os, urllib.request, zipfile; "
    "req = urllib.request.Request(os.environ['MESHKIT_SOURCE_URL'], "
    "headers={'Authorization': 'Bearer ' + os.environ['MESHKIT_TOKEN']}); "
    "zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(req, timeout=60).read())).extractall(os.environ['MESHKIT_JOB_DIR'])"
)


class KubernetesExecutor:
    """Renders and submits Jobs and CronJobs with the ``kubernetes`` client."""

    name = "kubernetes"

    def __init__(self, meshkit):
        cfg = meshkit.config
        self.namespace = cfg.get("service_k8s_namespace")
        self.image = cfg.get("service_k8s_image")
        self.service_url = cfg.get("service_url").rstrip("/")
        self._batch = None

    # ---------------------------------------------------------------- rendering

    def _pod_template(self, spec: ExecutionSpec):
        from kubernetes import client

        team, job, version = spec.team, spec.job, spec.version
        job_dir = f"/workspace/jobs/{job}"
        run_cmd = ["meshkit", *spec.command("/workspace", job_dir)]
        source_url = (
            f"{self.service_url}/api/v1/transfers/{job}/sources/{version}/download"
            if spec.kind == "transfer"
            else f"{self.service_url}/api/v1/teams/{team}/jobs/{job}/sources/{version}/download"
        )
        token = client.V1EnvVar(name="MESHKIT_TOKEN", value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name=TOKEN_SECRET, key="token")))  # fmt: skip
        metadata_url = client.V1EnvVar(name="MESHKIT_METADATA_URL", value_from=client.V1EnvVarSource(
            secret_key_ref=client.V1SecretKeySelector(name=METADATA_SECRET, key="url")))  # fmt: skip
        volume = client.V1VolumeMount(name="workspace", mount_path="/workspace")
        fetch = client.V1Container(
            name="fetch-source", image=self.image, command=["python", "-c", _FETCH], volume_mounts=[volume],
            env=[token, client.V1EnvVar(name="MESHKIT_SOURCE_URL", value=source_url),
                 client.V1EnvVar(name="MESHKIT_JOB_DIR", value=job_dir)],
        )  # fmt: skip
        main = client.V1Container(
            name="job", image=self.image, command=run_cmd, volume_mounts=[volume], env=[metadata_url],
            resources=client.V1ResourceRequirements(requests={"cpu": "250m", "memory": "256Mi"},
                                                    limits={"cpu": "1", "memory": "1Gi"}),
        )  # fmt: skip
        labels = {
            "app.kubernetes.io/managed-by": "meshkit",
            "meshkit/team": k8s_name(team),
            "meshkit/job": k8s_name(job),
        }
        return client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels=labels),
            spec=client.V1PodSpec(restart_policy="Never", init_containers=[fetch], containers=[main],
                                  volumes=[client.V1Volume(name="workspace", empty_dir=client.V1EmptyDirVolumeSource())]),
        )  # fmt: skip

    def render_job(self, spec: ExecutionSpec):
        """The ``batch/v1`` Job of one execution."""
        from kubernetes import client

        template = self._pod_template(spec)
        return client.V1Job(
            api_version="batch/v1", kind="Job",
            metadata=client.V1ObjectMeta(name=k8s_name("mk", spec.run_id), namespace=self.namespace,
                                         labels={**template.metadata.labels, "meshkit/run-id": k8s_name(spec.run_id)}),
            spec=client.V1JobSpec(template=template, backoff_limit=0, active_deadline_seconds=spec.timeout or None,
                                  ttl_seconds_after_finished=3600),
        )  # fmt: skip

    def render_cronjob(self, deployment):
        """The ``batch/v1`` CronJob of a scheduled deployment (``concurrencyPolicy: Forbid`` skips overlaps)."""
        from kubernetes import client

        template = self._pod_template(ExecutionSpec(
            run_id="$(MESHKIT_RUN_ID)", team=deployment.team, job=deployment.job, deployment=deployment.id,
            version=deployment.version, job_dir=Path(), workspace=Path(), log_path=Path(),
            arguments=deployment.arguments or {}))  # fmt: skip
        template.spec.containers[0].env.append(client.V1EnvVar(name="MESHKIT_RUN_ID", value_from=client.V1EnvVarSource(
            field_ref=client.V1ObjectFieldSelector(field_path="metadata.name"))))  # fmt: skip
        return client.V1CronJob(
            api_version="batch/v1", kind="CronJob",
            metadata=client.V1ObjectMeta(name=k8s_name("mk", deployment.team, deployment.job, deployment.id, limit=52),
                                         namespace=self.namespace, labels=template.metadata.labels),
            spec=client.V1CronJobSpec(
                schedule=deployment.schedule, time_zone=deployment.timezone, suspend=not deployment.enabled,
                concurrency_policy="Forbid", starting_deadline_seconds=300,
                job_template=client.V1JobTemplateSpec(spec=client.V1JobSpec(
                    template=template, backoff_limit=deployment.retries,
                    active_deadline_seconds=deployment.timeout or None)),
            ),
        )  # fmt: skip

    # ---------------------------------------------------------------- cluster calls

    def _api(self):
        if self._batch is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            self._batch = client.BatchV1Api()
        return self._batch

    def launch(self, spec: ExecutionSpec, on_exit: ExitCallback) -> dict[str, Any]:
        job = self.render_job(spec)
        self._api().create_namespaced_job(self.namespace, job)
        self.adopt({"run_id": spec.run_id}, on_exit)
        return {"host": f"k8s:{self.namespace}", "pid": None}

    def _status(self, run_id: str):
        return self._api().read_namespaced_job_status(k8s_name("mk", run_id), self.namespace).status

    def cancel(self, execution: dict[str, Any]) -> None:
        self._api().delete_namespaced_job(k8s_name("mk", execution["run_id"]), self.namespace,
                                          propagation_policy="Foreground")  # fmt: skip

    def alive(self, execution: dict[str, Any]) -> bool | None:
        try:
            status = self._status(execution["run_id"])
        except Exception:  # noqa: BLE001 - deleted or unreachable: the job is not running here
            return False
        return not (status.succeeded or status.failed)

    def adopt(self, execution: dict[str, Any], on_exit: ExitCallback) -> None:
        def poll() -> None:
            while self.alive(execution):
                time.sleep(5)
            on_exit(None, "the Kubernetes Job ended", False)

        threading.Thread(target=poll, name=f"k8s-{execution['run_id']}", daemon=True).start()


@hookimpl
def register_executors():
    return {"kubernetes": KubernetesExecutor}
