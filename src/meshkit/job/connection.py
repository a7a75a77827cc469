"""Managed connections: a job's PEP 249 connection to a SQL store, with lifecycle hooks.

Every operation goes through the ``connection_*`` hooks (validate, before, execute, recover,
after), is retried on transient errors with backoff, and has ``{name}`` placeholders substituted
from arguments, execution properties and job properties.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from meshkit.core.errors import TransientError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import lazy_import
from meshkit.core.retry import retrying

pa = lazy_import("pyarrow")

log = logging.getLogger("meshkit.connection")


class ManagedCursor:
    """A DB-API cursor whose ``execute`` runs through meshkit's connection hooks."""

    def __init__(self, connection: ManagedConnection):
        self.connection = connection
        self._cursor = connection.native_cursor()
        self._tries = 0
        self.operation: str | None = None
        self.parameters: Sequence | Mapping | None = None
        self.duration: float | None = None

    # -- PEP 249
    @property
    def description(self):
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return getattr(self._cursor, "rowcount", -1)

    arraysize = 1000

    def execute(self, operation: str, parameters: Sequence | Mapping | None = None) -> ManagedCursor:
        self.operation = self.connection.substitute(operation)
        self.parameters = parameters
        hook = self.connection.hook
        hook.connection_validate_operation(
            connection=self.connection.name, operation=self.operation, parameters=parameters
        )
        hook.connection_before_operation(cursor=self)
        started = time.perf_counter()
        self._tries = 0
        retrying(self._attempt, retries=self.connection.retries, backoff=0.2, max_delay=5.0,
                 transient=self._transient, on_retry=self._retrying)  # fmt: skip
        self.duration = time.perf_counter() - started
        hook.connection_after_operation(cursor=self)
        return self

    def _attempt(self) -> None:
        self._tries += 1
        if self._cursor is None:  # NOTE: reconnected after a transient error, inside this attempt
            self._cursor = self.connection.native_cursor()
        try:
            self.connection.hook.connection_execute_operation(cursor=self)
        except Exception as exc:  # noqa: BLE001 - a plugin may recover it, else it is classified
            if not any(self.connection.hook.connection_recover_operation(cursor=self, error=exc)):
                raise

    def _transient(self, exc: BaseException) -> TransientError | None:
        if isinstance(exc, TransientError):
            return exc
        if not self.connection.is_transient(exc):
            return None
        return TransientError(f"Connection `{self.connection.name}` failed {self._tries} times: {exc}.")

    def _retrying(self, attempt: int, attempts: int, delay: float, error: TransientError) -> None:
        log.warning("Transient error on `%s` (attempt %d of %d), retrying in %.1fs: %s",
                    self.connection.name, attempt, attempts, delay, error.__cause__ or error)  # fmt: skip
        self.connection.reconnect()
        self._cursor = None

    def execute_native(self) -> None:
        """Run the current operation on the database (what ``connection_execute_operation`` does)."""
        if self.parameters is None:
            self._cursor.execute(self.operation)
        else:
            self._cursor.execute(self.operation, self.parameters)

    def executemany(self, operation: str, seq_of_parameters) -> ManagedCursor:
        self._cursor.executemany(self.connection.substitute(operation), seq_of_parameters)
        return self

    def fetchone(self):
        return self._cursor.fetchone()

    def fetchmany(self, size: int | None = None):
        return self._cursor.fetchmany(size or self.arraysize)

    def fetchall(self) -> list[tuple]:
        return list(self._cursor.fetchall())  # PyMySQL returns a tuple of rows

    def close(self) -> None:
        if self._cursor is not None and self._cursor is not self.connection._raw:
            self._cursor.close()

    def __iter__(self):
        return iter(self.fetchall())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class ManagedConnection:
    """A PEP 249 connection to a SQL store, usable with ``pandas.read_sql``."""

    def __init__(self, store, hook, substitutions: Callable[[], Mapping[str, Any]] = dict, retries: int = 3):
        self.store = store
        self.name = store.name
        self.hook = hook
        self.retries = retries
        self._substitutions = substitutions
        self._raw = None
        #: The user's SQL opened a transaction (BEGIN) that it has not ended yet.
        self.in_user_transaction = False

    @property
    def raw(self):
        """The store's own DB-API connection, opened on first use."""
        if self._raw is None:
            self._raw = self.store.connect()
        return self._raw

    def substitute(self, sql: str) -> str:
        from meshkit.job.sqltext import substitute

        return substitute(sql, self._substitutions())

    def is_transient(self, exc: BaseException) -> bool:
        check = getattr(self.store, "is_transient", None)
        return bool(check and check(exc))

    def reconnect(self) -> None:
        self.close()

    def track_transaction(self, statement: str) -> None:
        """Follow BEGIN/COMMIT/ROLLBACK in the user's SQL so meshkit does not commit in the middle."""
        words = statement.lstrip().split(None, 2)
        first = words[0].upper().rstrip(";") if words else ""
        if first in ("BEGIN", "START"):
            self.in_user_transaction = True
        elif first in ("COMMIT", "ROLLBACK", "END", "ABORT"):
            self.in_user_transaction = False

    def native_cursor(self):
        """A cursor of the raw connection that shares its transaction.

        A DuckDB connection's ``cursor()`` is a separate connection with its own transaction, so on
        DuckDB statements run on the connection itself.
        """
        from meshkit.engines.duckdb import DuckDBEngine

        raw = self.raw
        return raw if DuckDBEngine.is_connection(raw) else raw.cursor()

    def cursor(self) -> ManagedCursor:
        return ManagedCursor(self)

    def execute(self, operation: str, parameters=None) -> ManagedCursor:
        return self.cursor().execute(operation, parameters)

    def commit(self) -> None:
        if self._raw is not None:
            self._raw.commit()

    def rollback(self) -> None:
        if self._raw is not None:
            self._raw.rollback()

    def close(self) -> None:
        if self._raw is not None:
            raw, self._raw = self._raw, None
            release = getattr(self.store, "_release", None)
            release(raw) if release else raw.close()

    def query_arrow(self, sql: str) -> pa.Table:
        """Run ``sql`` and return the result as an Arrow table (zero-copy on DuckDB)."""
        cur = self.execute(sql)
        native = cur._cursor
        if hasattr(native, "to_arrow_table"):
            return native.to_arrow_table()
        names = [d[0] for d in cur.description or []]
        rows = cur.fetchall()
        columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
        return pa.table({n: pa.array(list(c)) for n, c in zip(names, columns, strict=True)})


@hookimpl(trylast=True)
def connection_execute_operation(cursor):
    cursor.execute_native()
    return True


@hookimpl
def configure(config):
    config.add(
        "db_default_type",
        "duckdb",
        "Managed connection of jobs: a store name or type (duckdb, sqlite, postgres, mysql).",
    )
    config.add("connection_retries", 3, "Retries of an operation on a transient connection error.", type=int,
               bounds=(0, 100))  # fmt: skip
