"""DuckDB store: the workspace warehouse (``.meshkit/warehouse.duckdb``) and any DuckDB file.

Arrow goes in and out without copies: writes scan the ``RecordBatchReader`` directly
(``INSERT ... BY NAME SELECT * FROM reader``), reads stream ``to_arrow_reader``. DuckDB's DDL is
transactional, so every write mode is one transaction. ``TIMESTAMPTZ`` columns hold instants and
read back in UTC, whatever zone they were written in.
"""

from __future__ import annotations

import glob
import importlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

from meshkit.core.errors import ConfigError, UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.data.stores.base import ColumnSchema, canonical_type, cast_reader, missing_asset, url_path
from meshkit.data.stores.sql import SQLStore

log = logging.getLogger("meshkit.stores")

#: DuckDB extensions shipped as PyPI packages: extension name -> (package module, file stem).
EXTENSION_PACKAGES = {
    "postgres": ("duckdb_extension_postgres_scanner", "postgres_scanner"),
    "mysql": ("duckdb_extension_mysql_scanner", "mysql_scanner"),
    "sqlite": ("duckdb_extension_sqlite_scanner", "sqlite_scanner"),
    "tpch": ("duckdb_extension_tpch", "tpch"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),
    "avro": ("duckdb_extension_avro", "avro"),
    "iceberg": ("duckdb_extension_iceberg", "iceberg"),
}

_installed: set[str] = set()


def load_extension(conn: duckdb.DuckDBPyConnection, name: str) -> None:
    """Install ``name`` from its ``duckdb-extension-*`` package (never from the network), then load it."""
    module_name, stem = EXTENSION_PACKAGES[name]
    if stem not in _installed:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            package = module_name.replace("_", "-")
            raise ConfigError(
                f"DuckDB extension `{name}` is not installed.", hint=f"pip install {package}"
            ) from None
        files = glob.glob(
            os.path.join(os.path.dirname(module.__file__), "extensions", "*", f"{stem}.duckdb_extension")
        )
        if not files:
            raise ConfigError(f"Package `{module_name}` holds no `{stem}.duckdb_extension` file.")
        conn.execute(f"INSTALL '{files[0]}'")
        _installed.add(stem)
    conn.execute(f"LOAD {stem}")


