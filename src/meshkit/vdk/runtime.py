"""Relay meshkit's hooks to the installed VDK plugins (entry-point group ``vdk.plugin.run``).

When a package declares that group, :func:`initialize` loads it into a VDK plugin registry (with
VDK's hook specifications), calls ``vdk_start``, ``vdk_configure`` and ``vdk_initialize``, and
registers a :class:`VdkRuntime` with meshkit's plugin manager. That runtime implements meshkit's
job, connection and ingestion hooks by calling VDK's; VDK's own built-in ``run_job``, ``run_step``
and ``db_connection_execute_operation`` (registered last) run meshkit's steps and operations, so
VDK plugins can decorate, wrap or replace them as under VDK.

A failure in a plugin's hook is a platform error naming the plugin, as VDK blames the platform
for errors raised outside the job's own code.
"""

from __future__ import annotations

import logging
import sys
import tempfile
import traceback
import types
from datetime import datetime, timezone
from pathlib import Path

from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, PluginError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import lazy_import
from meshkit.core.plugins import declares_entry_points
from meshkit.job import vdk_compat
from meshkit.job.context import JobResult
from meshkit.job.steps import Step as MeshkitStep
from meshkit.job.steps import StepType
from meshkit.vdk import hookspecs
from meshkit.vdk.config import ConfigurationBuilder
from meshkit.vdk.connection import ExecuteOperationResult, ExecutionCursor, ManagedOperation
from meshkit.vdk.context import (
    CommonStoreKeys,
    CoreContext,
    ExecutionStateStoreKeys,
    JobContext,
    StateStore,
    Step,
)
from meshkit.vdk.hook_markers import GROUP_NAME
from meshkit.vdk.hook_markers import hookimpl as vdk_hookimpl
from meshkit.vdk.ingestion import IngesterTarget
from meshkit.vdk.plugin_input import IIngesterPlugin
from meshkit.vdk.plugin_registry import PluginRegistry
from meshkit.vdk.results import ExecutionResult, ExecutionStatus, StepResult

pa = lazy_import("pyarrow")

log = logging.getLogger("meshkit.vdk")

#: Name of the runtime in meshkit's plugin manager.
RUNTIME_NAME = "vdk-plugins"
PREPROCESS_SEQUENCE = "ingest_payload_preprocess_sequence"
POSTPROCESS_SEQUENCE = "ingest_payload_postprocess_sequence"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _meshkit_step(step: Step) -> MeshkitStep:
    """A step a plugin added, as meshkit runs it: its ``runner_func`` gets the plugin's own step object."""
    return MeshkitStep(
        step.name,
        Path(step.file_path),
        StepType(f".{step.type}", lambda context, _: step.runner_func(step, context.job_input)),
    )


class _BuiltinHooks:
    """VDK's built-in job and operation hooks, run last: they run meshkit's steps and operations."""

    @vdk_hookimpl(trylast=True)
    def run_job(self, context: JobContext) -> ExecutionResult:
        from meshkit.job.runner import run_steps

        started = _now()
        run_steps(context.meshkit_context)
        return ExecutionResult(context.name, context.meshkit_context.run.id, started, _now(),
                               ExecutionStatus.SUCCESS, [], None, None)  # fmt: skip

    @vdk_hookimpl(trylast=True)
    def run_step(self, context: JobContext, step: Step) -> StepResult:
        started = _now()
        step.runner_func(step, context.job_input)
        return StepResult(step.name, step.type, started, _now(), ExecutionStatus.SUCCESS, None)

    @vdk_hookimpl(trylast=True)
    def db_connection_execute_operation(self, execution_cursor: ExecutionCursor) -> ExecuteOperationResult:
        operation, parameters = execution_cursor.get_managed_operation().get_operation_parameters_tuple()
        return ExecuteOperationResult(execution_cursor.execute(operation, parameters))


