"""Ingestion: rows, dicts, DataFrames and Arrow tables batched into Arrow and written to a store.

Payloads are grouped per (target store, destination table). Rows are converted to Arrow once a
group holds ``ingest_batch_rows`` rows, and every batch is written through the ``pre_ingest`` ->
``ingest_payload`` -> ``post_ingest`` hooks. Nothing is dropped silently: a batch that cannot be
converted or written is counted, and ``commit()`` raises an ``IngestionError`` that says how many
rows of how many were not written, where, and why.

Plugins may add ingestion methods (``plugins``: method -> an object with ``name`` and ``write``, as a
store has); such a method may take the destination from the payload, so ``destination_table`` may
be ``None`` for it (``TAKES_DESTINATION_FROM_PAYLOAD``).

Into stores that keep a job step's writes in one transaction (``STEP_TRANSACTIONS``), the batches
written since the last ``commit()`` become visible together at that commit, or not at all: a
failure rolls them back, so the step that sent them can be run again without duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from operator import itemgetter
from typing import Any

from meshkit.core.errors import ConfigError, IngestionError, MeshkitError, UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import lazy_import

pa = lazy_import("pyarrow")

log = logging.getLogger("meshkit.ingest")

#: Store types whose options take the ingestion ``target`` as a path or a DSN.
TARGET_OPTION = {"duckdb": "path", "sqlite": "path", "files": "path", "postgres": "dsn", "mysql": "dsn"}


@dataclass
class IngestPayload:
    """One batch on its way to a store."""

    table: pa.Table
    destination: str
    store: Any
    mode: str = "append"
    method: str | None = None
    target: str | None = None
    collection_id: str | None = None
    #: Create the table, or add columns, as needed.
    evolve: bool = True
    #: What plugins pass along from ``pre_ingest`` to ``post_ingest``.
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The open transaction the batch joins (``None``: the store writes it at once).
    transaction: Any = None


@dataclass
class _Group:
    store: Any
    destination: str
    method: str | None
    target: str | None
    columns: list[str] | None = None
    rows: list[Sequence] = field(default_factory=list)
    objects: list[Mapping] = field(default_factory=list)


def to_arrow(data: Any) -> pa.Table:
    """An Arrow table from an Arrow table/batch/reader, a pandas or polars DataFrame."""
    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if isinstance(data, pa.RecordBatchReader):
        return data.read_all()
    module = type(data).__module__.split(".")[0]
    if module == "pandas":
        try:
            return pa.Table.from_pandas(data, preserve_index=False)
        except (OverflowError, pa.ArrowInvalid, pa.ArrowTypeError):
            for column in data.columns:  # the column and row at fault, if one alone fails
                _array(str(column), data[column].tolist())
            raise
    if module == "polars":
        return data.to_arrow()
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    raise TypeError(f"cannot convert {type(data).__name__} to Arrow")


def _rows_to_arrow(rows: list[Sequence], columns: list[str]) -> pa.Table:
    width = len(columns)
    if set(map(len, rows)) - {width}:
        number, row = next((n, r) for n, r in enumerate(rows, 1) if len(r) != width)
        raise IngestionError(f"Row {number} has {len(row)} values but {width} column names were given.",
                             failed_rows=len(rows), total_rows=len(rows))  # fmt: skip
    if not rows:
        return pa.table({name: pa.array([], pa.null()) for name in columns})
    # NOTE: one pass per column with itemgetter is several times faster than transposing with zip(*rows).
    return pa.table({name: _array(name, list(map(itemgetter(i), rows))) for i, name in enumerate(columns)})


def _objects_to_arrow(objects: list[Mapping]) -> pa.Table:
    names: dict[str, None] = {}
    for obj in objects:
        names.update(dict.fromkeys(obj))
    # NOTE: checked once on the union of keys, not per object: the first such key is the first object's that has one.
    if (key := next((k for k in names if not isinstance(k, str) and k is not None), None)) is not None:
        number = next(n for n, obj in enumerate(objects, 1) if key in obj)
        raise IngestionError(f"Object {number} of the batch has the key {key!r} ({type(key).__name__}): column names "
                             "must be strings; convert the keys with str().", failed_rows=len(objects),
                             total_rows=len(objects))  # fmt: skip
    return pa.table({name: _array(name, [obj.get(name) for obj in objects]) for name in names})


def _array(name: str, values: list) -> pa.Array:
    try:
        return pa.array(values)
    except OverflowError:
        row = next((n for n, v in enumerate(values, 1) if _overflows(v)), None)
        what = (
            f"the value {values[row - 1]!r:.80} in row {row} of the batch" if row else "its integers together"
        )
        raise IngestionError(f"Column `{name}`: {what} does not fit in 64-bit integers; send such values as "
                             "decimal.Decimal (up to 38 digits) or as text.", failed_rows=len(values),
                             total_rows=len(values)) from None  # fmt: skip
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        kinds = sorted({type(v).__name__ for v in values if v is not None})
        raise IngestionError(f"Column `{name}` mixes value types ({', '.join(kinds)}): {exc}.", failed_rows=len(values),
                             total_rows=len(values), hint="Send one type per column, or convert the values first.") from None  # fmt: skip


def _overflows(value: Any) -> bool:
    try:
        pa.array([value])
    except OverflowError:
        return True
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    return False


class Ingester:
    """Buffers payloads of one run and writes them in Arrow batches."""

    def __init__(self, meshkit, *, default_store: str, hook=None, batch_rows: int = 100_000, on_written=None,
                 plugins: Mapping[str, Any] | None = None):  # fmt: skip
        self.meshkit = meshkit
        self.plugins = {} if plugins is None else plugins
        self.default_store = default_store
        self.hook = hook or meshkit.pm.hook
        self.batch_rows = batch_rows
        self.on_written = on_written
        self._groups: dict[tuple, _Group] = {}
        self._transactions: dict[str, Any] = {}  # store name -> open transaction
        self._uncommitted: list[tuple[str | None, int, pa.Schema]] = []  # (dataset, rows, schema)
        self.rows_written = 0
        self.failures: list[tuple[str, int, str]] = []  # (destination, rows, reason)

    # ------------------------------------------------------------------ resolving the target

    def store_for(self, method: str | None, target: str | None):
        """The store that ``method``/``target`` (VDK's arguments) name, else the default store."""
        method = method or self.meshkit.config.get("ingest_method_default")
        method = method.lower() if method else None
        if method in self.plugins:
            return self.plugins[method]
        target = target or self.meshkit.config.get("ingest_target_default")
        if target and (target in self.meshkit.store_settings or "://" in target):
            return self.meshkit.store(target)
        if method and target:
            option = TARGET_OPTION.get(method)
            if method not in self.meshkit.store_types or option is None:
                raise ConfigError(
                    f"Unknown ingestion method `{method}`.",
                    hint=f"Use a store type: {', '.join(sorted(TARGET_OPTION))}.",
                )
            return self.meshkit.store_of_type(method, {option: target})
        return self.meshkit.store(target or method or self.default_store)

    def _group(self, destination: str | None, method: str | None, target: str | None) -> _Group:
        store = self.store_for(method, target)
        if not destination and not getattr(store, "TAKES_DESTINATION_FROM_PAYLOAD", False):
            raise UserError(f"No destination table given for ingestion into store `{store.name}`.",
                            hint="Pass `destination_table=`, or an ingestion `method=` whose plugin takes it from the payload.")  # fmt: skip
        key = (store.name, destination)
        if key not in self._groups:
            self._groups[key] = _Group(store, destination, method, target)
        return self._groups[key]

    # ------------------------------------------------------------------ sending

    def send_rows(self, rows: Iterable[Sequence], column_names: Sequence[str], destination: str | None,
                  method: str | None = None, target: str | None = None) -> None:  # fmt: skip
        """Queue rows; a DataFrame or Arrow table is written as it is (column_names may rename it)."""
        if not isinstance(rows, list | tuple) and not hasattr(rows, "__next__"):
            try:
                table = to_arrow(rows)
            except TypeError:
                pass
            else:
                if column_names and list(column_names) != table.column_names:
                    table = table.rename_columns(list(column_names))
                self.send_table(table, destination, method=method, target=target)
                return
        group = self._group(destination, method, target)
        columns = list(column_names)
        if group.rows and group.columns != columns:
            self._flush(group)
        group.columns = columns
        pending = iter(rows)
        while chunk := list(islice(pending, max(1, self.batch_rows - len(group.rows)))):
            group.rows.extend(chunk)
            if len(group.rows) >= self.batch_rows:
                self._flush(group)

    def send_object(self, payload: Mapping, destination: str | None, method: str | None = None,
                    target: str | None = None) -> None:  # fmt: skip
        if not isinstance(payload, Mapping):
            raise IngestionError(
                f"Payload must be a dict, got {type(payload).__name__}.", failed_rows=1, total_rows=1
            )
        group = self._group(destination, method, target)
        group.objects.append(payload)
        if len(group.objects) >= self.batch_rows:
            self._flush(group)

    def send_table(self, data: Any, destination: str | None, mode: str = "append", method: str | None = None,
                   target: str | None = None) -> int:  # fmt: skip
        """Write an Arrow/pandas/polars table now (after flushing queued rows of the same destination)."""
        group = self._group(destination, method, target)
        self._flush(group)
        return self._write(group, to_arrow(data), mode)

    # ------------------------------------------------------------------ writing

    def _flush(self, group: _Group) -> None:
        for pending, convert in (
            (group.rows, lambda r: _rows_to_arrow(r, group.columns or [])),
            (group.objects, _objects_to_arrow),
        ):
            if not pending:
                continue
            batch = list(pending)
            pending.clear()
            try:
                table = convert(batch)
            except IngestionError as exc:
                self._failed(group.destination, len(batch), exc.message)
                continue
            self._write(group, table, "append")

    def _transaction(self, store):
        if not getattr(store, "STEP_TRANSACTIONS", False):
            return None
        if store.name not in self._transactions:
            self._transactions[store.name] = store.transaction()
        return self._transactions[store.name]

    def _write(self, group: _Group, table: pa.Table, mode: str) -> int:
        auto_create = f"{getattr(group.store, 'type', '')}_ingest_auto_create_table_enabled"
        evolve = self.meshkit.config.get(auto_create) if auto_create in self.meshkit.config.keys else True
        transaction = self._transaction(group.store)
        payload = IngestPayload(table, group.destination, group.store, mode, group.method, group.target,
                                evolve=evolve, transaction=transaction)  # fmt: skip
        self.hook.pre_ingest(payload=payload)
        written, error = 0, None
        try:
            written = self.hook.ingest_payload(payload=payload) or 0
        except Exception as exc:  # noqa: BLE001 - counted and reported when the run ends
            error = exc
            reason = exc.message if isinstance(exc, MeshkitError) else f"{type(exc).__name__}: {exc}"
            self._failed(group.destination, payload.table.num_rows, self.meshkit.redactor.redact(reason))
        self.hook.post_ingest(payload=payload, rows_written=written, error=error)
        if written:
            dataset = f"{group.store.name}/{group.destination}" if group.destination else None
            done = (dataset, written, payload.table.schema)
            if transaction:
                self._uncommitted.append(done)
            else:
                self._report(*done)
        return written

    def _report(self, dataset: str | None, rows: int, schema: pa.Schema) -> None:
        self.rows_written += rows
        if self.on_written and dataset:
            self.on_written(dataset, rows, schema)

    def _failed(self, destination: str, rows: int, reason: str) -> None:
        self.failures.append((destination, rows, reason))
        log.error("Could not write %d rows to `%s`: %s", rows, destination, reason)

    def flush(self) -> None:
        """Write every queued row."""
        for group in list(self._groups.values()):
            self._flush(group)

    def check(self) -> None:
        """Flush; if any row could not be written, roll back and raise ``IngestionError`` with the counts."""
        self.flush()
        if not self.failures:
            return
        rolled_back = self.rollback()
        failed = sum(rows for _, rows, _ in self.failures)
        total = self.rows_written + rolled_back + failed
        first = self.failures[0]
        undone = (f" The other {rolled_back} rows sent since the step began were rolled back, so it can be run "
                  "again without duplicates." if rolled_back else "")  # fmt: skip
        raise IngestionError(
            f"{failed} of {total} rows sent for ingestion could not be written "
            f"(first failure: {first[1]} rows to `{first[0]}`: {first[2]}).{undone}",
            failed_rows=failed, total_rows=total,
            hint="Fix the data or the target, then run again." if rolled_back else "Fix the data or the target; nothing else was dropped.",
        )  # fmt: skip

    def commit(self) -> None:
        """``check``, then commit the open transactions: what they hold becomes visible at once."""
        self.check()
        transactions = list(self._transactions.values())
        self._transactions.clear()
        for position, transaction in enumerate(transactions):
            try:
                transaction.commit()
            except BaseException:
                for rest in transactions[position + 1 :]:
                    rest.rollback()
                self._uncommitted.clear()
                raise
        for done in self._uncommitted:
            self._report(*done)
        self._uncommitted.clear()

    def rollback(self) -> int:
        """Drop the queued rows and roll back the open transactions; returns the rows rolled back."""
        for group in self._groups.values():
            group.rows.clear()
            group.objects.clear()
        for transaction in self._transactions.values():
            transaction.rollback()
        self._transactions.clear()
        rows = sum(rows for _, rows, _ in self._uncommitted)
        self._uncommitted.clear()
        return rows

    def close(self) -> None:
        """Write and commit everything; raise ``IngestionError`` if any row could not be written."""
        self.commit()


@hookimpl(trylast=True)
def ingest_payload(payload):
    return (
        (payload.transaction or payload.store)
        .write(payload.destination, payload.table, mode=payload.mode, evolve=payload.evolve)
        .rows
    )


@hookimpl
def configure(config):
    config.add(
        "ingest_method_default", None, "Ingestion method (store type or store name) when a job names none."
    )
    config.add(
        "ingest_target_default",
        None,
        "Ingestion target (store name, URL, path or DSN) when a job names none.",
    )
    config.add(
        "ingest_batch_rows",
        100_000,
        "Rows buffered per destination before they are written.",
        type=int,
        bounds=(1, 100_000_000),
    )
