"""Every hook meshkit calls, grouped by lifecycle.

Plugins implement them with ``@meshkit.hookimpl``; meshkit's own features are plugins too.
Hooks are always called with keyword arguments, so an implementation may accept any subset.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("meshkit")
hookimpl = pluggy.HookimplMarker("meshkit")

# ---------------------------------------------------------------------------- command line


@hookspec
def register_commands(cli):
    """Add commands to the ``meshkit`` command line.

    :param cli: the root ``click.Group``; call ``cli.add_command(...)``.
    """


@hookspec
def configure(config):
    """Declare configuration keys.

    :param config: a :class:`meshkit.core.config.ConfigBuilder`; call ``config.add(key, default,
        description, type=..., secret=...)``.
    """


@hookspec
def initialize(meshkit):
    """Called once the configuration is resolved and plugins are loaded.

    :param meshkit: the :class:`meshkit.core.context.Meshkit` instance.
    """


@hookspec
def shutdown(meshkit, exit_code):
    """Called when a ``meshkit`` command ends.

    :param meshkit: the instance that ran the command, or ``None`` (the command line calls it once
        the command's instance is closed).
    :param exit_code: the process exit code (0 ok, 1 user error, 2 config error, 3 platform error).
    """


# ---------------------------------------------------------------------------- job run


@hookspec
def initialize_job(context):
    """Prepare a data job run before its steps are discovered.

    :param context: the :class:`meshkit.job.context.JobContext` (job name, directory, config,
        arguments, the run record). Plugins may add steps or change arguments.
    """


@hookspec(firstresult=True)
def run_job(context):
    """Run all steps of a job; the first implementation that returns a result wins.

    :param context: the :class:`meshkit.job.context.JobContext`.
    :return: a :class:`meshkit.job.context.JobResult`.
    """


@hookspec(firstresult=True)
def run_step(context, step):
    """Run one step; the built-in implementation dispatches on the step type.

    :param context: the :class:`meshkit.job.context.JobContext`.
    :param step: the :class:`meshkit.job.steps.Step` to run.
    :return: ``True`` once the step ran (a failure raises).
    """


@hookspec
def step_started(context, step, record):
    """A step of a job began (the command line shows it live).

    :param context: the :class:`meshkit.job.context.JobContext` (``context.steps`` lists them all;
        ``context.parent`` is set for a template's steps).
    :param step: the :class:`meshkit.job.steps.Step`.
    :param record: its :class:`meshkit.core.runs.StepRecord` (position, name, start time).
    """


@hookspec
def step_finished(context, step, record):
    """A step of a job ended, whatever its status.

    :param context: the :class:`meshkit.job.context.JobContext`.
    :param step: the :class:`meshkit.job.steps.Step`.
    :param record: its :class:`meshkit.core.runs.StepRecord` with status, end time, rows and error.
    """


@hookspec
def finalize_job(context, result):
    """Called after the last step, whether the job succeeded or not.

    :param context: the :class:`meshkit.job.context.JobContext`.
    :param result: the :class:`meshkit.job.context.JobResult`, with status and error.
    """


# ---------------------------------------------------------------------------- managed connection


@hookspec
def connection_validate_operation(connection, operation, parameters):
    """Check an operation before it runs; raise to refuse it.

    :param connection: the name of the managed connection (a store name).
    :param operation: the SQL text after parameter substitution.
    :param parameters: the DB-API parameters, or ``None``.
    """


@hookspec
def connection_before_operation(cursor):
    """Called before an operation is executed.

    :param cursor: the :class:`meshkit.job.connection.ManagedCursor` (``.operation``, ``.parameters``).
    """


@hookspec(firstresult=True)
def connection_execute_operation(cursor):
    """Execute the operation; implement as ``wrapper=True`` to time, trace or change it.

    :param cursor: the :class:`meshkit.job.connection.ManagedCursor`.
    :return: ``True`` once executed.
    """


@hookspec
def connection_recover_operation(cursor, error):
    """Called when an operation failed; may retry it with ``cursor.execute_native()``.

    :param cursor: the :class:`meshkit.job.connection.ManagedCursor`.
    :param error: the exception raised by the database.
    :return: ``True`` if the operation was recovered (the error is then not raised).
    """


@hookspec
def connection_after_operation(cursor):
    """Called after an operation succeeded.

    :param cursor: the :class:`meshkit.job.connection.ManagedCursor` (``.rowcount``, timings).
    """


# ---------------------------------------------------------------------------- ingestion


@hookspec
def pre_ingest(payload):
    """Inspect or change a batch before it is written.

    :param payload: a :class:`meshkit.data.ingest.IngestPayload` (``table``, ``destination``,
        ``target``, ``method``, ``mode``). Assign ``payload.table`` to transform the rows.
    """


@hookspec(firstresult=True)
def ingest_payload(payload):
    """Write a batch to its target; the built-in writes through ``payload.transaction`` if set, else the store.

    :param payload: the :class:`meshkit.data.ingest.IngestPayload`.
    :return: the number of rows written.
    """


@hookspec
def post_ingest(payload, rows_written, error):
    """Called after a batch was written or failed.

    :param payload: the :class:`meshkit.data.ingest.IngestPayload`.
    :param rows_written: rows written (0 on failure).
    :param error: the exception, or ``None``.
    """


# ---------------------------------------------------------------------------- registries
#
# Each ``register_*`` hook adds named entries to one registry (:mod:`meshkit.core.registry`), merged
# once per ``Meshkit`` in plugin registration order. A name registered by two plugins is an error,
# unless the later one wraps its entry in ``meshkit.core.registry.override(...)``: it then replaces
# the earlier one (a built-in, say). A hook may return ``{name: entry}`` instead of a list; an entry
# made with ``meshkit.core.lazy.deferred("module:Class")`` is imported when first used, not at start-up.


@hookspec
def register_store_types():
    """Return store classes (subclasses of :class:`meshkit.data.stores.base.Store`).

    Stores are where data lives; the SQL ones are also managed connections and every one is an
    ingestion target. Each class has a unique ``type`` name used in ``[stores.NAME] type = ...``.
    ``{type: deferred("module:Class")}`` names them instead, each imported when first used.
    """


@hookspec
def register_connections():
    """Return ``{name: factory}``: managed connections a job opens by name, besides the stores.

    ``factory()`` returns a PEP 249 connection (as VDK's ``add_open_connection_factory_method``);
    ``job_input.get_managed_connection(name)`` wraps it with the ``connection_*`` hooks.
    """


@hookspec
def register_step_types():
    """Return step types: a list of :class:`meshkit.job.steps.StepType` (file suffix and runner)."""


@hookspec
def register_templates():
    """Return templates as ``{name: path_to_template_job_directory}`` for ``execute_template``."""


@hookspec
def register_properties_backends():
    """Return ``{name: factory}``; ``factory(meshkit)`` builds a properties backend."""


@hookspec
def register_secrets_backends():
    """Return ``{name: factory}``; ``factory(meshkit)`` builds a secrets backend."""


@hookspec
def register_transforms():
    """Return transform classes (see :mod:`meshkit.data.transforms`), used by transfers and governance."""


@hookspec
def register_check_types():
    """Return data-quality check classes (see :mod:`meshkit.quality`), by their ``type`` name."""


@hookspec
def register_executors():
    """Return ``{name: factory}``; ``factory(meshkit)`` builds an executor for the control service."""


@hookspec
def register_materializations():
    """Return ``{name: build}``: how a SQL model with ``materialized: name`` is built.

    ``build(project, warehouse, node, full_refresh)`` builds ``node`` in the warehouse
    (:class:`meshkit.models.warehouse.Warehouse`) atomically and returns a
    :class:`meshkit.models.materialize.BuildResult`; ``materialize.compiled_sql(project, warehouse,
    node)`` gives its SQL. The built-ins are ``view``, ``table``, ``incremental`` and ``ephemeral``.
    """


@hookspec
def register_exporters():
    """Return ``{target: exporter}`` for ``meshkit export TARGET``.

    ``exporter(meshkit, name, out_dir)`` writes the files that run job or pipeline ``name`` under the
    orchestrator ``target`` (see :mod:`meshkit.deploy`) and returns their paths.
    """


@hookspec
def register_engines():
    """Return engine classes (subclasses of :class:`meshkit.engines.base.Engine`): where SQL runs.

    Each class has a unique ``type`` name used in ``[engines.NAME] type = ...``, and declares its
    capabilities as class attributes. ``{type: deferred("module:Class")}`` names them instead, each
    imported when first used.
    """


# ---------------------------------------------------------------------------- run events


@hookspec
def run_started(meshkit, run):
    """A run began.

    :param meshkit: the instance.
    :param run: the :class:`meshkit.core.runs.RunRecord`.
    """


@hookspec
def run_finished(meshkit, run):
    """A run ended (any status).

    :param meshkit: the instance.
    :param run: the :class:`meshkit.core.runs.RunRecord` with status, timings and counts.
    """


@hookspec
def dataset_written(meshkit, run, dataset, rows, schema):
    """Rows were written to a dataset; lineage and metrics hang here.

    :param meshkit: the instance.
    :param run: the :class:`meshkit.core.runs.RunRecord` doing the write.
    :param dataset: ``"store_name/asset"``.
    :param rows: rows written by this write.
    :param schema: the ``pyarrow.Schema`` written.
    """


# ---------------------------------------------------------------------------- transfers


# ---------------------------------------------------------------------------- models and checks


# ---------------------------------------------------------------------------- control service


@hookspec
def register_routes(meshkit):
    """Return FastAPI ``APIRouter`` objects that the control service includes in its app.

    :param meshkit: the instance serving the app. Routes check access themselves, e.g. with
        ``Depends(meshkit.service.auth.require("viewer"))``.
    :return: a list of routers.
    """


@hookspec
def register_ui_pages(meshkit):
    """Return links added to the navigation bar of the web UI.

    :param meshkit: the instance serving the app.
    :return: a list of ``(title, path)`` tuples; the pages themselves come from ``register_routes``.
    """


@hookspec
def deployment_changed(meshkit, deployment, action):
    """A deployment was created, changed or removed (executors sync schedules here).

    :param meshkit: the instance.
    :param deployment: the :class:`meshkit.service.deployments.Deployment`.
    :param action: ``"deployed"``, ``"updated"`` or ``"undeployed"``.
    """


@hookspec
def send_notification(meshkit, notification):
    """Deliver one notification about a run; each implementation handles its own channels.

    :param meshkit: the instance.
    :param notification: a :class:`meshkit.service.notifications.Notification` (``channel`` is
        ``"email"`` or ``"webhook"``, ``recipient``, ``event``, ``subject``, ``body``, ``run``).
    :return: ``True`` when this implementation delivered it.
    """


# ---------------------------------------------------------------------------- catalog, products and governance
