"""VDK's hooks, with the names and arguments VDK plugins implement.

Command line: ``vdk_start``, ``vdk_configure``, ``vdk_initialize``, ``vdk_exception``, ``vdk_exit``.
Job run: ``initialize_job``, ``run_job``, ``run_step``, ``finalize_job``. Managed connection:
``db_connection_validate_operation``, ``db_connection_before_operation``,
``db_connection_execute_operation``, ``db_connection_on_operation_failure``. Ingestion is not a
hook in VDK: plugins register ingesters (``pre_ingest_process``, ``ingest_payload``,
``post_ingest_process``) with ``context.ingester.add_ingester_factory_method``.
"""

from __future__ import annotations

from meshkit.vdk.hook_markers import hookspec

# ---------------------------------------------------------------------------- command line


@hookspec(historic=True)
def vdk_start(plugin_registry, command_line_args):
    """First hook, once the plugins are loaded.

    :param plugin_registry: the :class:`meshkit.vdk.plugin_registry.PluginRegistry`; may load more plugins.
    :param command_line_args: the arguments of the command line.
    """


@hookspec
def vdk_configure(config_builder):
    """Declare configuration keys (``config_builder.add``) or provide values (``set_value``).

    :param config_builder: a :class:`meshkit.vdk.config.ConfigurationBuilder`.
    """


@hookspec
def vdk_initialize(context):
    """The configuration is built.

    :param context: the :class:`meshkit.vdk.context.CoreContext` (``configuration``, ``state``).
    """


@hookspec
def vdk_exception(exception):
    """The command is about to fail with ``exception``.

    :return: ``True`` if the plugin handled it.
    """


@hookspec
def vdk_exit(context, exit_code):
    """The command ends.

    :param context: the :class:`meshkit.vdk.context.CoreContext`.
    :param exit_code: the exit code of the process.
    """


# ---------------------------------------------------------------------------- job run


@hookspec
def initialize_job(context):
    """A job run starts: register templates, connections and ingesters, add steps.

    :param context: the :class:`meshkit.vdk.context.JobContext`.
    """


@hookspec(firstresult=True)
def run_job(context):
    """Run the job's steps; the built-in implementation runs last.

    :param context: the :class:`meshkit.vdk.context.JobContext`.
    :return: an :class:`meshkit.vdk.results.ExecutionResult`, or ``None`` to let the next one run.
    """


@hookspec(firstresult=True)
def run_step(context, step):
    """Run one step; the built-in implementation runs last.

    :param context: the :class:`meshkit.vdk.context.JobContext`.
    :param step: the :class:`meshkit.vdk.context.Step`.
    :return: a :class:`meshkit.vdk.results.StepResult`, or ``None`` to let the next one run.
    """


@hookspec
def finalize_job(context):
    """The job run ended, successfully or not.

    :param context: the :class:`meshkit.vdk.context.JobContext`.
    """


# ---------------------------------------------------------------------------- managed connection


@hookspec
def db_connection_validate_operation(operation, parameters):
    """Check an operation before it runs; raise to refuse it.

    :param operation: the SQL text.
    :param parameters: the DB-API parameters, or ``None``.
    """


@hookspec
def db_connection_before_operation(operation):
    """Change an operation before it runs (``operation.set_operation(...)``).

    :param operation: the :class:`meshkit.vdk.connection.ManagedOperation`.
    """


@hookspec(firstresult=True)
def db_connection_execute_operation(execution_cursor):
    """Execute the operation; implement with ``hookwrapper=True`` to time or trace it.

    :param execution_cursor: the :class:`meshkit.vdk.connection.ExecutionCursor`.
    :return: an :class:`meshkit.vdk.connection.ExecuteOperationResult`.
    """


@hookspec
def db_connection_on_operation_failure(operation, exception):
    """An operation failed.

    :param operation: the :class:`meshkit.vdk.connection.ManagedOperation`.
    :param exception: what the database raised.
    """
