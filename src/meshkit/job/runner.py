"""The data job runtime: find a job's steps and run them through the job-run hooks.

``run_job`` records the run (status, per-step timings, rows written, log file), sets up the run's
log with secrets redacted, and classifies how it ended: the user's code or data (``user_error``),
meshkit or the infrastructure (``platform_error``), a cancel (``cancelled``), or ``succeeded``.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit.core.config import Layer
from meshkit.core.errors import ConfigError, MeshkitError, UserError
from meshkit.core.files import key_location
from meshkit.core.hookspecs import hookimpl
from meshkit.core.lifecycle import RunCancelled, ending, recorded_run
from meshkit.core.redaction import RedactingFilter, RedactingStream
from meshkit.core.runs import StepRecord, now
from meshkit.core.workspace import WORKSPACE_FILE
from meshkit.data.ingest import Ingester
from meshkit.job import vdk_compat
from meshkit.job.context import JobContext, JobResult
from meshkit.job.job_config import VDK_DB_TYPES, load_job_config
from meshkit.job.job_input import JobInput, store_name
from meshkit.job.steps import discover_steps

if TYPE_CHECKING:
    from meshkit.vdk.results import ExecutionResult

log = logging.getLogger("meshkit.job")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def step_types(meshkit) -> dict:
    return meshkit.registry("step_types")


def same_file(stream, path: Path) -> bool:
    """Whether text written to ``stream`` lands in file ``path`` (a service execution prints into its log)."""
    try:
        return os.path.samestat(os.fstat(stream.fileno()), os.stat(path))
    except (OSError, ValueError, AttributeError):  # no file behind the stream, or no log yet
        return False


@contextlib.contextmanager
def run_logging(meshkit, log_path: Path, console: bool) -> Iterator[None]:
    """Send every log record of the run to ``log_path`` (and the console), secrets redacted."""
    level = logging.getLevelName(str(meshkit.config.get("log_level")).upper())
    level = level if isinstance(level, int) else logging.INFO
    log_path.parent.mkdir(parents=True, exist_ok=True)
    redacting = RedactingFilter(meshkit.redactor)
    handlers: list[logging.Handler] = [logging.FileHandler(log_path, encoding="utf-8")]
    if console and not same_file(sys.stderr, log_path):
        # NOTE: the console shows the user's own logs and meshkit's warnings; meshkit's progress
        # lines go to the run log only, since the command ends with a summary of the steps.
        stream = logging.StreamHandler()
        stream.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith("meshkit"))
        handlers.append(stream)
    root = logging.getLogger()
    saved_level = root.level
    for handler in handlers:
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handler.addFilter(redacting)
        handler.setLevel(level)
        root.addHandler(handler)
    root.setLevel(min(level, saved_level) if saved_level else level)
    try:
        yield
    finally:
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(saved_level)


@contextlib.contextmanager
def redacted_output(meshkit) -> Iterator[None]:
    """Redact secrets from what the job prints too, as from its log records."""
    with contextlib.redirect_stdout(RedactingStream(sys.stdout, meshkit.redactor)), \
            contextlib.redirect_stderr(RedactingStream(sys.stderr, meshkit.redactor)):  # fmt: skip
        yield


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into ``RunCancelled`` in the main thread, so the run is recorded as cancelled."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise RunCancelled()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def prepare_context(meshkit, job: str | Path, arguments: dict[str, Any] | None, run_id: str | None,
                    kind: str = "job") -> JobContext:  # fmt: skip
    """Find the job, apply its ``config.ini`` to the run's scope and create (or pick up) its run record."""
    job_dir = meshkit.workspace.find_job(str(job))
    job_config = load_job_config(job_dir, meshkit.config.names)
    if job_config.values:
        meshkit.scope.add_layer(Layer(str(job_dir / "config.ini"), job_config.values))
    for name, settings in job_config.connections.items():
        meshkit.declare_store(name, settings)
    _check_connection(meshkit)
    team = job_config.team or meshkit.config.get("team")
    run = meshkit.runs.get(run_id) if run_id else None
    supervised = run is not None
    if run is None:
        run = meshkit.runs.create(kind, job_dir.name, arguments=arguments or {}, team=team, run_id=run_id)
    elif run.status != "submitted":
        raise ConfigError(
            f"Run `{run_id}` is already {run.status}.", hint="Start a new run without --run-id."
        )
    run.log_path = run.log_path or str(meshkit.workspace.state_dir / "runs" / f"{run.id}.log")
    return JobContext(
        meshkit, job_dir.name, job_dir, dict(arguments or {}), job_config, run, supervised=supervised
    )


