"""The DuckDB engine: embedded, the default.

It runs in a DuckDB file when one end of the work is a DuckDB store (so that store's tables are
read and written in place, in one transaction), else in memory. It scans PostgreSQL through
DuckDB's postgres extension and local Parquet files itself, pushing projection and predicates
into those scans; any other store is read through the store as an Arrow stream.

Option ``config`` holds DuckDB settings for an in-memory connection (``{"enable_external_access":
False}`` for SQL a user wrote). Outside this package nothing imports ``duckdb``: modules catch
``Engine.ERRORS`` and ask ``Engine.error_kind`` what an exception means.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence

import duckdb
import pyarrow as pa
from sqlglot import exp

from meshkit.core.errors import PlatformError
from meshkit.core.redaction import strip_credentials
from meshkit.data.stores.base import Store
from meshkit.engines import duckdb_io
from meshkit.engines.base import Engine, ErrorKind, Relation, Sink, text_kind

#: A DuckDB connection (a model build's cursor), for annotations outside this package.
Connection = duckdb.DuckDBPyConnection
#: The statement could not be parsed.
SYNTAX_ERRORS: tuple[type[BaseException], ...] = (duckdb.ParserException,)
#: A table, view, schema or function it names does not exist.
CATALOG_ERRORS: tuple[type[BaseException], ...] = (duckdb.CatalogException,)


def table_names(sql: str) -> set[str] | None:
    """The tables ``sql`` reads as DuckDB's parser sees them (qualified as written), ``None`` when it cannot
    parse it."""
    try:
        return duckdb.get_table_names(sql, qualified=True)
    except duckdb.Error:
        return None


class DuckDBEngine(Engine):
    """DuckDB, in the file of ``store`` (a DuckDB store) or in memory."""

    type = "duckdb"
    DIALECT = "duckdb"
    SUPPORTS_MERGE = True
    SUPPORTS_PYTHON_UDFS = True
    SUPPORTS_TRANSACTIONS = True
    SCANS_STORES = frozenset(duckdb_io.SCANNERS)
    SCANS_FORMATS = frozenset({"parquet"})
    WRITES_STORES = frozenset(duckdb_io.WRITERS)
    ERRORS = (duckdb.Error,)

    def __init__(self, name="duckdb", options=None, meshkit=None, *, store: Store | None = None,
                 connection: duckdb.DuckDBPyConnection | None = None):  # fmt: skip
        super().__init__(name, options, meshkit)
        self.store = store
        #: A connection of the caller's (a model build's cursor) is used, never closed.
        self._borrowed = connection is not None
        self._conn: duckdb.DuckDBPyConnection | None = connection

    @property
    def conn(self) -> duckdb.DuckDBPyConnection:
        """The connection, opened on first use: a cursor on the DuckDB store's file, else in memory."""
        if self._conn is None:
            if self.store is not None:
                self._conn = self.store.connect()
            else:
                self._conn = duckdb.connect(":memory:", config=dict(self.options.get("config") or {}))
        return self._conn

    @staticmethod
    def is_connection(obj: object) -> bool:
        return isinstance(obj, duckdb.DuckDBPyConnection)

    @classmethod
    def error_kind(cls, exc: BaseException) -> ErrorKind | None:
        if not isinstance(exc, duckdb.Error):
            return None
        kind = text_kind(str(exc))
        if kind is not None:
            return kind
        if isinstance(exc, duckdb.OutOfMemoryException):
            return "memory"
        if isinstance(exc, duckdb.CatalogException | duckdb.BinderException | duckdb.ConversionException |
                      duckdb.ConstraintException | duckdb.InvalidInputException):  # fmt: skip
            return "data"
        return "engine"

    @classmethod
    def open(cls, name, options, meshkit, stores=()) -> DuckDBEngine:
        """The engine in the file of the first DuckDB store among ``stores``, else in memory."""
        owner = next((s for s in stores if s.type == "duckdb"), None)
        return cls(name, options, meshkit, store=owner)

    def can_scan(self, store: Store) -> bool:
        if store.type == "duckdb":
            return store is self.store
        return super().can_scan(store)

    def can_write(self, store: Store) -> bool:
        if store.type == "duckdb":
            return store is self.store
        return super().can_write(store)

    def sink(self, store: Store, asset: str, mode: str) -> Sink | None:
        """A DuckDB table of the engine's own file (one transaction) or a local Parquet asset (``COPY``)."""
        if not self.can_write(store):
            return None
        return duckdb_io.statement_sink(self.conn, store, asset, mode, self.store)

    # ------------------------------------------------------------------ one piece of work

    _SETTINGS = ("memory_limit", "temp_directory", "preserve_insertion_order", "enable_progress_bar",
                 "enable_progress_bar_print", "TimeZone")  # fmt: skip

    @contextlib.contextmanager
    def settings(self, *, memory_limit=None, temp_dir=None, progress=False, ordered=True) -> Iterator[None]:
        conn = self.conn
        saved = conn.execute(
            f"SELECT {', '.join(f'current_setting({duckdb_io._literal(k)})' for k in self._SETTINGS)}"
        ).fetchone()
        wanted = {"TimeZone": "UTC"}
        if memory_limit:
            wanted["memory_limit"] = memory_limit
        if temp_dir:
            wanted["temp_directory"] = temp_dir
        if progress:  # NOTE: DuckDB measures a statement's progress only with its progress bar on
            wanted.update(enable_progress_bar=True, enable_progress_bar_print=False)
        if not ordered:  # NOTE: parallel scans then write as they read instead of holding batches back
            wanted["preserve_insertion_order"] = False
        self._set(wanted)
        try:
            yield
        finally:
            with contextlib.suppress(*self.ERRORS):
                self._set(dict(zip(self._SETTINGS, saved, strict=True)))

    def _set(self, settings: dict) -> None:
        for key, value in settings.items():
            value = str(value).lower() if isinstance(value, bool) else duckdb_io._literal(str(value))
            self.conn.execute(f"SET {key} = {value}")

    @contextlib.contextmanager
    def watch(self, progress: Callable[..., None] | None, every: float = 0.2) -> Iterator[None]:
        if progress is None:
            yield
            return
        conn, done = self.conn, threading.Event()

        def poll():
            best = 0.0
            while not done.wait(every):
                with contextlib.suppress(*self.ERRORS):
                    share = conn.query_progress()  # -1 between statements
                    if share > best:
                        best = share
                        progress(0, fraction=min(share, 100) / 100)

        watcher = threading.Thread(target=poll, name="engine-progress", daemon=True)
        watcher.start()
        try:
            yield
        finally:
            done.set()
            watcher.join()

    # ------------------------------------------------------------------ reading

    def relation(self, store, asset, columns=None, predicate=None) -> Relation:
        try:
            source = (
                duckdb_io.scan_source(self.conn, store, asset, self.store) if self.can_scan(store) else None
            )
        except duckdb.IOException as exc:  # the store cannot be reached: say so without its credentials
            message = strip_credentials(str(exc).splitlines()[0], mask="***")
            raise PlatformError(f"Cannot read `{store.name}/{asset}`: {message}",
                                hint=f"Check that store `{store.name}` is up and reachable.") from None  # fmt: skip
        if source is None:
            return self.register_arrow(store.read(asset, columns=columns, filter=predicate))
        relation = Relation(source.relation, source.schema, source.kind, source.release, source.ordered)
        if columns or predicate:
            items = ", ".join(self.quote(c) for c in columns) if columns else "*"
            relation.sql = (
                f"(SELECT {items} FROM {source.relation}{f' WHERE {predicate}' if predicate else ''})"
            )
            if columns:
                relation.schema = pa.schema([source.schema.field(c) for c in columns])
        return relation

    def query(self, sql: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        return self.conn.execute(sql).to_arrow_reader(batch_rows)

    def fetch_one(self, sql: str) -> tuple | None:
        return self.conn.execute(sql).fetchone()

    def column_types(self, relation: str) -> list[tuple[str, str]]:
        # NOTE: DESCRIBE binds the query without running it: an Arrow stream stays unread.
        return [
            (r[0], str(r[1]).upper())
            for r in self.conn.execute(f"DESCRIBE SELECT * FROM {relation}").fetchall()
        ]

    def register_arrow(self, reader: pa.RecordBatchReader, name: str | None = None) -> Relation:
        source = duckdb_io.stream_source(self.conn, reader)
        return Relation(source.relation, source.schema, source.kind, source.release, rescannable=False)

    def register_udf(self, udf) -> None:
        with contextlib.suppress(duckdb.InvalidInputException, duckdb.CatalogException):
            self.conn.remove_function(udf.name)
        self.conn.create_function(udf.name, udf.func, [duckdb.sqltype(p) for p in udf.params], duckdb.sqltype(udf.returns),
                                  type="arrow", side_effects=udf.volatile)  # fmt: skip

    # ------------------------------------------------------------------ writing

    def execute(self, sql: str) -> None:
        self.conn.execute(sql)

    def create_table_as(self, table: str, select: str) -> int | None:
        return self.conn.execute(f"CREATE OR REPLACE TABLE {table} AS (\n{select}\n)").fetchone()[0]

    def insert(self, table: str, select: str, columns: Sequence[str] | None = None) -> int | None:
        into = f" ({', '.join(self.quote(c) for c in columns)})" if columns else ""
        return self.conn.execute(f"INSERT INTO {table}{into} {select}").fetchone()[0]

    def swap(self, stage: str, table: str) -> None:
        self.execute(f"DROP TABLE IF EXISTS {table}")
        name = exp.to_table(table, dialect=self.DIALECT).name  # NOTE: DuckDB renames within the schema only
        self.execute(f"ALTER TABLE {stage} RENAME TO {self.quote(name)}")

    def merge(self, table: str, select: str, keys: Sequence[str], columns: Sequence[str] | None = None,
              update: Sequence[str] | None = None) -> int | None:  # fmt: skip
        if columns is not None:  # a model's merge: SQL MERGE, keys matched by equality as dbt does
            on = " AND ".join(f"s.{self.quote(k)} = t.{self.quote(k)}" for k in keys) or "FALSE"
            names = [self.quote(c) for c in columns]
            updates = ", ".join(
                f"{c} = s.{c}" for c in (names if update is None else map(self.quote, update))
            )
            values = ", ".join(f"s.{c}" for c in names)
            return self.conn.execute(f"MERGE INTO {table} AS t USING ({select}) AS s ON ({on}) WHEN MATCHED THEN "
                                     f"UPDATE SET {updates} WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) "
                                     f"VALUES ({values})").fetchone()[0]  # fmt: skip
        stage = self.temp_name("stage")
        self.execute(f"CREATE TEMP TABLE {stage} AS {select}")
        try:
            match = " AND ".join(f"t.{self.quote(k)} IS NOT DISTINCT FROM s.{self.quote(k)}" for k in keys)
            self.execute(f"DELETE FROM {table} AS t USING {stage} AS s WHERE {match}")
            return self.conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {stage}").fetchone()[0]
        finally:
            self.execute(f"DROP TABLE IF EXISTS {stage}")

    def close(self) -> None:
        if self._conn is not None and not self._borrowed:
            self._conn.close()
            self._conn = None
