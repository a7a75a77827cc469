"""The ``kubernetes`` exporter: a Job or CronJob, its ConfigMap, and the Dockerfile of its image.

A job runs as ``meshkit run``; a pipeline as ``meshkit pipeline run`` (meshkit's own runner walks
its graph inside the pod). The image holds the workspace and the jobs' own requirements; the
metadata database URL and every ``env:NAME`` the config references come from Secrets by key.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from meshkit import __version__
from meshkit.core.hookspecs import hookimpl
from meshkit.deploy.k8s import k8s_name
from meshkit.deploy.plan import ExportPlan, ExportSettings, Task, plan_for

IMAGE_WORKSPACE = "/workspace"


def labels(plan: ExportPlan) -> dict[str, str]:
    found = {"app.kubernetes.io/managed-by": "meshkit", f"meshkit/{plan.kind}": k8s_name(plan.name)}
    if plan.team:
        found["meshkit/team"] = k8s_name(plan.team)
    return found


def config_map_name(plan: ExportPlan) -> str:
    return k8s_name("mk", plan.name, "config", limit=63)


def env(plan: ExportPlan, settings: ExportSettings) -> list[dict[str, Any]]:
    """The container's variables: the metadata URL and each ``env:NAME`` reference, from Secrets."""

    def from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    return [
        from_secret("MESHKIT_METADATA_URL", settings.metadata_secret, "url"),
        *(from_secret(name, settings.secret, name) for name in plan.secret_env),
    ]


def container(
    plan: ExportPlan, settings: ExportSettings, task: Task, name: str = "meshkit"
) -> dict[str, Any]:
    """The container that runs ``task`` (also used by the Argo export)."""
    return {
        "name": name,
        "image": settings.image,
        "command": settings.argv(task),
        "env": env(plan, settings),
        "envFrom": [{"configMapRef": {"name": config_map_name(plan)}}],
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {"cpu": settings.cpu_limit, "memory": settings.memory_limit},
        },
    }


def config_map(plan: ExportPlan, settings: ExportSettings) -> dict[str, Any]:
    """Non-secret settings of the runs (``MESHKIT_*`` variables): the owning team."""
    data = {}
    if plan.team:
        data["MESHKIT_TEAM"] = plan.team
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": config_map_name(plan), "namespace": settings.namespace, "labels": labels(plan)},
        "data": data,
    }


def workload(plan: ExportPlan, settings: ExportSettings) -> dict[str, Any]:
    """A CronJob when the plan has a schedule, else a Job that runs once and is removed a day later."""
    task = runner_task(plan)
    job_spec = {
        "backoffLimit": task.retries,
        "template": {
            "metadata": {"labels": labels(plan)},
            "spec": {"restartPolicy": "Never", "containers": [container(plan, settings, task)]},
        },
    }
    if task.timeout:
        job_spec["activeDeadlineSeconds"] = task.timeout
    metadata = {"namespace": settings.namespace, "labels": labels(plan)}
    if not plan.schedule:
        return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {**metadata, "name": k8s_name("mk", plan.name)},
                "spec": {**job_spec, "ttlSecondsAfterFinished": 86400}}  # fmt: skip
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {**metadata, "name": k8s_name("mk", plan.name, limit=52)},
        "spec": {
            "schedule": plan.schedule,
            "timeZone": plan.timezone,
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "jobTemplate": {"spec": job_spec},
        },
    }


def runner_task(plan: ExportPlan) -> Task:
    """The one command a pod runs: the job itself, or meshkit's pipeline runner over the whole graph."""
    if plan.kind == "job":
        return plan.tasks[0]
    return Task(id=plan.name, command=["pipeline", "run", plan.name])


def dockerfile(plan: ExportPlan, settings: ExportSettings) -> str:
    """The image to build from the workspace folder: meshkit, the workspace, the jobs' own requirements."""
    lines = [
        f"# The image of {plan.kind} `{plan.name}`: build it from the workspace folder, e.g.",
        f"#   docker build -f {plan.name}.Dockerfile -t {settings.image} WORKSPACE",
        "FROM python:3.11-slim",
        f'RUN pip install --no-cache-dir "meshkit[postgres]=={__version__}"',
        f"WORKDIR {settings.workspace}",
        f"COPY . {settings.workspace}",
    ]
    requirements = sorted({t.requirements for t in plan.tasks if t.requirements})
    if requirements:
        lines.append("# The jobs' own dependencies (requirements.txt), built into the image once.")
        files = " ".join(f"-r {shlex.quote(r)}" for r in requirements)
        lines.append(f"RUN pip install --no-cache-dir {files}")
    lines.append(f'ENTRYPOINT ["{settings.command}"]')
    return "\n".join(lines) + "\n"


def write_manifests(out_dir: Path, name: str, objects: list[dict[str, Any]]) -> Path:
    """Write ``objects`` as one multi-document YAML file."""
    import yaml

    class _PlainDumper(yaml.SafeDumper):
        """Writes shared values out each time: manifests read by people and tools carry no YAML anchors."""

        def ignore_aliases(self, data: Any) -> bool:
            return True

    path = out_dir / f"{name}.yaml"
    path.write_text(yaml.dump_all(objects, Dumper=_PlainDumper, sort_keys=False))
    return path


def export_kubernetes(meshkit, name: str, out_dir: Path) -> list[Path]:
    plan = plan_for(meshkit, name)
    settings = ExportSettings.from_config(meshkit, IMAGE_WORKSPACE)
    manifests = write_manifests(out_dir, plan.name, [config_map(plan, settings), workload(plan, settings)])
    image = out_dir / f"{plan.name}.Dockerfile"
    image.write_text(dockerfile(plan, settings))
    return [manifests, image]


@hookimpl
def register_exporters():
    return {"kubernetes": export_kubernetes}