class DuckDBStore(SQLStore):
    """A DuckDB database file (``path``), or the workspace warehouse when no path is given."""

    type = "duckdb"
    url_schemes = ("duckdb",)
    dialect = "duckdb"

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        path = self.options.get("path")
        if path is None and meshkit is not None:
            path = meshkit.config.get("duckdb_file")
        if path and path != ":memory:" and meshkit is not None:
            path = str(meshkit.workspace.resolve(path))
        self.path = path or ":memory:"
        self.lock_timeout = float(meshkit.config.get("duckdb_lock_timeout")) if meshkit is not None else 0.0
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> dict:
        return {"path": url_path(url)}

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The store's one DuckDB connection (DuckDB allows one writing process per file)."""
        with self._lock:
            if self._conn is None:
                if self.path != ":memory:":
                    Path(self.path).parent.mkdir(parents=True, exist_ok=True)
                self._conn = self._open()
            return self._conn

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Connect, waiting up to ``duckdb_lock_timeout`` seconds while another process has the file."""
        deadline, delay = time.monotonic() + self.lock_timeout, 0.05
        while True:
            try:
                return duckdb.connect(self.path)
            except duckdb.IOException as exc:
                if "lock" not in str(exc) or time.monotonic() >= deadline:
                    raise UserError(f"Cannot open DuckDB file `{self.path}`: {exc}.",
                                    hint="Another process holds it open for writing (DuckDB allows one): wait "
                                         "for it, raise `duckdb_lock_timeout`, or use a server database.") from None  # fmt: skip
                if delay == 0.05:
                    log.info("DuckDB file %s is in use by another process; waiting up to %.0f s",
                             self.path, self.lock_timeout)  # fmt: skip
                time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                delay = min(delay * 2, 1.0)

    def connect(self):
        """A cursor on the shared connection: its own transaction, same database."""
        return self.connection.cursor()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _release(self, conn) -> None:
        conn.close()

    driver_errors = (
        duckdb.CatalogException,
        duckdb.BinderException,
        duckdb.ConversionException,
        duckdb.ConstraintException,
    )

    def check_schema(self, schema: pa.Schema) -> None:
        """DuckDB scans any Arrow type it can hold; the scan itself reports the others."""

    def _exec(self, conn, sql: str, params=None):
        # NOTE: a DuckDB cursor is a new connection with its own transaction; stay on the write's.
        return conn.execute(sql, params) if params is not None else conn.execute(sql)

    def _write_connection(self):
        conn = self.connect()
        conn.execute("BEGIN TRANSACTION")
        return conn

    def _columns(self, conn, asset: str) -> list[str] | None:
        try:
            return [row[0] for row in conn.execute(f"DESCRIBE {self.quote(asset)}").fetchall()]
        except duckdb.CatalogException:
            return None

    def _create(self, conn, asset: str, schema: pa.Schema) -> None:
        conn.register("__mk_schema", pa.Table.from_batches([], schema=schema))
        try:
            conn.execute(f"CREATE TABLE {self.quote(asset)} AS SELECT * FROM __mk_schema")
        finally:
            conn.unregister("__mk_schema")

    def _evolve(self, conn, asset: str, schema: pa.Schema, existing: list[str]) -> None:
        known = {c.lower() for c in existing}
        new = [f for f in schema if f.name.lower() not in known]
        if not new:
            return
        conn.register("__mk_schema", pa.Table.from_batches([], schema=pa.schema(new)))
        try:
            types = conn.execute("DESCRIBE SELECT * FROM __mk_schema").fetchall()
        finally:
            conn.unregister("__mk_schema")
        for column, col_type, *_ in types:
            conn.execute(f"ALTER TABLE {self.quote(asset)} ADD COLUMN {self.quote_column(column)} {col_type}")

    def _write(self, conn, asset, reader, mode, keys, evolve) -> int:
        if mode != "overwrite":
            return super()._write(conn, asset, reader, mode, keys, evolve)
        # NOTE: DuckDB cannot rename a table onto a name dropped in the same transaction;
        # CREATE OR REPLACE inside the write transaction is just as atomic.
        counted = _CountingReader(reader)
        conn.register("__mk_src", counted.reader)
        try:
            conn.execute(f"CREATE OR REPLACE TABLE {self.quote(asset)} AS SELECT * FROM __mk_src")
        finally:
            conn.unregister("__mk_src")
        return counted.rows

    def _insert(self, conn, asset: str, reader: pa.RecordBatchReader) -> int:
        counted = _CountingReader(reader)
        conn.register("__mk_src", counted.reader)
        try:
            conn.execute(f"INSERT INTO {self.quote(asset)} BY NAME SELECT * FROM __mk_src")
        finally:
            conn.unregister("__mk_src")
        return counted.rows

    def _rename(self, conn, source: str, target: str) -> None:
        from sqlglot import exp

        conn.execute(
            f"ALTER TABLE {self.quote(source)} RENAME TO {self.quote_column(exp.to_table(target).name)}"
        )

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        conn = self.connect()
        if self._columns(conn, asset) is None:
            raise missing_asset(self, asset)
        try:
            reader = conn.execute(self.select_sql(asset, columns, filter)).to_arrow_reader(65_536)
        except duckdb.Error as exc:
            raise UserError(
                f"Cannot read `{asset}` from store `{self.name}`: {exc}.",
                hint="Check the columns and filter.",
            ) from None
        return cast_reader(reader, pa.schema([f.with_type(canonical_type(f.type)) for f in reader.schema]))

    def schema(self, asset: str) -> list[ColumnSchema]:
        conn = self.connect()
        if self._columns(conn, asset) is None:
            raise missing_asset(self, asset)
        described = conn.execute(f"DESCRIBE {self.quote(asset)}").fetchall()
        arrow = conn.execute(f"SELECT * FROM {self.quote(asset)} LIMIT 0").to_arrow_table().schema
        return [ColumnSchema(name, canonical_type(arrow.field(name).type), native, nullable == "YES")
                for name, native, nullable, *_ in described]  # fmt: skip

    def list_assets(self) -> list[str]:
        rows = (
            self.connect()
            .execute(
                "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = current_database() "
                "UNION ALL SELECT schema_name, view_name FROM duckdb_views() WHERE NOT internal AND database_name = current_database() "
                "ORDER BY 1, 2"
            )
            .fetchall()
        )
        return [name if schema == "main" else f"{schema}.{name}" for schema, name in rows]


class _CountingReader:
    """Wraps a reader to count the rows DuckDB pulled through it."""

    def __init__(self, reader: pa.RecordBatchReader):
        self.rows = 0
        self.reader = pa.RecordBatchReader.from_batches(reader.schema, self._count(reader))

    def _count(self, reader):
        for batch in reader:
            self.rows += batch.num_rows
            yield batch


@hookimpl
def register_store_types():
    return [DuckDBStore]


@hookimpl
def configure(config):
    config.add(
        "duckdb_file",
        ".meshkit/warehouse.duckdb",
        "DuckDB file of the workspace warehouse (the default store).",
    )
    config.add(
        "duckdb_lock_timeout",
        600.0,
        "Seconds to wait for a DuckDB file another process has open (one writing process per file).",
        type=float,
        bounds=(0, 86_400),
    )
