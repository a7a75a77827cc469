"""Plan and run one attempt of a transfer on its engine: as one DuckDB statement whenever DuckDB reaches both ends.

On the embedded DuckDB engine the plan is chosen from what each end supports
(``DuckDBEngine.can_scan`` and ``duckdb_io.statement_sink``):

- ``pushdown``: DuckDB scans the source and writes the sink in one statement, transforms compiled
  into the ``SELECT`` (``COPY (SELECT ... FROM pg.public.orders) TO 'orders.parquet'``);
- ``duckdb -> store``: DuckDB scans the source and streams the transformed rows as Arrow batches
  into ``store.write`` (PostgreSQL, MySQL, SQLite, Iceberg...);
- ``store -> duckdb``: the source store's Arrow stream is scanned by DuckDB, which writes the sink;
- ``stream``: neither end is DuckDB's: batches flow from ``store.read`` through the Arrow path of
  the transforms into ``store.write``.

On any other engine (Spark), the engine reads the source itself when it can (``Engine.can_scan``:
JDBC, files) or from the store's Arrow stream, runs the transforms in its dialect and hands the
result to ``Engine.write``, which writes the destination all or nothing.

DuckDB runs with ``memory_limit`` set and spills to ``.meshkit/tmp``; readers stream fixed-size
batches, so memory stays bounded whatever the table size. A source without row order (a database
table) is read with ``preserve_insertion_order`` off, so parallel scans write as they read instead
of holding batches back to restore an order that never existed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores.base import Store, WriteResult
from meshkit.data.transfer.window import Window, open_window
from meshkit.data.transforms import Transform, column_tags, compile_select, output_schema, transform_reader
from meshkit.engines import Engine
from meshkit.engines import duckdb_io as endpoints
from meshkit.engines.duckdb import DuckDBEngine

#: ``progress(rows)`` with the rows moved so far, or ``progress(0, fraction=f)`` with the share of
#: the source read when one DuckDB statement moves the rows (it counts them only at the end).
Progress = Callable[..., None]


@dataclass
class Job:
    """Everything one attempt needs, resolved."""

    source: Store
    source_asset: str
    destination: Store
    destination_asset: str
    mode: str
    keys: list[str]
    transforms: Sequence[Transform]
    incremental: Any = None  # spec.Incremental
    watermark: dict[str, Any] | None = None
    memory_limit: str = "1GB"
    batch_rows: int = 65_536
    temp_dir: str | None = None
    progress: Progress | None = None
    #: The engine chosen by the spec or the workspace; ``None`` runs on DuckDB, in the file of a DuckDB end.
    engine: Engine | None = None


@dataclass
class Outcome:
    """What an attempt did."""

    plan: str
    rows: int = 0
    bytes: int = 0
    source_schema: list[dict] = field(default_factory=list)
    output_schema: pa.Schema | None = None
    tags: dict[str, list[str]] = field(default_factory=dict)
    watermark: dict[str, Any] | None = None
    dry_run: bool = False


class _Counter:
    """Counts rows and Arrow bytes flowing through a reader and reports progress."""

    def __init__(self, progress: Progress | None):
        self.rows = self.bytes = 0
        self.progress = progress

    def wrap(self, reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
        def batches():
            for batch in reader:
                self.rows += batch.num_rows
                self.bytes += batch.nbytes
                if self.progress:
                    self.progress(self.rows)
                yield batch

        return pa.RecordBatchReader.from_batches(reader.schema, batches())


@contextlib.contextmanager
def _engine(job: Job):
    """A DuckDB connection: the destination's (or source's) DuckDB file when there is one, else in memory."""
    engine = (
        job.engine
        if isinstance(job.engine, DuckDBEngine)
        else DuckDBEngine.open("duckdb", {}, None, stores=(job.destination, job.source))
    )
    owner, conn = engine.store, engine.conn
    saved = None
    if owner is not None:
        saved = conn.execute("SELECT current_setting('memory_limit'), current_setting('temp_directory'), "
                             "current_setting('preserve_insertion_order'), current_setting('enable_progress_bar'), "
                             "current_setting('enable_progress_bar_print')").fetchone()  # fmt: skip
    conn.execute(f"SET memory_limit = '{job.memory_limit}'")
    if job.progress:  # NOTE: DuckDB measures a statement's progress only with its progress bar on
        conn.execute("SET enable_progress_bar = true")
        conn.execute("SET enable_progress_bar_print = false")
    if job.temp_dir:
        conn.execute(f"SET temp_directory = {endpoints._literal(job.temp_dir)}")
    conn.execute("SET TimeZone = 'UTC'")
    try:
        yield engine
    finally:
        if saved is not None:
            with contextlib.suppress(*engine.ERRORS):
                conn.execute(f"SET memory_limit = '{saved[0]}'")
                conn.execute(f"SET temp_directory = {endpoints._literal(saved[1])}")
                conn.execute(f"SET preserve_insertion_order = {saved[2]}")
                conn.execute(f"SET enable_progress_bar = {saved[3]}")
                conn.execute(f"SET enable_progress_bar_print = {saved[4]}")
        engine.close()


def _store_schema(store: Store, asset: str) -> list[dict]:
    return [c.as_dict() for c in store.schema(asset)]


def check_conflict(store: Store, asset: str, schema: pa.Schema, mode: str) -> None:
    """Fail before writing when the destination holds a column whose type the data cannot take."""
    store.check_schema(schema)
    if mode == "overwrite" or not store.exists(asset):
        return
    existing = {c.name.lower(): c for c in store.schema(asset)}
    for f in schema:
        column = existing.get(f.name.lower())
        if (
            column is not None
            and _family(column.arrow_type) != _family(f.type)
            and not _widens(f.type, column.arrow_type)
        ):
            raise UserError(
                f"Schema conflict: column `{f.name}` of `{asset}` in store `{store.name}` is {column.native_type} "
                f"({column.arrow_type}), but the transfer writes {f.type}.",
                hint=f"Add a Cast of `{f.name}`, or write with mode overwrite.",
            )


def _family(t: pa.DataType) -> str:
    types = pa.types
    for name, test in (("int", types.is_integer), ("float", types.is_floating), ("decimal", types.is_decimal),
                       ("text", lambda x: types.is_string(x) or types.is_large_string(x) or types.is_string_view(x)),
                       ("binary", lambda x: types.is_binary(x) or types.is_large_binary(x)), ("bool", types.is_boolean),
                       ("date", types.is_date), ("time", types.is_time), ("null", types.is_null),
                       ("list", lambda x: types.is_list(x) or types.is_large_list(x)), ("struct", types.is_struct)):  # fmt: skip
        if test(t):
            return name
    if types.is_timestamp(t):
        return "timestamptz" if t.tz else "timestamp"
    return str(t)


def _widens(written: pa.DataType, held: pa.DataType) -> bool:
    return _family(written) in ("null", "int") and _family(held) in ("int", "float", "decimal") or (
        _family(written) == "float" and _family(held) == "decimal")  # fmt: skip


def execute(job: Job, *, dry_run: bool = False) -> Outcome:
    """Run one attempt of ``job`` (or, with ``dry_run``, check everything and write nothing)."""
    source_schema = _store_schema(job.source, job.source_asset)  # fails early: missing table, bad login
    if job.engine is not None and not isinstance(job.engine, DuckDBEngine):
        return _run_on_engine(job, job.engine, source_schema, dry_run)
    with _engine(job) as engine:
        conn, engine_store, scannable = engine.conn, engine.store, engine.can_scan(job.source)
        sink = endpoints.statement_sink(job.destination, job.destination_asset, job.mode, engine_store)
        if not scannable and sink is None and not job.incremental:
            return _stream(job, source_schema, dry_run)
        counter = _Counter(job.progress)
        source = endpoints.scan_source(conn, job.source, job.source_asset, engine_store)
        if source is None:
            source = endpoints.stream_source(conn, counter.wrap(job.source.read(job.source_asset)))
        if not source.ordered:
            conn.execute("SET preserve_insertion_order = false")
        try:
            return _run_in_duckdb(job, engine, source, sink, counter, source_schema, dry_run)
        finally:
            with contextlib.suppress(*engine.ERRORS):
                source.release()


def _run_in_duckdb(job, engine, source, sink, counter, source_schema, dry_run) -> Outcome:
    conn, relation, window = engine.conn, source.relation, None
    if job.incremental:
        bounds_relation = relation
        bounds = None
        if source.kind == "arrow stream":  # the stream is scanned once: bounds come from a second read
            columns = list(dict.fromkeys([job.incremental.cursor, *(_keys(job) or source.schema.names)]))
            bounds = endpoints.stream_source(conn, job.source.read(job.source_asset, columns=columns))
            bounds_relation = bounds.relation
        try:
            window = open_window(
                engine, bounds_relation, source.schema, job.incremental.cursor, _keys(job), job.watermark
            )
        finally:
            if bounds is not None:
                bounds.release()
        relation = f"(SELECT * FROM {relation} WHERE {window.predicate(source.schema)}) AS _window"
    select = compile_select(job.transforms, relation, source.schema, engine)
    out_schema = output_schema(job.transforms, source.schema)
    check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
    plan = f"{source.kind} -> {sink.kind if sink else 'store ' + job.destination.type}"
    outcome = Outcome(plan=plan, source_schema=source_schema, output_schema=out_schema,
                      tags=column_tags(job.transforms, source.schema), dry_run=dry_run)  # fmt: skip
    if dry_run:
        return outcome
    if sink is not None:
        with _watch(engine, job.progress):
            result = sink.write(conn, select, job.mode, job.keys)
    else:
        reader = engine.query(select, job.batch_rows)
        if source.kind != "arrow stream":  # progress counts the rows read, wherever they are counted
            reader = counter.wrap(reader)
        written = _Counter(None)
        result = job.destination.write(
            job.destination_asset, written.wrap(reader), job.mode, job.keys or None
        )
        result = WriteResult(rows=result.rows, bytes=result.bytes or written.bytes)
    outcome.rows, outcome.bytes = result.rows, result.bytes or counter.bytes
    outcome.watermark = window.next_mark() if window else None
    return outcome


@contextlib.contextmanager
def _watch(engine: DuckDBEngine, progress: Progress | None, every: float = 0.2):
    """Report the share of the source a running DuckDB statement has read, as it grows."""
    conn = engine.conn
    if progress is None:
        yield
        return
    done = threading.Event()

    def poll():
        best = 0.0
        while not done.wait(every):
            with contextlib.suppress(*engine.ERRORS):
                share = conn.query_progress()  # -1 between statements
                if share > best:
                    best = share
                    progress(0, fraction=min(share, 100) / 100)

    watcher = threading.Thread(target=poll, name="transfer-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()


def _keys(job: Job) -> list[str]:
    return list(job.incremental.keys or (job.keys if job.mode == "merge" else []))


def _run_on_engine(job: Job, engine: Engine, source_schema: list[dict], dry_run: bool) -> Outcome:
    """The transfer on ``engine``: it reads the source (itself or from Arrow), transforms and writes."""
    if job.incremental:
        raise ConfigError(f"Incremental transfers run on DuckDB; engine `{engine.name}` ({engine.type}) runs "
                          "full copies only.", where="spec.engine", hint="Remove `engine`, or `incremental`.")  # fmt: skip
    counter = _Counter(job.progress)
    relation = engine.relation(job.source, job.source_asset)
    try:
        select = compile_select(job.transforms, relation.sql, relation.schema, engine)
        out_schema = output_schema(job.transforms, relation.schema)
        check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
        outcome = Outcome(plan=f"{relation.kind} -> {engine.type} engine `{engine.name}` -> store {job.destination.type}",
                          source_schema=source_schema, output_schema=out_schema,
                          tags=column_tags(job.transforms, relation.schema), dry_run=dry_run)  # fmt: skip
        if dry_run:
            return outcome
        result = engine.write(job.destination, job.destination_asset, select, job.mode, job.keys,
                              job.batch_rows, count=counter.wrap)  # fmt: skip
    finally:
        relation.release()
    outcome.rows, outcome.bytes = result.rows, result.bytes or counter.bytes
    return outcome


def _stream(job: Job, source_schema: list[dict], dry_run: bool) -> Outcome:
    reader = job.source.read(job.source_asset)
    out_schema = output_schema(job.transforms, reader.schema)
    check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
    outcome = Outcome(plan=f"stream: store {job.source.type} -> arrow transforms -> store {job.destination.type}",
                      source_schema=source_schema, output_schema=out_schema,
                      tags=column_tags(job.transforms, reader.schema), dry_run=dry_run)  # fmt: skip
    if dry_run:
        return outcome
    counter = _Counter(job.progress)
    result = job.destination.write(job.destination_asset, counter.wrap(transform_reader(job.transforms, reader)),
                                   job.mode, job.keys or None)  # fmt: skip
    outcome.rows, outcome.bytes = result.rows, result.bytes or counter.bytes
    return outcome


__all__ = ["Job", "Outcome", "Window", "check_conflict", "execute"]