class VdkRuntime:
    """The VDK plugins of one meshkit instance, and the meshkit hooks that call them."""

    def __init__(self, meshkit, registry: PluginRegistry):
        self.meshkit = meshkit
        self.registry = registry
        self.hook = registry.pm.hook
        self._job = None
        try:
            self.hook.vdk_start.call_historic(
                kwargs={"plugin_registry": registry, "command_line_args": sys.argv[1:]}
            )
        except Exception as exc:
            raise self._failed("vdk_start", exc) from exc
        builder = ConfigurationBuilder(meshkit)
        builder.add(
            PREPROCESS_SEQUENCE, "", description="Ingesters whose pre_ingest_process runs on every payload."
        )
        builder.add(
            POSTPROCESS_SEQUENCE,
            "",
            description="Ingesters whose post_ingest_process runs after every payload.",
        )
        self._call("vdk_configure", config_builder=builder)
        self.configuration = builder.build()
        self.core_context = CoreContext(registry, self.configuration, StateStore())
        self._call("vdk_initialize", context=self.core_context)

    # ------------------------------------------------------------------ calling VDK's hooks

    def _call(self, name: str, **kwargs):
        try:
            return getattr(self.hook, name)(**kwargs)
        except MeshkitError:
            raise
        except Exception as exc:
            raise self._failed(name, exc) from exc

    def _failed(self, hook: str, exc: Exception) -> PlatformError:
        return PlatformError(f"VDK plugin `{self._plugin_of(exc)}` failed in `{hook}`: {type(exc).__name__}: {exc}.",
                             hint="Fix or uninstall the plugin (`pip show` names its package).")  # fmt: skip

    def _plugin_of(self, exc: BaseException) -> str:
        """The plugin whose code raised ``exc`` (its innermost frame in a plugin module)."""
        files = {}
        for name, plugin in self.registry.pm.list_name_plugin():
            module = (
                plugin if isinstance(plugin, types.ModuleType) else sys.modules.get(type(plugin).__module__)
            )
            if getattr(module, "__file__", None):
                files.setdefault(str(Path(module.__file__).resolve().parent), name)
        for frame in reversed(traceback.extract_tb(exc.__traceback__)):
            folder = str(Path(frame.filename).resolve().parent)
            if folder in files:
                return files[folder]
        return "unknown"

    def vdk_context(self, context) -> JobContext:
        """VDK's view of meshkit's job ``context`` (templates get theirs on first use)."""
        if context.vdk is None:
            context.vdk = JobContext(context, self.core_context.create_child_context())
        return context.vdk

    # ------------------------------------------------------------------ command line

    @hookimpl
    def shutdown(self, meshkit, exit_code):
        try:
            self._call("vdk_exit", context=self.core_context, exit_code=exit_code)
        except PlatformError as exc:  # the command has its exit code already
            log.error("%s", exc)

    # ------------------------------------------------------------------ job run

    @hookimpl(tryfirst=True)
    def initialize_job(self, context):
        self._job = context
        self.configuration.use_job_values(context.job_config.vdk, context.job_config.sections)
        vdk = self.vdk_context(context)
        run = context.run
        state = vdk.core_context.state
        state.set(CommonStoreKeys.EXECUTION_ID, run.id)
        state.set(CommonStoreKeys.OP_ID, run.parent_id or run.id)
        state.set(CommonStoreKeys.START_TIME, run.started_at or run.created_at)
        state.set(CommonStoreKeys.TEMPORARY_WRITE_DIRECTORY, str(self.meshkit.config.get("temporary_write_directory")
                                                                 or tempfile.gettempdir()))  # fmt: skip
        state.set(ExecutionStateStoreKeys.JOB_NAME, context.name)
        self._call("initialize_job", context=vdk)
        context.added_steps.extend(_meshkit_step(step) for step in vdk.step_builder.get_steps())

    @hookimpl(tryfirst=True)
    def run_job(self, context):
        result = self._call("run_job", context=self.vdk_context(context))
        if isinstance(result, ExecutionResult) and result.is_failed():
            raise result.get_exception_to_raise()
        return JobResult("succeeded", steps_run=len(context.run.steps))

    @hookimpl(tryfirst=True)
    def run_step(self, context, step):
        def run(vdk_step, job_input):
            step.type.run(context, step)
            return True

        vdk_step = Step(step.name, step.suffix.lstrip("."), run, step.path, context.job_dir)
        self._call("run_step", context=self.vdk_context(context), step=vdk_step)
        return True

    @hookimpl
    def finalize_job(self, context, result):
        try:
            self._call("finalize_job", context=self.vdk_context(context))
        except PlatformError as exc:  # the run has its status already: report, do not hide it
            log.error("%s", exc)

    # ------------------------------------------------------------------ managed connection

    @hookimpl
    def connection_validate_operation(self, connection, operation, parameters):
        # NOTE: a refused operation is the job's error (as VDK blames it), so it is raised as it is.
        self.hook.db_connection_validate_operation(operation=operation, parameters=parameters)

    @hookimpl
    def connection_before_operation(self, cursor):
        operation = ManagedOperation(cursor.operation, cursor.parameters)
        self._call("db_connection_before_operation", operation=operation)
        cursor.operation, cursor.parameters = operation.get_operation_parameters_tuple()

    @hookimpl(tryfirst=True)
    def connection_execute_operation(self, cursor):
        operation = ManagedOperation(cursor.operation, cursor.parameters)
        try:
            self.hook.db_connection_execute_operation(execution_cursor=ExecutionCursor(cursor, operation))
        except Exception as exc:
            self._call("db_connection_on_operation_failure", operation=operation, exception=exc)
            raise
        return True

    # ------------------------------------------------------------------ ingestion

    def _processors(self, key: str) -> list[tuple[str, object]]:
        names = [
            n.strip().lower() for n in str(self.configuration.get_value(key) or "").split(",") if n.strip()
        ]
        known = self._job.ingesters if self._job is not None else {}
        for name in names:
            if name not in known:
                raise ConfigError(f"`{key.upper()}` names the ingester `{name}`, which no plugin registered.",
                                  hint=f"Registered ingesters: {', '.join(sorted(known)) or 'none'}.")  # fmt: skip
        return [(name, known[name].plugin) for name in names]

    @hookimpl
    def pre_ingest(self, payload):
        processors = self._processors(PREPROCESS_SEQUENCE)
        if not processors:
            return
        rows, metadata = payload.table.to_pylist(), payload.metadata or None
        for name, plugin in processors:
            try:
                rows, metadata = plugin.pre_ingest_process(payload=rows, destination_table=payload.destination,
                                                           target=payload.target, collection_id=payload.collection_id,
                                                           metadata=metadata, method=payload.method)  # fmt: skip
            except Exception as exc:
                raise PlatformError(
                    f"Ingester `{name}` failed in pre_ingest_process: {type(exc).__name__}: {exc}."
                ) from exc
            updated = (metadata or {}).get(IIngesterPlugin.UPDATED_DYNAMIC_PARAMS, {})
            payload.destination = updated.get("destination_table", payload.destination)
            payload.target = updated.get("target", payload.target)
        payload.metadata = dict(metadata or {})
        payload.table = pa.Table.from_pylist(rows) if rows else payload.table.slice(0, 0)

    @hookimpl(tryfirst=True)
    def ingest_payload(self, payload):
        if isinstance(payload.store, IngesterTarget):
            return payload.store.ingest(payload)
        return None

    @hookimpl
    def post_ingest(self, payload, rows_written, error):
        metadata = payload.metadata or None
        for name, plugin in self._processors(POSTPROCESS_SEQUENCE):
            try:
                metadata = plugin.post_ingest_process(payload=payload.table.to_pylist(), destination_table=payload.destination,
                                                      target=payload.target, collection_id=payload.collection_id,
                                                      metadata=metadata, exception=error, method=payload.method)  # fmt: skip
            except Exception as exc:
                log.error(
                    "Ingester `%s` failed in post_ingest_process: %s: %s", name, type(exc).__name__, exc
                )


def load_registry() -> PluginRegistry | None:
    """A registry with VDK's hooks and the installed VDK plugins, or ``None`` when none is installed."""
    if not declares_entry_points(GROUP_NAME):
        return None
    vdk_compat.install()
    registry = PluginRegistry()
    registry.add_hook_specs(hookspecs)
    registry.load_plugin_with_hooks_impl(_BuiltinHooks(), "meshkit-builtin")
    try:
        registry.pm.load_setuptools_entrypoints(GROUP_NAME)
    except Exception as exc:  # a broken package must not hide which one it is
        raise PluginError(f"Cannot load a `{GROUP_NAME}` entry point: {type(exc).__name__}: {exc}.",
                          hint="Reinstall or uninstall the VDK plugin named in the error.") from None  # fmt: skip
    return registry


@hookimpl
def initialize(meshkit):
    registry = load_registry()
    if registry is None:
        return
    if meshkit.pm.get_plugin(RUNTIME_NAME) is not None:
        meshkit.pm.unregister(name=RUNTIME_NAME)
    meshkit.pm.register(VdkRuntime(meshkit, registry), name=RUNTIME_NAME)
