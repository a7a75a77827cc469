"""The one life cycle of a run: record it, fire its events, and map how it ended to a status.

Every kind of run (job, template, transfer, model build, check, product publish) goes through
``recorded_run``::

    with recorded_run(mk, "quality", name, arguments=...) as run:
        ...                                          # the work; it fills run.details, run.rows_written
        run.status, run.error = "user_error", "2 checks failed"   # an ending without an exception

It creates the run record (or takes the one given), starts it and fires ``run_started``. When the
block ends, the run is finished with the status the block set, ``succeeded`` if it set none, or
the status of the exception that ended it (see ``ending``); the stored error has its secrets
redacted. Then ``run_finished`` fires. Whatever raises inside the block, clean-up hooks included,
the run is finished and the exception goes on.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from meshkit.core.errors import MeshkitError, PlatformError, UserError
from meshkit.core.lazy import work_started
from meshkit.core.redaction import redact_error
from meshkit.core.statuses import FINAL_STATUSES, RunStatus

if TYPE_CHECKING:
    from meshkit.core.redaction import Redactor
    from meshkit.core.runs import RunRecord


class RunCancelled(BaseException):
    """Raised in a running run when it is asked to stop (a job's SIGTERM)."""


def ending(exc: BaseException, redactor: Redactor) -> tuple[RunStatus, MeshkitError]:
    """The status an exception ends a run with, and the error to report, secrets redacted.

    A cancel is ``cancelled``; a meshkit error has its class's ``run_status`` (``UserError`` and
    ``ConfigError``: ``user_error``, ``PlatformError``: ``platform_error``); anything else is a
    ``platform_error``.
    """
    if isinstance(exc, RunCancelled | KeyboardInterrupt):
        return "cancelled", UserError("The run was cancelled.")
    if isinstance(exc, MeshkitError):
        return exc.run_status, redact_error(exc, redactor)
    error = PlatformError(f"Internal error: {type(exc).__name__}: {exc}.", hint="Run again with --debug.")
    return "platform_error", redact_error(error, redactor)


def finish_run(mk, run: RunRecord, status: RunStatus, error: str | None = None) -> None:
    """Record that ``run`` ended with ``status`` (and ``error``, secrets redacted); fire ``run_finished``."""
    mk.runs.finish(run, status, mk.redactor.redact(error) if error else None)
    mk.pm.hook.run_finished(meshkit=mk, run=run)


@contextlib.contextmanager
def recorded_run(mk, kind: str | None = None, name: str | None = None, *, run: RunRecord | None = None,
                 owned: bool = True, **create) -> Iterator[RunRecord]:  # fmt: skip
    """Run the block as one recorded run of ``kind`` and ``name`` (``create``: ``RunStore.create``'s options).

    ``run``: a run record created earlier (``submitted``), to start here instead. ``owned``: the
    run belongs to this process (see ``RunStore.start``).
    """
    work_started()
    if run is None:
        run = mk.runs.create(kind, name, **create)
    mk.runs.start(run, owned=owned)
    try:
        mk.pm.hook.run_started(meshkit=mk, run=run)
        yield run
    except BaseException as exc:
        status, error = ending(exc, mk.redactor)
        finish_run(mk, run, status, str(error))
        raise
    status = run.status if run.status in FINAL_STATUSES else "succeeded"
    finish_run(mk, run, status, run.error if status != "succeeded" else None)