def run_job(meshkit, job: str | Path, arguments: dict[str, Any] | None = None, *, run_id: str | None = None,
            console: bool = True) -> JobResult:  # fmt: skip
    """Run the job at ``job`` (a folder, or a name under ``jobs/``) and record the run."""
    with meshkit.run_scope():
        context = prepare_context(meshkit, job, arguments, run_id)
        return _run_prepared(context, console)


def _run_prepared(context: JobContext, console: bool) -> JobResult:
    meshkit = context.meshkit
    vdk_compat.install()
    with (
        run_logging(meshkit, Path(context.run.log_path), console),
        cancel_on_sigterm(),
        redacted_output(meshkit),
    ):
        return execute(context)


def execute(context: JobContext) -> JobResult:
    """Run a prepared job context through the hooks and record the outcome."""
    meshkit, run = context.meshkit, context.run
    hook = meshkit.pm.hook
    ingester = _ingester(context)
    context.job_input = JobInput(context, ingester, _connection_name(meshkit))
    with recorded_run(meshkit, run=run, owned=not context.supervised):
        log.info("Run %s of job `%s` started", run.id, context.name)
        try:
            hook.initialize_job(context=context)
            context.steps = discover_steps(context.job_dir, step_types(meshkit)) + context.added_steps
            if not context.steps:
                raise UserError(f"Job `{context.name}` has no steps.", where=str(context.job_dir),
                                hint="Add files such as 10_load.sql or 20_transform.py.")  # fmt: skip
            result = hook.run_job(context=context)
            ingester.close()
        except BaseException as exc:  # noqa: BLE001 - every ending is recorded
            status, error = ending(exc, meshkit.redactor)
            with contextlib.suppress(Exception):
                ingester.rollback()
            result = JobResult(status, error)
            if status == "platform_error" and not isinstance(exc, MeshkitError):
                log.debug("Internal error", exc_info=exc)
        finally:
            context.job_input.close()
        run.rows_written += ingester.rows_written
        result.rows_written, result.run_id = run.rows_written, run.id
        hook.finalize_job(context=context, result=result)
        run.status, run.error = result.status, str(result.error) if result.error else None
    log.info("Run %s %s in %.2fs (%d rows written)%s", run.id, run.status, run.duration or 0,
             run.rows_written, f": {run.error}" if run.error else "")  # fmt: skip
    return result


def _connection_name(meshkit) -> str:
    return store_name(meshkit, str(meshkit.config.get("db_default_type")))


def _check_connection(meshkit) -> None:
    """``db_default_type`` names a store; else a ConfigError naming where it was set and the choices."""
    name = _connection_name(meshkit)
    known = meshkit.store_names()
    if name in known or "://" in name:
        return
    source = meshkit.config.source("db_default_type")
    if source == WORKSPACE_FILE:
        where = key_location(meshkit.workspace.root / WORKSPACE_FILE, "db_default_type", "config")
    else:
        where = key_location(source, "db_default_type") if source.endswith("config.ini") else source
    close = difflib.get_close_matches(name, [*known, *VDK_DB_TYPES], n=1)
    did_you_mean = f"Did you mean `{close[0]}`? " if close else ""
    raise ConfigError(f"`db_default_type = {name}` names no store.", where=where,
                      hint=f"{did_you_mean}Use one of: {', '.join(known)} (VDK's postgresql and mariadb work too), "
                           "or declare the store in meshkit.toml [stores.NAME].")  # fmt: skip


def _ingester(context: JobContext) -> Ingester:
    meshkit = context.meshkit

    def written(dataset: str, rows: int, schema) -> None:
        context.run.lineage.wrote(dataset)
        if context.run.steps:
            context.run.steps[-1].rows_written += rows
        meshkit.pm.hook.dataset_written(
            meshkit=meshkit, run=context.run, dataset=dataset, rows=rows, schema=schema
        )

    return Ingester(meshkit, default_store=_connection_name(meshkit), batch_rows=meshkit.config.get("ingest_batch_rows"),
                    on_written=written, plugins=context.ingesters)  # fmt: skip


