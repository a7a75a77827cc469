"""Transfers applied through the API run as executions, like jobs.

``submit`` keeps the spec as a source version of the transfer (team ``*``: transfers belong to the
workspace) and queues an execution of a ``transfer`` run in one transaction. The dispatcher
launches it through the executor as ``meshkit transfer apply transfer.yaml --run-id ID``, so it
counts towards ``service_max_concurrent``, can be cancelled, is stopped after
``service_transfer_timeout`` and outlives a restart of the server like any execution.
"""

from __future__ import annotations

import sqlalchemy as sa

from meshkit.core.errors import ConfigError
from meshkit.core.redaction import strip_credentials
from meshkit.core.runs import RunRecord, now
from meshkit.service import audit
from meshkit.service.exceptions import ConflictError, NotFoundError
from meshkit.service.executions import ACTIVE_STATES, active_count, new_execution_id, queue_with_source
from meshkit.service.executors import TRANSFER_FILE, run_log
from meshkit.service.tables import executions

#: The scope of transfers in the executions and sources tables (roles on ``*`` read and apply them).
TEAM = "*"
DEPLOYMENT = "transfer"


def submit(svc, transfer, text: str, *, actor: str) -> RunRecord:
    """Queue a run of ``transfer`` (its spec ``text``); refused while the same transfer is active."""
    if any(strip_credentials(line) != line for line in text.splitlines()):
        raise ConfigError("The spec writes a credential in clear; the service keeps specs to run them.",
                          where="request body", hint="Give it as a reference (env:VAR, secret:NAME) or declare the "
                          "store in meshkit.toml [stores.NAME].")  # fmt: skip
    name, at = transfer.name, now()
    files = {TRANSFER_FILE: text.encode()}
    run_id = new_execution_id(name, at)
    run = RunRecord(id=run_id, kind="transfer", name=name, team=svc.meshkit.config.get("team"),
                    arguments={"file": TRANSFER_FILE}, created_at=at, log_path=str(run_log(svc.log_dir, run_id)))  # fmt: skip
    with svc.engine.begin() as conn:
        if active_count(conn, TEAM, name):
            raise ConflictError(f"Transfer `{name}` is still running.",
                                hint=f"Wait for it to finish or cancel it (POST /api/v1/transfers/{name}/cancel).")  # fmt: skip
        queue_with_source(conn, svc, run, team=TEAM, deployment=DEPLOYMENT, files=files, actor=actor)
        audit.record(conn, actor, "transfer.apply", target=name, details={"run_id": run_id})
    svc.metrics.submitted(run.status)
    svc.wake()
    return run


def cancel(svc, name: str, *, actor: str) -> str:
    """Cancel the active execution of transfer ``name``; returns its run id."""
    from meshkit.service.executions import cancel as cancel_execution

    query = sa.select(executions.c.run_id).where(executions.c.team == TEAM, executions.c.job == name,
                                                 executions.c.state.in_(ACTIVE_STATES))  # fmt: skip
    with svc.engine.connect() as conn:
        run_id = conn.execute(query).scalar()
    if run_id is None:
        raise NotFoundError(
            f"Transfer `{name}` is not running.", hint="See its status with GET /api/v1/transfers/NAME."
        )
    cancel_execution(svc, TEAM, name, run_id, actor=actor, kind="transfer")
    return run_id
