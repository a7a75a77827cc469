"""Shared behaviour of SQL database stores: DDL from Arrow schemas, atomic writes, reads.

Writes run in one transaction on a dedicated connection: ``append`` creates the table or adds new
columns then inserts; ``overwrite`` loads a staging table and swaps it in; ``merge`` loads a
staging table, deletes the target rows whose keys it holds and inserts it. Stores with faster
native loaders (COPY, Arrow scans) override ``_insert``. A write that changes the target's
definition first takes the store's lock on the table name (``_lock_table``), so concurrent
writers creating the same table queue instead of colliding. A ``WriteTransaction`` keeps several
writes in one transaction (a job step's ingestion), committed or rolled back together.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Sequence
from typing import Any, ClassVar

import pyarrow as pa
import sqlglot
from sqlglot import exp

from meshkit.core.errors import ConfigError, MeshkitError, StoreError, UserError
from meshkit.data.stores.base import (
    ColumnSchema,
    DataLike,
    Store,
    WriteMode,
    WriteResult,
    as_reader,
    canonical_type,
    check_keys,
    check_mode,
    first_line,
    missing_asset,
    unsupported_column,
)


def arrow_to_sql_type(arrow_type: pa.DataType) -> exp.DataType:
    """The SQL type (as a sqlglot expression) holding ``arrow_type`` without loss."""
    t = pa.types
    if t.is_boolean(arrow_type):
        return exp.DataType.build("BOOLEAN")
    if t.is_int8(arrow_type) or t.is_int16(arrow_type) or t.is_uint8(arrow_type):
        return exp.DataType.build("SMALLINT")
    if t.is_int32(arrow_type) or t.is_uint16(arrow_type):
        return exp.DataType.build("INT")
    if t.is_integer(arrow_type):
        return exp.DataType.build("BIGINT")
    if t.is_float16(arrow_type) or t.is_float32(arrow_type):
        return exp.DataType.build("REAL")
    if t.is_floating(arrow_type):
        return exp.DataType.build("DOUBLE")
    if t.is_decimal(arrow_type):
        return exp.DataType.build(f"DECIMAL({arrow_type.precision}, {arrow_type.scale})")
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type):
        return exp.DataType.build("TEXT")
    if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
        return exp.DataType.build("VARBINARY")
    if t.is_date(arrow_type):
        return exp.DataType.build("DATE")
    if t.is_timestamp(arrow_type):
        return exp.DataType.build("TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP")
    if t.is_time(arrow_type):
        return exp.DataType.build("TIME")
    if t.is_null(arrow_type):
        return exp.DataType.build("TEXT")
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return exp.DataType(
            this=exp.DataType.Type.ARRAY, expressions=[arrow_to_sql_type(arrow_type.value_type)], nested=True
        )
    if t.is_struct(arrow_type) or t.is_map(arrow_type):
        return exp.DataType.build("JSON")
    raise UserError(
        f"Arrow type `{arrow_type}` has no SQL column type.", hint="Cast the column before writing it."
    )


def added_fields(schema: pa.Schema, existing: Sequence[str]) -> list[pa.Field]:
    """The fields of ``schema`` that are not among the ``existing`` column names (compared without case)."""
    known = {c.lower() for c in existing}
    return [f for f in schema if f.name.lower() not in known]


def batch_rows(batch: pa.RecordBatch) -> list[tuple]:
    """Rows of ``batch`` as Python tuples, column by column (faster than ``to_pylist``)."""
    return list(zip(*(col.to_pylist() for col in batch.columns), strict=True)) if batch.num_columns else []


class SQLStore(Store):
    """A store backed by a SQL database reachable through DB-API 2.0."""

    SUPPORTS_SQL = True
    SUPPORTS_MERGE = True
    #: sqlglot dialect used to quote names and generate DDL.
    dialect: ClassVar[str]
    #: DB-API parameter marker.
    placeholder: ClassVar[str] = "?"
    #: DDL runs inside transactions (false for MySQL, which commits DDL implicitly).
    TRANSACTIONAL_DDL: ClassVar[bool] = True
    #: Rows per insert batch for the generic ``executemany`` path.
    insert_batch_rows: ClassVar[int] = 50_000
    #: The database file of an embedded database (SQLite, DuckDB); ``None`` for a server.
    path: str | None = None

    def local_paths(self, asset: str) -> list[str]:
        return [self.path] if self.path and self.path != ":memory:" else []

    #: A job step's ingestion stays in one transaction until the step ends: a client-server database
    #: with transactional DDL, whose concurrent writers do not lock each other out.
    STEP_TRANSACTIONS: ClassVar[bool] = False

    # ------------------------------------------------------------------ names and types

    def quote(self, asset: str) -> str:
        """``asset`` (``table`` or ``schema.table``) quoted for this dialect."""
        return exp.to_table(asset, dialect=self.dialect).sql(self.dialect, identify=True)

    def quote_column(self, name: str) -> str:
        return exp.to_identifier(name, quoted=True).sql(self.dialect)

    def sql_type(self, arrow_type: pa.DataType) -> str:
        return arrow_to_sql_type(arrow_type).sql(self.dialect)

    # ------------------------------------------------------------------ to implement per store

    #: Rows fetched per Arrow batch when reading through a cursor.
    fetch_rows: ClassVar[int] = 50_000

    def _cursor_reader(self, schema: pa.Schema, cursor, close, convert=pa.array) -> pa.RecordBatchReader:
        """Stream ``cursor``'s rows as Arrow batches of ``schema``; ``close()`` runs when the stream ends.

        ``convert(values, arrow_type)`` turns one column's driver values into an Arrow array.
        """

        def batches():
            try:
                while rows := cursor.fetchmany(self.fetch_rows):
                    columns = zip(*rows, strict=True)
                    yield pa.record_batch([convert(list(c), f.type) for c, f in zip(columns, schema, strict=True)],
                                          schema=schema)  # fmt: skip
            finally:
                close()

        return pa.RecordBatchReader.from_batches(schema, batches())

    def _describe(self, conn, asset: str) -> list[ColumnSchema] | None:
        """The technical schema of ``asset``, or ``None`` if it does not exist."""
        raise NotImplementedError

    def schema(self, asset: str) -> list[ColumnSchema]:
        conn = self.connect()
        try:
            described = self._describe(conn, asset)
        finally:
            self._release(conn)
        if described is None:
            raise missing_asset(self, asset)
        return described

    def read_schema(self, asset: str, columns: Sequence[str] | None) -> pa.Schema:
        """The Arrow schema a read of ``columns`` (default: all) of ``asset`` returns; unknown columns fail."""
        fields = {c.name: c.arrow_type for c in self.schema(asset)}
        names = list(columns) if columns else list(fields)
        unknown = [c for c in names if c not in fields]
        if unknown:
            raise UserError(f"Column(s) {', '.join(unknown)} not in table `{asset}` of store `{self.name}`.",
                            hint=f"Columns: {', '.join(fields)}.")  # fmt: skip
        return pa.schema([(n, canonical_type(fields[n])) for n in names])

    def _columns(self, conn, asset: str) -> list[str] | None:
        """Column names of ``asset`` or ``None`` if it does not exist."""
        raise NotImplementedError

    def _rename(self, conn, source: str, target: str) -> None:
        """Rename table ``source`` to ``target`` (target has no schema prefix change)."""
        name = exp.to_table(target).name
        self._exec(conn, f"ALTER TABLE {self.quote(source)} RENAME TO {self.quote_column(name)}")

    # ------------------------------------------------------------------ helpers

    def _exec(self, conn, sql: str, params: Sequence[Any] | None = None):
        cur = conn.cursor()
        cur.execute(sql, params) if params is not None else cur.execute(sql)
        return cur

    def _create(self, conn, asset: str, schema: pa.Schema) -> None:
        cols = ", ".join(f"{self.quote_column(f.name)} {self.sql_type(f.type)}" for f in schema)
        self._exec(conn, f"CREATE TABLE {self.quote(asset)} ({cols})")

    def _evolve(self, conn, asset: str, schema: pa.Schema, existing: list[str]) -> None:
        for field in added_fields(schema, existing):
            self._exec(
                conn,
                f"ALTER TABLE {self.quote(asset)} ADD COLUMN {self.quote_column(field.name)} {self.sql_type(field.type)}",
            )

    def _insert(self, conn, asset: str, reader: pa.RecordBatchReader) -> int:
        names = reader.schema.names
        cols = ", ".join(self.quote_column(n) for n in names)
        marks = ", ".join([self.placeholder] * len(names))
        sql = f"INSERT INTO {self.quote(asset)} ({cols}) VALUES ({marks})"
        cur = conn.cursor()
        rows = 0
        for batch in reader:
            for start in range(0, batch.num_rows, self.insert_batch_rows):
                part = batch.slice(start, self.insert_batch_rows)
                cur.executemany(sql, list(zip(*(self._column_values(c) for c in part.columns), strict=True)))
                rows += part.num_rows
        return rows

    def _column_values(self, column: pa.Array) -> list:
        """The Python values of ``column`` as this store's driver takes them."""
        return column.to_pylist()

    def _lock_table(self, conn, asset: str) -> None:  # noqa: B027 - optional for subclasses
        """Serialise, until the transaction ends, the writers that create or alter table ``asset``."""

    def _staging_name(self, asset: str) -> str:
        table = exp.to_table(asset)
        stage = f"{table.name}__mk_stage_{secrets.token_hex(3)}"
        return f"{table.db}.{stage}" if table.db else stage

    def _write_connection(self):
        return self.connect()

    # ------------------------------------------------------------------ Store API

    def _checked_reader(self, asset: str, data: DataLike, mode: WriteMode, keys: Sequence[str] | None):
        check_mode(mode, keys)
        reader = as_reader(data)
        self.check_schema(reader.schema)
        check_keys(asset, reader.schema, keys if mode == "merge" else None)
        return reader

    def transaction(self) -> WriteTransaction:
        """Writes on one connection, committed or rolled back together."""
        return WriteTransaction(self)

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        reader = self._checked_reader(asset, data, mode, keys)
        conn = self._write_connection()
        try:
            rows = self._write(conn, asset, reader, mode, keys, evolve)
            conn.commit()
        except BaseException as exc:
            with contextlib.suppress(Exception):
                conn.rollback()
            if isinstance(exc, self.driver_errors):
                raise self.translate_error(exc, asset) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                self._release(conn)
        return WriteResult(rows=rows)

    #: Exceptions of the database driver, turned into meshkit errors by ``translate_error``.
    driver_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def translate_error(self, exc: BaseException, asset: str) -> MeshkitError:
        """A meshkit error for a driver error met while working on ``asset`` (secrets redacted)."""
        return StoreError(
            f"Store `{self.name}` ({self.type}) failed on `{asset}`: {self.redact(first_line(exc))}."
        )

    def check_schema(self, schema: pa.Schema) -> None:
        for field in schema:
            try:
                self.sql_type(field.type)
            except UserError:
                raise unsupported_column(self, field) from None

    def _release(self, conn) -> None:
        conn.close()

    def _write(self, conn, asset, reader, mode, keys, evolve) -> int:
        existing = self._columns(conn, asset)
        if existing is None or mode == "overwrite" or (evolve and added_fields(reader.schema, existing)):
            self._lock_table(conn, asset)
            existing = self._columns(conn, asset)  # as the writer that held the lock left it
        if existing is None and not evolve and mode != "overwrite":
            raise missing_asset(self, asset)
        if existing is not None and not evolve and mode != "overwrite":
            if added := [f.name for f in added_fields(reader.schema, existing)]:
                raise UserError(f"Column(s) {', '.join(added)} are not in table `{asset}` and schema evolution is off.",
                                hint="Drop the columns or allow evolution.")  # fmt: skip
        if mode == "append":
            if existing is None:
                self._create(conn, asset, reader.schema)
            elif evolve:
                self._evolve(conn, asset, reader.schema, existing)
            return self._insert(conn, asset, reader)
        stage = self._staging_name(asset)
        self._create(conn, stage, reader.schema)
        rows = self._insert(conn, stage, reader)
        if mode == "overwrite" or existing is None:
            if existing is not None:
                self._exec(conn, f"DROP TABLE {self.quote(asset)}")
            self._rename(conn, stage, asset)
            return rows
        if evolve:
            self._evolve(conn, asset, reader.schema, existing)
        self._merge(conn, asset, stage, reader.schema.names, keys)
        self._exec(conn, f"DROP TABLE {self.quote(stage)}")
        return rows

    def _merge(self, conn, asset: str, stage: str, names: list[str], keys: Sequence[str]) -> None:
        key_list = ", ".join(self.quote_column(k) for k in keys)
        cols = ", ".join(self.quote_column(n) for n in names)
        target, source = self.quote(asset), self.quote(stage)
        self._exec(conn, f"DELETE FROM {target} WHERE ({key_list}) IN (SELECT {key_list} FROM {source})")
        self._exec(conn, f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {source}")

    def select_sql(self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None) -> str:
        """``SELECT`` for a read, with the filter validated and written in this dialect."""
        cols = ", ".join(self.quote_column(c) for c in columns) if columns else "*"
        sql = f"SELECT {cols} FROM {self.quote(asset)}"
        if filter:
            try:
                predicate = sqlglot.parse_one(filter, read="duckdb")
            except sqlglot.errors.ParseError as exc:
                raise ConfigError(
                    f"Invalid filter `{filter}`: {exc.errors[0]['description'] if exc.errors else exc}."
                ) from None
            sql += f" WHERE {predicate.sql(self.dialect)}"
        return sql

    def list_assets(self) -> list[str]:
        raise NotImplementedError


class WriteTransaction:
    """Writes to one SQL store on one connection, committed or rolled back together.

    Each write runs under a savepoint: a write the database refuses is undone alone and leaves the
    transaction usable, so the caller can count it and still decide to commit or roll back the rest.
    """

    def __init__(self, store: SQLStore):
        self.store = store
        self._conn = store._write_connection()
        self._assets: set[str] = set()

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        store = self.store
        reader = store._checked_reader(asset, data, mode, keys)
        try:
            store._exec(self._conn, "SAVEPOINT mk_write")
            try:
                rows = store._write(self._conn, asset, reader, mode, keys, evolve)
            except BaseException:
                with contextlib.suppress(Exception):
                    store._exec(self._conn, "ROLLBACK TO SAVEPOINT mk_write")
                raise
            store._exec(self._conn, "RELEASE SAVEPOINT mk_write")
            self._assets.add(asset)
        except store.driver_errors as exc:
            raise store.translate_error(exc, asset) from None
        return WriteResult(rows=rows)

    def commit(self) -> None:
        """Make every write visible at once, and release the connection."""
        try:
            self._conn.commit()
        except self.store.driver_errors as exc:
            raise self.store.translate_error(exc, ", ".join(sorted(self._assets))) from None
        finally:
            self._close()

    def rollback(self) -> None:
        """Undo every write, and release the connection."""
        with contextlib.suppress(Exception):
            self._conn.rollback()
        self._close()

    def _close(self) -> None:
        with contextlib.suppress(Exception):
            self.store._release(self._conn)