@hookimpl(specname="run_job", trylast=True)
def run_steps(context):
    meshkit, run = context.meshkit, context.run
    for position, step in enumerate(context.steps, 1):
        record = StepRecord(position, step.name, "running", started_at=now())
        run.steps.append(record)
        meshkit.runs.save_step(run, record)
        log.info("Step %s started", step.name)
        meshkit.pm.hook.step_started(context=context, step=step, record=record)
        started = time.perf_counter()
        try:
            meshkit.pm.hook.run_step(context=context, step=step)
            # NOTE: later steps must not run on partial data: the step that sent the rows fails. A
            # template's steps are part of the step that called it, which commits their ingestion.
            if context.parent:
                context.job_input._ingester.check()
            else:
                context.job_input._ingester.commit()
        except BaseException as exc:
            record.status, error = ending(exc, meshkit.redactor)
            record.error = str(error)
            raise
        else:
            record.status = "succeeded"
        finally:
            record.ended_at = now()
            meshkit.runs.save_step(run, record)
            meshkit.pm.hook.step_finished(context=context, step=step, record=record)
        log.info("Step %s %s in %.2fs", step.name, record.status, time.perf_counter() - started)
        if context.skip_remaining:
            log.info("Remaining steps skipped at the request of step %s", step.name)
            break
    return JobResult("succeeded", steps_run=len(run.steps))


def templates(meshkit) -> dict[str, Path]:
    return {name: Path(path) for name, path in meshkit.registry("templates").items()}


def run_template(
    parent: JobContext, name: str, arguments: dict[str, Any], connection: str
) -> ExecutionResult:
    """Run template ``name`` as a child run of ``parent`` on ``connection``.

    Returns VDK's ``ExecutionResult``. A failure is raised again as it was: the user's own exception
    of a Python step (so the calling step's ``except`` catches it), or meshkit's error, its message
    saying which template failed.
    """
    meshkit = parent.meshkit
    known = {**templates(meshkit), **(parent.parent or parent).templates}
    if name not in known:
        raise UserError(
            f"Unknown template `{name}`.", hint=f"Known templates: {', '.join(sorted(known)) or 'none'}."
        )
    try:
        with recorded_run(meshkit, "template", f"{parent.name}/{name}", arguments=arguments, parent_id=parent.run.id,
                          team=parent.run.team, log_path=parent.run.log_path) as run:  # fmt: skip
            child = JobContext(meshkit, name, known[name], arguments, parent.job_config, run, parent=parent)
            child.job_input = JobInput(child, parent.job_input._ingester, connection)
            try:
                # NOTE: a template may have a version per store type, in a folder named after it.
                store_type = child.job_input._store(None).type
                if (child.job_dir / store_type).is_dir():
                    child.job_dir = child.job_dir / store_type
                child.steps = discover_steps(child.job_dir, step_types(meshkit))
                meshkit.pm.hook.run_job(context=child)
            finally:
                child.job_input.close()
    except (RunCancelled, KeyboardInterrupt):
        raise
    except BaseException as exc:
        original = getattr(exc, "original", None) or exc
        if isinstance(original, MeshkitError):
            original.message = f"Template `{name}` failed: {original.message}"
        raise original from None
    return _execution_result(name, run)


def _execution_result(name: str, run) -> ExecutionResult:
    from meshkit.vdk.results import ExecutionResult, ExecutionStatus, StepResult

    steps = [StepResult(s.name, Path(s.name).suffix.lstrip("."), s.started_at, s.ended_at, ExecutionStatus.SUCCESS, None)
             for s in run.steps]  # fmt: skip
    return ExecutionResult(
        name, run.id, run.started_at, run.ended_at, ExecutionStatus.SUCCESS, steps, None, None
    )


@hookimpl
def configure(config):
    config.add("temporary_write_directory", None,
               "Folder of `job_input.get_temporary_write_directory()` (default: a folder of the run, removed when the command ends).")  # fmt: skip
