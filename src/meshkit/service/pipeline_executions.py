"""Workspace pipelines (``pipelines/NAME.yaml``, not deployed) started from the pipeline pages.

``submit`` keeps the pipeline file as a source version of the pipeline (under its team) and queues
an execution of a ``pipeline`` run in one transaction, as a transfer applied through the API is.
The dispatcher launches it through the executor as ``meshkit pipeline run NAME --run-id ID`` in
the workspace, so it counts towards ``service_max_concurrent``, can be cancelled and outlives a
restart of the server like any execution. Only the local executor runs them: its processes see
the workspace.
"""

from __future__ import annotations

from pathlib import Path

from meshkit.core.errors import ConfigError
from meshkit.core.runs import RunRecord, now
from meshkit.pipelines import DEPLOYED_FILE
from meshkit.service import audit
from meshkit.service.exceptions import ConflictError
from meshkit.service.executions import active_count, new_execution_id, queue_with_source
from meshkit.service.executors import run_log

#: The deployment name of a workspace pipeline's executions (it has no deployment).
DEPLOYMENT = "workspace"


def submit(svc, name: str, team: str, path: Path, *, actor: str) -> RunRecord:
    """Queue a run of the workspace pipeline ``name`` (its file ``path``); refused while one is active."""
    if svc.executor.name != "local":  # another executor's pods do not hold the workspace
        raise ConfigError(f"The `{svc.executor.name}` executor runs deployed pipelines only.",
                          hint=f"Deploy it: meshkit pipeline deploy {name}")  # fmt: skip
    files, at = {DEPLOYED_FILE: path.read_bytes()}, now()
    run_id = new_execution_id(name, at)
    run = RunRecord(id=run_id, kind="pipeline", name=name, team=team, created_at=at,
                    arguments={"file": str(path.relative_to(svc.meshkit.workspace.root))},
                    log_path=str(run_log(svc.log_dir, run_id)))  # fmt: skip
    with svc.engine.begin() as conn:
        if active_count(conn, team, name):
            raise ConflictError(f"Pipeline `{name}` is still running.",
                                hint="Wait for it to finish or cancel it, then start again.")  # fmt: skip
        queue_with_source(conn, svc, run, team=team, deployment=DEPLOYMENT, files=files, actor=actor)
        audit.record(conn, actor, "pipeline.start", team=team, target=f"{name}/{run_id}")
    svc.metrics.submitted(run.status)
    svc.wake()
    return run
