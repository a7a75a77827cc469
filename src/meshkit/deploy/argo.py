"""The ``argo`` exporter: an Argo ``Workflow``, or a ``CronWorkflow`` when scheduled, built with hera.

One container template per task, each running its ``meshkit`` command in the image the
Kubernetes export describes, and a DAG template wiring them by ``depends_on``. Retries, their
delay and a timeout are the template's; concurrency is the workflow's ``parallelism``; a task
that must not fail the pipeline continues on failure. Secrets come from Kubernetes Secrets by key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import lazy_import
from meshkit.deploy.k8s import k8s_name
from meshkit.deploy.kubernetes import IMAGE_WORKSPACE, labels
from meshkit.deploy.plan import ExportPlan, ExportSettings, plan_for

yaml = lazy_import("yaml")


def build_workflow(plan: ExportPlan, settings: ExportSettings):
    """The hera ``Workflow`` or ``CronWorkflow`` of ``plan``."""
    from hera.workflows import DAG, Container, CronWorkflow, Env, RetryStrategy, SecretEnv, Workflow
    from hera.workflows import models as m

    env = [SecretEnv(name="MESHKIT_METADATA_URL", secret_name=settings.metadata_secret, secret_key="url")]
    env += [SecretEnv(name=name, secret_name=settings.secret, secret_key=name) for name in plan.secret_env]
    if plan.team:
        env.append(Env(name="MESHKIT_TEAM", value=plan.team))
    resources = m.ResourceRequirements(
        requests={"cpu": m.Quantity(settings.cpu_request), "memory": m.Quantity(settings.memory_request)},
        limits={"cpu": m.Quantity(settings.cpu_limit), "memory": m.Quantity(settings.memory_limit)},
    )  # fmt: skip
    common: dict[str, Any] = {
        "namespace": settings.namespace,
        "labels": labels(plan),
        "entrypoint": "main",
        "parallelism": plan.concurrency,
    }
    if plan.schedule:
        workflow = CronWorkflow(name=k8s_name("mk", plan.name, limit=52), schedules=[plan.schedule],
                                timezone=plan.timezone, concurrency_policy="Forbid", **common)  # fmt: skip
    else:
        workflow = Workflow(generate_name=k8s_name("mk", plan.name, limit=50) + "-", **common)
    with workflow:
        templates = {}
        for task in plan.tasks:
            retry = None
            if task.retries:
                retry = RetryStrategy(limit=task.retries, retry_policy="Always",
                                      backoff=m.Backoff(duration=f"{int(task.retry_delay)}s"))  # fmt: skip
            templates[task.id] = Container(
                name=k8s_name("node", task.id),
                image=settings.image,
                command=settings.argv(task),
                env=env,
                resources=resources,
                retry_strategy=retry,
                active_deadline_seconds=int(task.timeout) if task.timeout else None,
            )
        with DAG(name="main"):
            nodes = {}
            for task in plan.tasks:
                continue_on = None if task.fail_pipeline_on_error else m.ContinueOn(failed=True)
                nodes[task.id] = templates[task.id](name=k8s_name(task.id), continue_on=continue_on)
            for task in plan.tasks:
                for dep in task.depends_on:
                    nodes[dep] >> nodes[task.id]
    return workflow


def workflow_object(plan: ExportPlan, settings: ExportSettings) -> dict[str, Any]:
    """The Workflow or CronWorkflow as plain data; each container is named ``main``, as Argo names it."""
    data = build_workflow(plan, settings).to_dict()
    spec = data["spec"].get("workflowSpec", data["spec"])
    for template in spec["templates"]:
        if "container" in template:
            template["container"] = {"name": "main", **template["container"]}
    return data


def export_argo(meshkit, name: str, out_dir: Path) -> list[Path]:
    plan = plan_for(meshkit, name)
    settings = ExportSettings.from_config(meshkit, IMAGE_WORKSPACE)
    path = out_dir / f"{plan.name}.argo.yaml"
    path.write_text(yaml.safe_dump(workflow_object(plan, settings), sort_keys=False))
    return [path]


@hookimpl
def register_exporters():
    return {"argo": export_argo}
