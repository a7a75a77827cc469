"""What a job run carries from hook to hook: ``JobContext`` and its ``JobResult``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import MeshkitError

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.core.runs import RunRecord
    from meshkit.job.job_config import JobConfig
    from meshkit.job.job_input import JobInput
    from meshkit.job.steps import Step


@dataclass
class JobContext:
    """One run of one job."""

    meshkit: Meshkit
    name: str
    job_dir: Path
    arguments: dict[str, Any]
    job_config: JobConfig
    run: RunRecord
    steps: list[Step] = field(default_factory=list)
    #: Steps plugins added in ``initialize_job``; they run after the job's own files.
    added_steps: list[Step] = field(default_factory=list)
    job_input: JobInput | None = None
    skip_remaining: bool = False
    #: Template runs share their parent's connection and report into the parent's run.
    parent: JobContext | None = None
    #: Templates plugins registered for this run, by name (besides ``register_templates``).
    templates: dict[str, Path] = field(default_factory=dict)
    #: Connection factories plugins registered for this run, by lower-case name: each returns a
    #: PEP 249 connection.
    connections: dict[str, Callable[[], Any]] = field(default_factory=dict)
    #: Ingestion methods plugins registered for this run, by lower-case name.
    ingesters: dict[str, Any] = field(default_factory=dict)
    #: The run as VDK plugins see it (a :class:`meshkit.vdk.context.JobContext`), when any is installed.
    vdk: Any = None
    #: The run was recorded by the control service, which tracks the process running it.
    supervised: bool = False


@dataclass
class JobResult:
    """How a job run ended."""

    status: str
    error: MeshkitError | None = None
    steps_run: int = 0
    rows_written: int = 0
    details: dict[str, Any] = field(default_factory=dict)
    #: The run record's id.
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "succeeded"
