"""Executors run deployed jobs: ``local`` (processes on this machine, the default) and ``kubernetes``.

An executor is registered through the ``register_executors`` hook as ``{name: factory}``, where
``factory(meshkit)`` returns an object with the methods of :class:`Executor`, and optionally
``prepare()`` (called by ``meshkit server`` before it serves) and ``close()`` (when it stops).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

#: Called once when an execution's process ends: ``on_exit(exit_code or None, reason, timed_out)``.
ExitCallback = Callable[[int | None, str, bool], None]


#: The spec file of a transfer execution, in its source folder.
TRANSFER_FILE = "transfer.yaml"


def run_log(log_dir: Path, run_id: str) -> Path:
    """An execution's log: its run's log records and, for local processes, what they print."""
    return log_dir / f"{run_id}.log"


@dataclass
class ExecutionSpec:
    """What an executor needs to run one execution."""

    run_id: str
    team: str
    job: str
    deployment: str
    version: int
    job_dir: Path
    workspace: Path
    log_path: Path
    arguments: dict[str, Any] = field(default_factory=dict)
    timeout: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    #: The kind of run: ``job`` (``meshkit run``), ``transfer`` (``meshkit transfer apply``) or
    #: ``pipeline`` (``meshkit pipeline run``: a workspace pipeline, not deployed).
    kind: str = "job"

    #: The interpreter of the job's own environment (its requirements.txt), or None for meshkit's.
    python: Path | None = None

    def command(self, workspace: str, job_dir: str) -> list[str]:
        """The ``meshkit`` arguments of the execution, with the workspace and source folder where it runs."""
        if self.kind == "transfer":
            return [
                "--workspace",
                workspace,
                "transfer",
                "apply",
                f"{job_dir}/{TRANSFER_FILE}",
                "--run-id",
                self.run_id,
            ]
        if self.kind == "pipeline":
            return ["--workspace", workspace, "pipeline", "run", self.job, "--run-id", self.run_id]
        argv = ["--workspace", workspace, "run", job_dir, "--run-id", self.run_id]
        return [*argv, "--arguments", json.dumps(self.arguments)] if self.arguments else argv


class Executor(Protocol):
    """The interface of an executor."""

    name: str

    def launch(self, spec: ExecutionSpec, on_exit: ExitCallback) -> dict[str, Any]:
        """Start the execution; returns ``{"host": ..., "pid": ...}`` to record. Must not block."""

    def cancel(self, execution: dict[str, Any]) -> None:
        """Ask a launched execution (a ``service_executions`` row) to stop."""

    def alive(self, execution: dict[str, Any]) -> bool | None:
        """Whether a launched execution still runs; ``None`` when this process cannot tell."""

    def adopt(self, execution: dict[str, Any], on_exit: ExitCallback) -> None:
        """Watch an execution launched by an earlier server process until it ends."""
