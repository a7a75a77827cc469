"""The ``airflow`` exporter: a DAG file on Airflow 3's ``airflow.sdk``, one BashOperator per task.

Each task runs its ``meshkit`` command in the workspace folder on the worker, with the worker's
environment (``append_env``): variables that config references as ``env:NAME`` are set there, so
the file holds no secret. The pipeline's concurrency becomes ``max_active_tasks``; a task's
retries, delay and timeout become the operator's. A task whose upstream tasks all have
``fail_pipeline_on_error: false`` runs once they are done, failed or not (``all_done``).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from meshkit.core.hookspecs import hookimpl
from meshkit.deploy.plan import ExportPlan, ExportSettings, plan_for


def dag_id(plan: ExportPlan) -> str:
    return f"meshkit_{plan.kind}_{plan.name}".replace("-", "_")


def _identifier(task_id: str) -> str:
    return "t_" + "".join(c if c.isalnum() else "_" for c in task_id)


def render_dag(plan: ExportPlan, settings: ExportSettings) -> str:
    """The text of the DAG file."""
    needs = ", ".join(plan.secret_env) or "none"
    lines = [
        f'"""{plan.kind.capitalize()} `{plan.name}` of a meshkit workspace, exported by `meshkit export airflow`.',
        "",
        f"Each task runs `meshkit` in {settings.workspace}. Variables the config references (set them",
        f"on the workers, never in this file): {needs}. Export again rather than edit.",
        '"""',
        "",
        "from datetime import timedelta",
        "",
        "import pendulum",
        "from airflow.providers.standard.operators.bash import BashOperator",
        "from airflow.sdk import DAG",
        "",
        "with DAG(",
        f"    dag_id={dag_id(plan)!r},",
        f"    schedule={plan.schedule!r},",
        f"    start_date=pendulum.datetime(2024, 1, 1, tz={plan.timezone!r}),",
        "    catchup=False,",
        "    max_active_runs=1,",
    ]
    if plan.concurrency:
        lines.append(f"    max_active_tasks={plan.concurrency},")
    tags = ["meshkit", plan.kind] + ([f"team:{plan.team}"] if plan.team else [])
    lines += [f"    tags={tags!r},", "):"]
    for task in plan.tasks:
        args = [
            f"task_id={task.id!r}",
            f"bash_command={shlex.join(settings.argv(task))!r}",
            f"cwd={settings.workspace!r}",
            "append_env=True",
            f"retries={task.retries}",
        ]
        if task.retry_delay:
            args.append(f"retry_delay=timedelta(seconds={task.retry_delay})")
        if task.timeout:
            args.append(f"execution_timeout=timedelta(seconds={task.timeout})")
        if task.depends_on and not any(plan.task(d).fail_pipeline_on_error for d in task.depends_on):
            args.append("trigger_rule='all_done'")
        lines.append(f"    {_identifier(task.id)} = BashOperator(")
        lines += [f"        {arg}," for arg in args]
        lines.append("    )")
    edges = [(dep, task.id) for task in plan.tasks for dep in task.depends_on]
    if edges:
        lines.append("")
        lines += [f"    {_identifier(a)} >> {_identifier(b)}" for a, b in edges]
    return "\n".join(lines) + "\n"


def export_airflow(meshkit, name: str, out_dir: Path) -> list[Path]:
    plan = plan_for(meshkit, name)
    settings = ExportSettings.from_config(meshkit, str(meshkit.workspace.root))
    path = out_dir / f"{dag_id(plan)}.py"
    path.write_text(render_dag(plan, settings))
    return [path]


@hookimpl
def register_exporters():
    return {"airflow": export_airflow}
