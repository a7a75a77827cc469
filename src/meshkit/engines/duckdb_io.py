"""How the DuckDB engine reaches each kind of store, as data: scanners for sources, statements for sinks.

A source DuckDB can scan becomes a relation (``mk_src_ab12."public"."orders"``, ``read_parquet(...)``);
any other source is read through its store as an Arrow stream that DuckDB scans. A sink DuckDB
can write takes the transfer's ``SELECT`` in one statement, staged then swapped so that nothing
is half-written: one transaction in a DuckDB file, a temporary file moved into place for files.
Other sinks receive DuckDB's result as Arrow batches through ``store.write``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from sqlglot import exp

from meshkit.data.stores.base import Store, WriteResult
from meshkit.data.stores.duckdb import load_extension
from meshkit.data.transforms import quote
from meshkit.engines.base import Sink


@dataclass
class Source:
    """A relation DuckDB reads, its schema, and how to release it."""

    relation: str
    schema: pa.Schema
    kind: str
    release: Callable[[], None] = lambda: None
    #: Whether rows have an order worth keeping (a file's); a database table's rows have none.
    ordered: bool = True


# ---------------------------------------------------------------------------- sources


def _same_duckdb(store: Store, engine_store: Store | None) -> bool:
    return engine_store is not None and store is engine_store


def _relation_schema(conn: duckdb.DuckDBPyConnection, relation: str) -> pa.Schema:
    return conn.execute(f"SELECT * FROM {relation} LIMIT 0").to_arrow_table().schema


def _postgres_conninfo(store: Store) -> str:
    import psycopg

    dsn, params = store._conninfo()  # NOTE: the resolved settings; the password is registered for redaction
    return psycopg.conninfo.make_conninfo(dsn, **params)


def _scan_postgres(conn, store, asset, engine_store) -> Source:
    load_extension(conn, "postgres")
    alias = f"mk_src_{secrets.token_hex(3)}"
    conn.execute(f"ATTACH {_literal(_postgres_conninfo(store))} AS {alias} (TYPE postgres, READ_ONLY)")
    table = exp.to_table(asset, dialect="postgres")
    relation = f"{alias}.{quote(table.db or 'public')}.{quote(table.name)}"
    return Source(
        relation,
        _relation_schema(conn, relation),
        "postgres scanner",
        lambda: conn.execute(f"DETACH {alias}"),
        ordered=False,
    )


def _scan_duckdb(conn, store, asset, engine_store) -> Source | None:
    if not _same_duckdb(store, engine_store):
        return None
    relation = exp.to_table(asset, dialect="duckdb").sql("duckdb", identify=True)
    return Source(relation, _relation_schema(conn, relation), "duckdb table")


def _local_parquet(store, asset) -> tuple[Any, str] | None:
    """The located asset of a files store when DuckDB can read or write it directly (local Parquet)."""
    if getattr(store, "_locate", None) is None or str(store.base).startswith("s3://"):
        return None
    located = store._locate(asset)
    return (located, located.path) if located.fmt == "parquet" else None


def _scan_files(conn, store, asset, engine_store) -> Source | None:
    found = _local_parquet(store, asset)
    if found is None or not found[0].exists:
        return None
    located, path = found
    if located.is_dir:
        if store._partitioning(store._stored_schema(located), located) is not None:
            return None  # hive partitions: the store knows their types
        path = f"{path}/**/*.parquet"
    relation = f"read_parquet({_literal(path)})"
    schema = store._stored_schema(located) or _relation_schema(conn, relation)
    return Source(relation, schema, "parquet scan")


#: Store type -> how DuckDB scans it. SQLite and MySQL are read through their stores, which keep
#: the exact types their declarations and column comments record.
SCANNERS: dict[str, Callable[..., Source | None]] = {
    "postgres": _scan_postgres,
    "duckdb": _scan_duckdb,
    "files": _scan_files,
}


def scan_source(conn, store: Store, asset: str, engine_store: Store | None) -> Source | None:
    """``asset`` as a DuckDB relation, or ``None`` when DuckDB cannot scan this store."""
    scanner = SCANNERS.get(store.type)
    return scanner(conn, store, asset, engine_store) if scanner else None


def stream_source(conn, reader: pa.RecordBatchReader) -> Source:
    """An Arrow stream registered in DuckDB (scanned once)."""
    name = f"__mk_stream_{secrets.token_hex(3)}"
    conn.register(name, reader)
    return Source(name, reader.schema, "arrow stream", lambda: conn.unregister(name))


# ---------------------------------------------------------------------------- sinks


class DuckDBTableSink(Sink):
    """A table of the DuckDB file the engine runs in: one transaction."""

    kind = "duckdb table"

    def __init__(self, conn, asset: str):
        self.conn = conn
        self.target = exp.to_table(asset, dialect="duckdb").sql("duckdb", identify=True)

    def _exists(self, conn) -> list[str] | None:
        try:
            return [r[0] for r in conn.execute(f"DESCRIBE {self.target}").fetchall()]
        except duckdb.CatalogException:
            return None

    def write(self, select: str, mode: str, keys) -> WriteResult:
        conn = self.conn
        conn.execute("BEGIN TRANSACTION")
        try:
            existing = self._exists(conn)
            if existing is None or mode == "overwrite":
                rows = conn.execute(f"CREATE OR REPLACE TABLE {self.target} AS {select}").fetchone()[0]
            else:
                stage = f"__mk_stage_{secrets.token_hex(3)}"
                conn.execute(f"CREATE TEMP TABLE {stage} AS {select}")
                self._evolve(conn, stage, existing)
                if mode == "merge":
                    match = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in keys)
                    conn.execute(f"DELETE FROM {self.target} AS t USING {stage} AS s WHERE {match}")
                rows = conn.execute(f"INSERT INTO {self.target} BY NAME SELECT * FROM {stage}").fetchone()[0]
                conn.execute(f"DROP TABLE {stage}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return WriteResult(rows=rows)

    def _evolve(self, conn, stage: str, existing: list[str]) -> None:
        known = {c.lower() for c in existing}
        for name, col_type, *_ in conn.execute(f"DESCRIBE {stage}").fetchall():
            if name.lower() not in known:
                conn.execute(f"ALTER TABLE {self.target} ADD COLUMN {quote(name)} {col_type}")


class ParquetSink(Sink):
    """A local Parquet asset of a files store: ``COPY`` to a hidden temporary name, then moved in."""

    kind = "parquet COPY"

    def __init__(self, conn, store, located):
        self.conn, self.store, self.located = conn, store, located

    def write(self, select: str, mode: str, keys) -> WriteResult:
        a, store, conn = self.located, self.store, self.conn
        temp = store.temp_path(a)
        target = f"{temp}/part-{secrets.token_hex(6)}.parquet" if a.is_dir else temp
        os.makedirs(os.path.dirname(target), exist_ok=True)
        try:
            rows = conn.execute(f"COPY ({select}) TO {_literal(target)} (FORMAT parquet)").fetchone()[0]
            size = os.path.getsize(target)
            schema = pq.read_schema(target).remove_metadata()
            if a.is_dir and mode == "append" and a.exists:
                from meshkit.data.stores.files import _move_tree, unify

                schema = unify(store._stored_schema(a) or schema, schema, a.name)
                _move_tree(store.filesystem[0], temp, a.path)
                store._save_schema(a.schema_path, schema)
            elif a.is_dir:
                store._save_schema(f"{temp}/_meshkit_schema.arrow", schema)
                store._swap_dir(temp, a.path)
            else:
                os.replace(temp, a.path)
                store._save_schema(a.schema_path, schema)
        finally:
            _remove(temp)
        return WriteResult(rows=rows, bytes=size)


def _remove(path: str) -> None:
    if os.path.isdir(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.exists(path):
        os.remove(path)


def _table_sink(conn, store, asset, mode, engine_store) -> Sink | None:
    return DuckDBTableSink(conn, asset) if _same_duckdb(store, engine_store) else None


def _parquet_sink(conn, store, asset, mode, engine_store) -> Sink | None:
    found = _local_parquet(store, asset) if mode in ("append", "overwrite") else None
    if found is None or getattr(store, "partition_by", None):
        return None
    if mode == "append" and found[0].exists and not found[0].is_dir:
        return None  # NOTE: one Parquet file cannot be appended to; the store rewrites it
    return ParquetSink(conn, store, found[0])


#: Store type -> how DuckDB writes it in one statement (when it can: else ``None``).
WRITERS: dict[str, Callable[..., Sink | None]] = {"duckdb": _table_sink, "files": _parquet_sink}


def statement_sink(conn, store: Store, asset: str, mode: str, engine_store: Store | None) -> Sink | None:
    """A one-statement sink for ``asset``, or ``None`` when the data must go through ``store.write``."""
    writer = WRITERS.get(store.type)
    return writer(conn, store, asset, mode, engine_store) if writer else None


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
