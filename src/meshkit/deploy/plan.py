"""What an exporter renders: a job or pipeline as tasks that each run one ``meshkit`` command.

The plan is the same for every target. Images, resources and secrets are references the target
resolves (an image name, Kubernetes Secret keys, environment variables); no value is read here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

#: ``env:NAME`` references in workspace and job config: the variables the target must provide.
_ENV_REFERENCE = re.compile(r"""["'\s=]env:([A-Za-z_][A-Za-z0-9_]*)""")


@dataclass
class Task:
    """One node: a ``meshkit`` command run in the target's workspace folder."""

    id: str
    #: The arguments after ``meshkit --workspace WORKSPACE``.
    command: list[str]
    depends_on: list[str] = field(default_factory=list)
    retries: int = 0
    retry_delay: float = 0
    timeout: float | None = None
    #: Whether a failure fails the whole run; when not, dependents still run.
    fail_pipeline_on_error: bool = True
    #: A job folder's ``requirements.txt``, relative to the workspace, when it has one.
    requirements: str | None = None


@dataclass
class ExportPlan:
    """A job or pipeline ready to render for an orchestrator."""

    name: str
    kind: str  # "job" or "pipeline"
    tasks: list[Task]
    schedule: str | None = None
    timezone: str = "UTC"
    concurrency: int | None = None
    team: str | None = None
    #: Environment variables that config references as ``env:NAME`` (secrets the target provides).
    secret_env: list[str] = field(default_factory=list)

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.id == task_id)


@dataclass
class ExportSettings:
    """Where and how the target runs meshkit (the ``export_*`` config keys)."""

    image: str
    workspace: str
    command: str
    namespace: str
    secret: str
    metadata_secret: str
    cpu_request: str
    memory_request: str
    cpu_limit: str
    memory_limit: str

    @classmethod
    def from_config(cls, meshkit, workspace: str) -> ExportSettings:
        """The settings, with ``workspace`` as the target's workspace folder unless `export_workspace` is set."""
        get = meshkit.config.get
        return cls(
            image=get("export_image"),
            workspace=get("export_workspace") or workspace,
            command=get("export_command"),
            namespace=get("export_namespace"),
            secret=get("export_secret"),
            metadata_secret=get("export_metadata_secret"),
            cpu_request=get("export_cpu_request"),
            memory_request=get("export_memory_request"),
            cpu_limit=get("export_cpu_limit"),
            memory_limit=get("export_memory_limit"),
        )

    def argv(self, task: Task) -> list[str]:
        """The full command line of ``task`` in the target."""
        return [self.command, "--workspace", self.workspace, *task.command]


def env_references(*paths: Path) -> list[str]:
    """The variable names of ``env:NAME`` references in these files (missing files are skipped)."""
    names: set[str] = set()
    for path in paths:
        if path.is_file():
            names.update(_ENV_REFERENCE.findall(" " + read_text(path)))
    return sorted(names)


def job_plan(meshkit, name: str) -> ExportPlan:
    """The plan of job ``name``: one task, with its config.ini's schedule and team."""
    from meshkit.job.job_config import load_job_config

    workspace = meshkit.workspace
    job_dir = workspace.find_job(name)
    try:
        rel = job_dir.relative_to(workspace.root.resolve())
    except ValueError:
        raise ConfigError(
            f"Job folder `{job_dir}` is outside the workspace `{workspace.root}`.",
            hint="Export jobs of the workspace: the target runs them from its copy of it.",
        ) from None
    config = load_job_config(job_dir, {})
    requirements = rel / "requirements.txt" if (job_dir / "requirements.txt").is_file() else None
    task = Task(
        id=job_dir.name,
        command=["run", rel.as_posix()],
        requirements=requirements.as_posix() if requirements else None,
    )
    return ExportPlan(
        name=job_dir.name,
        kind="job",
        tasks=[task],
        schedule=config.schedule_cron,
        team=config.team or meshkit.config.get("team"),
        secret_env=env_references(workspace.root / "meshkit.toml", job_dir / "config.ini"),
    )


def pipeline_plan(meshkit, pipeline) -> ExportPlan:
    """The plan of a :class:`meshkit.pipelines.spec.Pipeline`: one task per node, as the node's command."""
    root = meshkit.workspace.root
    tasks, scanned = [], [root / "meshkit.toml"]
    for node in pipeline.nodes:
        requirements = None
        if node.job is not None:
            job_dir = meshkit.workspace.find_job(node.job)
            scanned.append(job_dir / "config.ini")
            if (job_dir / "requirements.txt").is_file():
                requirements = (job_dir / "requirements.txt").relative_to(root.resolve()).as_posix()
        elif node.transfer is not None:
            scanned.append(root / node.command()[-1])
        tasks.append(Task(
            id=node.name, command=node.command(), depends_on=list(node.depends_on),
            retries=pipeline.setting(node, "retries"), retry_delay=pipeline.setting(node, "retry_delay"),
            timeout=pipeline.setting(node, "timeout"),
            fail_pipeline_on_error=pipeline.setting(node, "fail_pipeline_on_error"), requirements=requirements,
        ))  # fmt: skip
    return ExportPlan(
        name=pipeline.name,
        kind="pipeline",
        tasks=tasks,
        schedule=pipeline.schedule,
        timezone=pipeline.timezone,
        concurrency=pipeline.concurrency,
        team=pipeline.team or meshkit.config.get("team"),
        secret_env=env_references(*scanned),
    )


def plan_for(meshkit, name: str) -> ExportPlan:
    """The plan of the pipeline or job called ``name`` (a pipeline wins when both exist)."""
    from meshkit.pipelines.spec import find_pipeline, pipeline_files

    root = meshkit.workspace.root
    if name.endswith((".yaml", ".yml")) or any(p.stem == name for p in pipeline_files(root)):
        return pipeline_plan(meshkit, find_pipeline(root, name))
    return job_plan(meshkit, name)
