"""Plan and run one attempt of a transfer on its engine, from what the engine declares it can do.

The plan reads the engine's capabilities, never its type: whether it scans the source itself
(``Engine.can_scan``: DuckDB's postgres scanner and Parquet scans, Spark's JDBC and file reads), whether
it writes the destination itself in one statement (``Engine.sink``: a table of DuckDB's own file,
a local Parquet ``COPY``), whether it runs Python functions (``SUPPORTS_PYTHON_UDFS``) and its dialect:

- ``pushdown``: the engine scans the source and writes the sink in one statement, transforms compiled
  into the ``SELECT`` (``COPY (SELECT ... FROM pg.public.orders) TO 'orders.parquet'``);
- ``engine -> store``: the engine scans the source and streams the transformed rows as Arrow batches
  into ``store.write`` through ``Engine.write`` (PostgreSQL, MySQL, SQLite, Iceberg...);
- ``store -> engine``: the source store's Arrow stream is registered in the engine, which writes the sink;
- ``stream``: the engine reaches neither end: batches flow from ``store.read`` through the Arrow path
  of the transforms into ``store.write``.

An engine without Python functions selects the rows and the transforms run on the Arrow path.
Incremental windows are sqlglot expressions, rendered in the engine's dialect like the transforms.

``Engine.settings`` gives the work its settings: DuckDB runs with ``memory_limit`` set and spills to
``.meshkit/tmp``; readers stream fixed-size batches, so memory stays bounded whatever the table
size. A source without row order (a database table) is read with ``ordered=False`` (DuckDB's
``preserve_insertion_order`` off), so parallel scans write as they read instead of holding batches
back to restore an order that never existed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from meshkit.core.errors import UserError
from meshkit.data.stores.base import Store
from meshkit.data.transfer.window import Window, open_window, window_sql
from meshkit.data.transforms import Transform, column_tags, compile_select, output_schema, transform_reader

if TYPE_CHECKING:
    from meshkit.engines.base import Engine, Relation

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
    #: The engine chosen by the spec or the workspace (DuckDB runs in the file of a DuckDB end).
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
    engine = job.engine
    scanned = engine.can_scan(job.source)
    sink = engine.sink(job.destination, job.destination_asset, job.mode)
    if not scanned and sink is None and not job.incremental:
        return _stream(job, source_schema, dry_run)
    counter = _Counter(job.progress)
    if scanned:
        relation = engine.relation(job.source, job.source_asset)
    else:  # NOTE: progress counts the rows as the store gives them
        relation = engine.register_arrow(counter.wrap(job.source.read(job.source_asset)))
    try:
        with engine.settings(memory_limit=job.memory_limit, temp_dir=job.temp_dir, progress=bool(job.progress),
                            ordered=relation.ordered):  # fmt: skip
            return _run_on_engine(job, engine, relation, sink, counter, not scanned, source_schema, dry_run)
    finally:
        with contextlib.suppress(*engine.ERRORS):
            relation.release()


def _run_on_engine(job, engine, relation, sink, counter, counted, source_schema, dry_run) -> Outcome:
    """The transfer on ``engine``: ``relation`` (the source) windowed and transformed in one ``SELECT``, written by
    ``sink`` in one statement, else streamed from the engine into the destination store."""
    sql, window = relation.sql, None
    if job.incremental:
        window = _window(job, engine, relation)
        sql = window_sql(engine, sql, window, relation.schema)
    arrow_udfs = not engine.SUPPORTS_PYTHON_UDFS and _needs_udfs(job.transforms, relation.schema)
    # NOTE: an engine without Python functions selects the rows; the transforms then run on the Arrow path
    select = compile_select([] if arrow_udfs else job.transforms, sql, relation.schema, engine)
    out_schema = output_schema(job.transforms, relation.schema)
    check_conflict(job.destination, job.destination_asset, out_schema, job.mode)
    if arrow_udfs:
        sink = None
    through = f"{engine.type} engine `{engine.name}` -> " if engine.DISTRIBUTED else ""
    plan = f"{relation.kind} -> {through}{sink.kind if sink else 'store ' + job.destination.type}"
    outcome = Outcome(plan=plan, source_schema=source_schema, output_schema=out_schema,
                      tags=column_tags(job.transforms, relation.schema), dry_run=dry_run)  # fmt: skip
    if dry_run:
        return outcome
    written = _Counter(None)
    if sink is not None:
        with engine.watch(job.progress):
            result = sink.write(select, job.mode, job.keys)
    else:
        # NOTE: progress counts the rows read, wherever they are counted: here unless the store's stream was
        count = written.wrap if counted else counter.wrap
        transforms = job.transforms if arrow_udfs else ()
        result = engine.write(job.destination, job.destination_asset, select, job.mode, job.keys, job.batch_rows,
                              count=lambda reader: count(transform_reader(transforms, reader)))  # fmt: skip
    outcome.rows, outcome.bytes = result.rows, result.bytes or written.bytes or counter.bytes
    outcome.watermark = window.next_mark() if window else None
    return outcome


def _window(job: Job, engine: Engine, relation: Relation) -> Window:
    """The incremental window, its bounds read from ``relation`` (or, a stream being read once, a second read)."""
    bounds = None
    if not relation.rescannable:
        columns = list(dict.fromkeys([job.incremental.cursor, *(_keys(job) or relation.schema.names)]))
        bounds = engine.register_arrow(job.source.read(job.source_asset, columns=columns))
    try:
        return open_window(engine, (bounds or relation).sql, relation.schema, job.incremental.cursor, _keys(job),
                           job.watermark)  # fmt: skip
    finally:
        if bounds is not None:
            bounds.release()


def _needs_udfs(transforms: Sequence[Transform], schema: pa.Schema) -> bool:
    """Whether ``transforms`` call Python functions from SQL (Encrypt, Digest, Redact)."""
    for transform in transforms:
        if transform.udfs(schema):
            return True
        schema = output_schema([transform], schema)
    return False


def _keys(job: Job) -> list[str]:
    return list(job.incremental.keys or (job.keys if job.mode == "merge" else []))


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
