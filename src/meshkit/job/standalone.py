"""``meshkit.job(path)``: a job's ``job_input`` in a notebook or script, recorded as a run."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from meshkit.core.context import Meshkit
from meshkit.core.lifecycle import recorded_run
from meshkit.job import vdk_compat
from meshkit.job.job_input import JobInput
from meshkit.job.runner import _connection_name, _ingester, prepare_context


@contextlib.contextmanager
def standalone_job(path: str | Path, arguments: dict[str, Any] | None = None, *, workspace: str | Path | None = None,
                   **overrides: Any) -> Iterator[JobInput]:  # fmt: skip
    """Yield the ``job_input`` of the job at ``path``; queued ingestion is flushed on exit.

    The block is one run: ``succeeded`` if it ends normally, else the error's status (and the
    error is raised again).
    """
    path = Path(path).resolve()
    meshkit = Meshkit.open(workspace or path, overrides=overrides or None)
    vdk_compat.install()
    try:
        with meshkit.run_scope():
            context = prepare_context(meshkit, path, arguments, None)
            ingester = _ingester(context)
            context.job_input = JobInput(context, ingester, _connection_name(meshkit))
            with recorded_run(meshkit, run=context.run):
                try:
                    yield context.job_input
                    ingester.close()
                except BaseException:
                    ingester.rollback()
                    raise
                finally:
                    context.job_input.close()
                    context.run.rows_written += ingester.rows_written
    finally:
        meshkit.close()
