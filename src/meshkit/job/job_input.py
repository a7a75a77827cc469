"""``JobInput``: meshkit's implementation of the VDK-compatible ``IJobInput``, Arrow underneath."""

from __future__ import annotations

import contextlib
import pathlib
import re
import tempfile
from typing import Any

from meshkit.api.job_input import IJobInput
from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, UserError
from meshkit.core.lazy import lazy_import
from meshkit.data.ingest import Ingester
from meshkit.job.connection import ManagedConnection
from meshkit.job.lineage import record, statement_lineage

pa = lazy_import("pyarrow")

#: Statements whose rows affected are rows removed, not written (comments before them allowed).
_REMOVES_ROWS = re.compile(r"(?:\s|--[^\n]*\n|/\*.*?\*/)*(?:delete|truncate)\b", re.IGNORECASE | re.DOTALL)


class JobInput(IJobInput):
    """Handed to every step as ``run(job_input)``."""

    def __init__(self, context, ingester: Ingester, connection_name: str):
        self._context = context
        self._meshkit = context.meshkit
        self._ingester = ingester
        self._connection_name = connection_name
        self._connections: dict[str, ManagedConnection] = {}
        self._temp_dir: pathlib.Path | None = None
        started = context.run.started_at or context.run.created_at
        self._execution_properties = {
            "pa__execution_id": context.run.id,
            "pa__job_name": context.name,
            "pa__job_start_unixtime": str(int(started.timestamp())),
            "pa__job_start_ts_expr": f"cast({int(started.timestamp())} as timestamp)",
            "pa__op_id": context.run.parent_id or context.run.id,
        }
        self._properties_cache: dict[str, Any] | None = None

    # ------------------------------------------------------------------ identity

    def get_name(self) -> str:
        return self._context.name

    def get_job_directory(self) -> pathlib.Path:
        return self._context.job_dir

    def get_execution_properties(self) -> dict:
        return dict(self._execution_properties)

    def get_arguments(self) -> dict:
        # NOTE: the live dict, as in VDK: template steps may add derived arguments for later steps.
        return self._context.arguments

    def get_temporary_write_directory(self) -> pathlib.Path:
        """``temporary_write_directory`` when set (as in VDK: the same folder for every run); else a
        folder of this run in the process's scratch folder, removed when the process ends (by the next
        command if it is killed)."""
        configured = self._meshkit.config.get("temporary_write_directory")
        if configured:
            path = pathlib.Path(configured)
            path.mkdir(parents=True, exist_ok=True)
            return path
        if self._temp_dir is None:
            folder = self._meshkit.scratch.folder
            self._temp_dir = pathlib.Path(tempfile.mkdtemp(prefix=f"{self._context.run.id}-", dir=folder))
        return self._temp_dir

    def skip_remaining_steps(self) -> None:
        self._context.skip_remaining = True

    # ------------------------------------------------------------------ properties and secrets

    @property
    def _scope(self) -> str:
        return self._context.parent.name if self._context.parent else self._context.name

    def get_property(self, name: str, default_value: Any = None) -> Any:
        return self.get_all_properties().get(name, default_value)

    def get_all_properties(self) -> dict:
        if self._properties_cache is None:
            from meshkit.job.properties import properties_backend

            with _backend("properties", self._meshkit):
                backend = properties_backend(self._meshkit)
                self._properties_cache = {**backend.get_all(""), **backend.get_all(self._scope)}
        return dict(self._properties_cache)

    def set_all_properties(self, properties: dict) -> None:
        from meshkit.job.properties import properties_backend

        with _backend("properties", self._meshkit):
            properties_backend(self._meshkit).set_all(self._scope, dict(properties))
        self._properties_cache = None

    def get_secret(self, name: str, default_value: Any = None) -> Any:
        with _backend("secrets", self._meshkit):
            value = self._meshkit.get_secret(name, scope=self._scope)
            if value is None:
                value = self._meshkit.get_secret(name)
        return default_value if value is None else value

    def get_all_secrets(self) -> dict:
        from meshkit.job.secrets import secrets_backend

        with _backend("secrets", self._meshkit):
            backend = secrets_backend(self._meshkit)
            values = {**backend.get_all(""), **backend.get_all(self._scope)}
        for value in values.values():
            self._meshkit.redactor.add(str(value))
        return values

    def set_all_secrets(self, secrets: dict) -> None:
        from meshkit.job.secrets import secrets_backend

        for value in secrets.values():
            self._meshkit.redactor.add(str(value))
        with _backend("secrets", self._meshkit):
            secrets_backend(self._meshkit).set_all(self._scope, dict(secrets))

    # ------------------------------------------------------------------ queries

    def _substitutions(self) -> dict[str, Any]:
        # NOTE: precedence is arguments > execution properties > job properties (VDK's order).
        return {**self.get_all_properties(), **self._execution_properties, **self._context.arguments}

    def _store(self, database: str | None):
        """The store ``database`` names: a plugin's connection, a store, or VDK's name of one (any case)."""
        name = database or self._connection_name
        factories = {**self._meshkit.registry("connections"), **self._top.connections}
        if name.lower() in factories:
            return PluginConnection(name.lower(), factories[name.lower()])
        name = store_name(self._meshkit, name)
        if name in factories:
            return PluginConnection(name, factories[name])
        try:
            return self._meshkit.store(name)
        except ConfigError as exc:
            if database:
                raise
            source = self._meshkit.config.source("db_default_type")
            valid = sorted({*self._meshkit.store_names(), *factories})
            raise ConfigError(f"`db_default_type = {name}` names no connection.", where=f"{source}: db_default_type",
                              hint=f"Use one of: {', '.join(valid)}; or declare it in meshkit.toml [stores.NAME].") from exc  # fmt: skip

    def get_managed_connection(self, database: str | None = None) -> ManagedConnection:
        store = self._store(database)
        name = store.name
        if name not in self._connections:
            if not store.SUPPORTS_SQL:
                raise ConfigError(
                    f"Store `{name}` ({store.type}) is not a database.", hint="Name a SQL store."
                )
            retries = self._meshkit.config.get("connection_retries")
            self._connections[name] = ManagedConnection(
                store, self._meshkit.pm.hook, self._substitutions, retries
            )
        return self._connections[name]

    def execute_query(self, query: str, database: str | None = None) -> list[tuple]:
        """Run ``query`` (one statement or a script) and return the last statement's rows."""
        from meshkit.job.sqltext import split_statements

        connection = self.get_managed_connection(database)
        rows: list[tuple] = []
        for line, statement in split_statements(query):
            cursor = connection.cursor()
            try:
                cursor.execute(statement)
                rows = cursor.fetchall() if cursor.description else []
                if self._record_lineage(connection, cursor.operation):
                    self._count_written(cursor, rows, statement)
                connection.track_transaction(statement)
                if not connection.in_user_transaction:
                    connection.commit()
            except MeshkitError:
                raise
            except Exception as exc:  # the database refused the user's SQL
                connection.in_user_transaction = False
                with contextlib.suppress(Exception):
                    connection.rollback()
                raise SQLStatementError(
                    exc, line, statement, connection.name, self._meshkit.redactor
                ) from None
            finally:
                cursor.close()
        return rows

    def _record_lineage(self, connection, statement: str) -> set[str]:
        """Record the tables ``statement`` read and wrote; returns those it wrote."""
        reads, writes = statement_lineage(statement, getattr(connection.store, "dialect", None))
        self._record_tables(connection, reads, writes)
        return writes

    def _record_tables(self, connection, reads: set[str], writes: set[str]) -> None:
        """Record tables of ``connection`` read and written, in the lineage of this context's run."""
        # NOTE: a template's statements are its own run's lineage, so the catalog names the template.
        record(self._context.run.lineage, connection.name, reads, writes)

    @property
    def _top(self):
        """The job's own context (template steps count for the job that ran them)."""
        return self._context.parent or self._context

    def _count_written(self, cursor, rows: list[tuple], statement: str) -> None:
        if _REMOVES_ROWS.match(statement):  # NOTE: rows written are the rows a table gains or changes, net
            return
        # NOTE: DuckDB reports the rows an INSERT/UPDATE/DELETE touched as a one-row `Count` result.
        description = cursor.description or []
        if len(description) == 1 and description[0][0] == "Count" and len(rows) == 1:
            count = rows[0][0]
        else:
            count = cursor.rowcount
        if isinstance(count, int) and count > 0:
            self._add_written(count)

    def _add_written(self, count: int) -> None:
        """Count ``count`` rows written by the current step: of the job, and of the template running it."""
        runs = {id(c.run): c.run for c in (self._context, self._top)}
        for run in runs.values():
            run.rows_written += count
            if run.steps:
                run.steps[-1].rows_written += count

    def query(self, sql: str, database: str | None = None) -> pa.Table:
        """Run ``sql`` and return an Arrow table (``.to_pandas()`` / ``polars.from_arrow`` as you like)."""
        connection = self.get_managed_connection(database)
        try:
            table = connection.query_arrow(sql)
        except Exception as exc:
            raise SQLStatementError(exc, 1, sql, connection.name, self._meshkit.redactor) from None
        self._record_lineage(connection, sql)
        return table

    # ------------------------------------------------------------------ ingestion

    def send_object_for_ingestion(self, payload: dict, destination_table: str | None = None, method: str | None = None,
                                  target: str | None = None, collection_id: str | None = None) -> None:  # fmt: skip
        self._ingester.send_object(payload, destination_table, method, target)

    def send_tabular_data_for_ingestion(self, rows: Any, column_names: list, destination_table: str | None = None,
                                        method: str | None = None, target: str | None = None,
                                        collection_id: str | None = None) -> None:  # fmt: skip
        self._ingester.send_rows(rows, column_names, destination_table, method, target)

    def ingest(self, data: Any, destination: str, mode: str = "append", target: str | None = None) -> int:
        """Write an Arrow table, pandas or polars DataFrame to ``destination`` now; returns rows written.

        ``mode`` is ``append`` or ``overwrite`` (atomic: readers see the old or the new table).
        """
        before = len(self._ingester.failures)
        rows = self._ingester.send_table(data, destination, mode=mode, target=target)
        if len(self._ingester.failures) > before:
            self._ingester.check()
        return rows

    def flush_ingestion(self) -> None:
        """Write every queued row now (meshkit does this at the end of each step)."""
        self._ingester.flush()

    # ------------------------------------------------------------------ templates

    def execute_template(self, template_name: str, template_args: dict, database: str | None = None):
        """Run a template as a child run; returns VDK's ``ExecutionResult``. If the template fails, its
        exception is raised again as it was (the user's own exception type for a Python step)."""
        from meshkit.job.runner import run_template

        if database in (None, "default"):
            database = self._connection_name
        return run_template(self._context, template_name, dict(template_args), database)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        self._connections.clear()


