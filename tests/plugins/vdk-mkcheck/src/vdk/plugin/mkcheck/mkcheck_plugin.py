"""Implements every VDK hook and registry meshkit relays, and writes what it saw to `mk_events_file`."""

import json
import pathlib
import sqlite3

from vdk.api.plugin.hook_markers import hookimpl
from vdk.api.plugin.plugin_input import IIngesterPlugin
from vdk.api.plugin.plugin_registry import IPluginRegistry
from vdk.internal.builtin_plugins.run.job_context import JobContext
from vdk.internal.builtin_plugins.run.step import Step
from vdk.internal.core.config import ConfigurationBuilder
from vdk.internal.core.context import CoreContext
from vdk.internal.core.statestore import CommonStoreKeys, StoreKey

STARTED = StoreKey[str]("mkcheck.started")
_events_file = None


def record(event, **details):
    with open(_events_file, "a") as out:
        out.write(json.dumps({"event": event, **details}, default=str) + "\n")


class Collector(IIngesterPlugin):
    """Ingests into a JSON lines file."""

    def __init__(self, path):
        self.path = path

    def ingest_payload(self, payload, destination_table, target=None, collection_id=None, metadata=None):
        with open(self.path, "a") as out:
            for row in payload:
                out.write(json.dumps({"table": destination_table, **row}) + "\n")
        return {"rows": len(payload)}


class Upper(IIngesterPlugin):
    """Upper-cases every string value before ingestion; records what was ingested after."""

    def pre_ingest_process(
        self, payload, destination_table=None, target=None, collection_id=None, metadata=None, method=None
    ):
        rows = [{k: v.upper() if isinstance(v, str) else v for k, v in row.items()} for row in payload]
        return rows, metadata

    def post_ingest_process(
        self,
        payload=None,
        destination_table=None,
        target=None,
        collection_id=None,
        metadata=None,
        exception=None,
        method=None,
    ):
        record("post_ingest_process", rows=len(payload), metadata=metadata, exception=exception)
        return metadata


class Registered:
    """Registered from vdk_start through the plugin registry."""

    @hookimpl(trylast=True)
    def vdk_initialize(self, context: CoreContext):
        record("registered_vdk_initialize")


@hookimpl
def vdk_start(plugin_registry: IPluginRegistry, command_line_args: list):
    plugin_registry.load_plugin_with_hooks_impl(Registered(), "mkcheck-registered")


@hookimpl(tryfirst=True)
def vdk_configure(config_builder: ConfigurationBuilder) -> None:
    config_builder.add(key="mk_events_file", default_value="events.jsonl", description="Where events go.")
    config_builder.add(key="mk_greeting", default_value="hello", description="Read from config.ini.")
    config_builder.add(key="mk_fail_in", default_value="", description="A hook that raises.")
    config_builder.add(key="mk_retries", default_value=1, description="An int key.")


@hookimpl
def vdk_initialize(context: CoreContext) -> None:
    global _events_file
    _events_file = context.configuration.get_value("mk_events_file")
    context.state.set(STARTED, "yes")
    record("vdk_initialize")


def _fail_if(hook, context):
    if context.core_context.configuration.get_value("mk_fail_in") == hook:
        raise RuntimeError(f"mkcheck was told to fail in {hook}")


@hookimpl
def initialize_job(context: JobContext) -> None:
    config = context.core_context.configuration
    record(
        "initialize_job",
        name=context.name,
        greeting=config.get_value("MK_GREETING"),
        retries=config.get_value("mk_retries"),
        db_default_type=config.get_value("db_default_type"),
        started=context.core_context.state.get(STARTED),
        execution_id=context.core_context.state.get(CommonStoreKeys.EXECUTION_ID),
        sections=config.list_sections(),
        section_file=config.get_value("sqlite_file", section="side"),
    )
    _fail_if("initialize_job", context)
    folder = pathlib.Path(_events_file).parent
    context.templates.add_template("mk/copy", pathlib.Path(__file__).parent / "templates" / "copy")
    context.connections.add_open_connection_factory_method("MKDB", lambda: sqlite3.connect(folder / "mk.db"))
    context.ingester.add_ingester_factory_method("mk-collect", lambda: Collector(folder / "collected.jsonl"))
    context.ingester.add_ingester_factory_method("MK-UPPER", Upper)
    context.step_builder.add_step(
        Step(
            name="zz_added_by_plugin",
            type="python",
            runner_func=_added_step,
            file_path=pathlib.Path(__file__),
            job_dir=context.job_directory,
        )
    )


def _added_step(step, job_input):
    job_input.execute_query(f"CREATE TABLE added AS SELECT '{step.name}' AS name", database="mkdb")
    return True


@hookimpl(hookwrapper=True)
def run_job(context: JobContext):
    record("run_job_before", name=context.name)
    outcome = yield
    result = outcome.get_result()
    record("run_job_after", name=context.name, result=type(result).__name__, success=result.is_success())


@hookimpl(tryfirst=True)
def run_step(context: JobContext, step):
    record("run_step", name=step.name, type=step.type)
    _fail_if("run_step", context)


@hookimpl
def finalize_job(context: JobContext) -> None:
    record("finalize_job", name=context.name)


@hookimpl
def vdk_exit(context: CoreContext, exit_code: int) -> None:
    record("vdk_exit", exit_code=exit_code)


@hookimpl
def db_connection_validate_operation(operation, parameters):
    if "protected" in operation.lower() and operation.lower().lstrip().startswith("drop"):
        raise PermissionError("mkcheck refuses to drop the protected table")


@hookimpl
def db_connection_before_operation(operation):
    if "'placeholder'" in operation.get_operation():
        operation.set_operation(operation.get_operation().replace("'placeholder'", "'decorated'"))


@hookimpl(hookwrapper=True)
def db_connection_execute_operation(execution_cursor):
    operation = execution_cursor.get_managed_operation().get_operation()
    outcome = yield
    record("executed", operation=operation.strip().split()[0].upper(), failed=outcome.excinfo is not None)


@hookimpl
def db_connection_on_operation_failure(operation, exception):
    record("operation_failed", operation=operation.get_operation(), exception=type(exception).__name__)
