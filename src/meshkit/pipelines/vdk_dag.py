"""VDK DAGs, run unchanged by meshkit's pipeline runner.

A VDK DAG is a data job whose step calls ``DagInput().run_dag(jobs)`` (vdk-dag's
``vdk.plugin.dag.dag_runner``) with one dict per job: ``job_name``, ``depends_on`` (both
required), ``team_name``, ``fail_dag_on_error`` (default true) and ``arguments``. When vdk-dag
is not installed, that import resolves to this module (:mod:`meshkit.job.vdk_compat`): the jobs
become the nodes of a pipeline named after the DAG job, run as a child of the DAG job's run, at
most ``DAGS_MAX_CONCURRENT_RUNNING_JOBS`` at once (VDK's setting, default 15). A job is looked
for beside the DAG job's folder, then under the workspace's ``jobs/``. When a job fails and its
``fail_dag_on_error`` holds, the DAG job fails.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from meshkit.core.errors import UserError
from meshkit.core.hookspecs import hookimpl

log = logging.getLogger(__name__)
ALLOWED_KEYS = ("job_name", "team_name", "fail_dag_on_error", "depends_on", "arguments")
REQUIRED_KEYS = ("job_name", "depends_on")
#: The data job running in this process (set while a job runs), whose run the DAG belongs to.
_running_job = None


def _invalid(jobs: Any, message: str, hint: str) -> UserError:
    return UserError(f"The DAG is not valid: {message}.", hint=hint, where="DagInput().run_dag")


def validate(jobs: Any) -> None:
    """Raise a ``UserError`` naming the job and key when ``jobs`` is not a valid VDK DAG."""
    if not isinstance(jobs, list):
        raise _invalid(jobs, f"`jobs` is a {type(jobs).__name__}", "Pass a list of job dicts.")
    names = []
    for job in jobs:
        if not isinstance(job, dict):
            raise _invalid(jobs, f"a job is a {type(job).__name__}, not a dict", "Give each job as a dict.")
        unknown = sorted(set(job) - set(ALLOWED_KEYS))
        if unknown:
            raise _invalid(jobs, f"keys {unknown} are not allowed", f"Use only {', '.join(ALLOWED_KEYS)}.")
        missing = [key for key in REQUIRED_KEYS if key not in job]
        if missing:
            raise _invalid(jobs, f"keys {missing} are missing in {job}", "Give `job_name` and `depends_on`.")
        name = job["job_name"]
        if not isinstance(name, str):
            raise _invalid(jobs, f"`job_name` {name!r} is not a string", "Name the job.")
        names.append(name)
        checks = (
            ("depends_on", list, lambda v: all(isinstance(x, str) for x in v), "a list of job names"),
            ("team_name", str, None, "a string"),
            ("fail_dag_on_error", bool, None, "True or False"),
            ("arguments", dict, _json_ready, "a dict that JSON can hold"),
        )
        for key, kind, check, what in checks:
            if key in job and (not isinstance(job[key], kind) or (check is not None and not check(job[key]))):
                raise _invalid(jobs, f"`{key}` of job `{name}` is not {what}", f"Make `{key}` {what}.")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise _invalid(jobs, f"jobs {repeated} appear more than once", "List each job once.")


def _json_ready(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def to_pipeline(name: str, jobs: list[dict], *, concurrency: int, team: str | None = None):
    """The pipeline of a VDK DAG's job dicts."""
    from meshkit.pipelines.spec import validate_pipeline

    nodes = [
        {"name": job["job_name"], "job": job["job_name"], "arguments": job.get("arguments") or {},
         "depends_on": job["depends_on"], "fail_pipeline_on_error": job.get("fail_dag_on_error", True)}
        for job in jobs
    ]  # fmt: skip
    return validate_pipeline(
        {"name": name, "team": team, "concurrency": concurrency, "nodes": nodes}, "DagInput().run_dag"
    )


def _concurrency() -> int:
    for key in ("DAGS_MAX_CONCURRENT_RUNNING_JOBS", "VDK_DAGS_MAX_CONCURRENT_RUNNING_JOBS"):
        if os.environ.get(key, "").isdigit():
            return max(1, int(os.environ[key]))
    return 15


class DagInput:
    """vdk-dag's ``DagInput``: runs a DAG of data jobs and reports their statuses."""

    def __init__(self):
        self._result = None

    def run_dag(self, jobs: list[dict]) -> None:
        """Run the DAG of ``jobs`` (VDK job dicts); a ``UserError`` when a job that may not fail fails."""
        from meshkit.pipelines.runner import PipelineRunner

        validate(jobs)
        context = _running_job
        if context is None:
            from meshkit.core.context import Meshkit

            meshkit, name, parent, source, team = Meshkit.open(), "dag", None, None, None
        else:
            meshkit, name, parent = context.meshkit, context.name, context.run.id
            source, team = context.job_dir.parent, context.run.team
        pipeline = to_pipeline(name, jobs, concurrency=_concurrency(), team=team)
        self._result = PipelineRunner(meshkit, pipeline, source=source).run(parent_id=parent)
        log.info("DAG summary:\n%s", "\n".join(f"  {n}: {r.status}" for n, r in self._result.nodes.items()))
        if self._result.failed:
            raise UserError(f"DAG `{name}` failed: {self._result.run.error}",
                            hint=f"See its run {self._result.run.id} and each job's log.")  # fmt: skip

    def get_job_status(self, job_name: str) -> str | None:
        """The status of one job of the last DAG run (``succeeded``, ``user_error``, ...)."""
        if self._result is None or job_name not in self._result.nodes:
            return None
        return self._result.nodes[job_name].status

    def get_all_jobs_execution_status(self) -> dict[str, str] | None:
        if self._result is None:
            return None
        return {name: record.status for name, record in self._result.nodes.items()}

    def get_jobs_execution_status(self, job_names: list[str]) -> dict[str, str] | None:
        statuses = self.get_all_jobs_execution_status()
        return None if statuses is None else {n: statuses[n] for n in job_names if n in statuses}


@hookimpl
def initialize_job(context):
    global _running_job
    _running_job = context


@hookimpl
def finalize_job(context, result):
    global _running_job
    _running_job = None