def store_name(meshkit, name: str) -> str:
    """The store a connection name means: a declared store as it is, else VDK's name in meshkit's terms."""
    from meshkit.job.job_config import db_type

    return name if name in meshkit.store_settings else db_type(name)


class PluginConnection:
    """A connection a plugin registered (``register_connections`` or VDK's ``add_open_connection_factory_method``),
    as a SQL store."""

    SUPPORTS_SQL = True
    type = "plugin"
    dialect = None

    def __init__(self, name: str, factory):
        self.name = name
        self._factory = factory

    def connect(self):
        return self._factory()


@contextlib.contextmanager
def _backend(kind: str, meshkit):
    """Report a failing properties or secrets backend as a platform error (as VDK classifies it)."""
    try:
        yield
    except MeshkitError:
        raise
    except Exception as exc:
        name = meshkit.config.get(f"{kind}_backend")
        reason = meshkit.redactor.redact(f"{type(exc).__name__}: {exc}")
        raise PlatformError(f"The {kind} backend `{name}` failed: {reason}.",
                            hint=f"Check that the {kind} service is reachable, then run again.") from None  # fmt: skip


class SQLStatementError(UserError):
    """The database refused a statement of the user's SQL."""

    def __init__(self, exc: Exception, line: int, statement: str, connection: str, redactor):
        first = statement.strip().splitlines()[0][:120] if statement.strip() else ""
        message = redactor.redact(f"{type(exc).__name__}: {exc}".strip())
        super().__init__(f"{message} (statement at line {line} on `{connection}`: {first})",
                         hint="Fix the SQL; the statement and its line are shown above.")  # fmt: skip
        self.line = line
