"""Change data: records applied as upserts and deletes merged by key, fanned out to several tables.

A source gives :class:`Change` records: Debezium envelopes (``op`` c/u/d/r with ``before``/``after``,
see :func:`from_debezium`), plain keyed records (a value upserts its key, an empty value deletes
it, see :func:`from_keyed`) or PostgreSQL logical replication (:class:`ChangeColumns`, already
Arrow). :func:`plan_changes` and :func:`plan_columns` group a batch by destination table, keep the
last change of each key, and give per table the rows to upsert and the keys to delete, so one
write per table applies the batch. A table is created from the first
records' schema and gains a column when a new field appears; a field whose type changes is an
error naming it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.transfer.offsets import position_order

OPERATIONS = {"c": "insert", "r": "snapshot", "u": "update", "d": "delete", "t": "truncate"}


@dataclass
class Change:
    """One change of one row: ``op`` c/u/d/r, the row (``before`` for a delete), where it came from.

    Op ``t`` (truncate) empties its table: its row is empty.
    """

    op: str
    row: dict[str, Any]
    #: The key columns' values (``None``: take them from ``row`` by the transfer's keys).
    key: dict[str, Any] | None = None
    #: The table it belongs to (fan-out), when the source names one.
    table: str | None = None
    #: The source position after this change (``topic:partition`` and offset, or the slot and LSN).
    part: str = ""
    position: Any = None


#: The columns :class:`ChangeColumns` adds to a table's rows: op, position and order in the batch.
META_COLUMNS = ("__mk_op", "__mk_position", "__mk_seq")


@dataclass
class ChangeColumns:
    """Changes of one source table as Arrow, in the order they happened.

    ``rows`` holds the row's columns (a delete's old key, nulls for a truncate), then
    :data:`META_COLUMNS`: the op (c/u/d/t), the position as an integer (a row is in a destination
    whose committed position for ``part`` is at or after it) and the row's order in the batch.
    """

    table: str
    keys: list[str]
    part: str
    rows: pa.Table


@dataclass
class TableChanges:
    """What one destination table receives from a batch."""

    asset: str
    keys: list[str]
    upserts: pa.Table
    deletes: pa.Table
    counts: dict[str, int] = field(default_factory=dict)
    #: The batch truncates the table: it is emptied, then ``upserts`` (the changes after that) written.
    truncate: bool = False


def last_per_key(table: pa.Table, keys: Sequence[str]) -> pa.Table:
    """The last row of ``table`` for each value of ``keys``, in the order those last rows came."""
    if table.num_rows < 2:
        return table
    indexed = table.select(list(keys)).append_column("__mk_row", pa.array(range(table.num_rows), pa.int64()))
    last = indexed.group_by(list(keys), use_threads=False).aggregate([("__mk_row", "max")])
    rows = pc.sort_indices(last.column("__mk_row_max"))
    return table.take(pc.take(last.column("__mk_row_max"), rows))


def _json(value: bytes | str | None) -> Any:
    return None if value is None else json.loads(value)


def from_debezium(value: bytes | None, key: bytes | None, where: str) -> Change | None:
    """A Debezium envelope (with or without its ``schema``/``payload`` wrapper); ``None`` for a tombstone."""
    try:
        record, key_obj = _json(value), _json(key)
    except ValueError:
        raise UserError(
            f"A message of {where} is not JSON.", hint="Produce Debezium JSON envelopes."
        ) from None
    if record is None:
        return None  # the tombstone after a delete: the delete was applied already
    if isinstance(record, dict) and "payload" in record and "schema" in record:
        record = record["payload"]
    if isinstance(key_obj, dict) and "payload" in key_obj and "schema" in key_obj:
        key_obj = key_obj["payload"]
    op = record.get("op") if isinstance(record, dict) else None
    if op not in OPERATIONS:
        raise UserError(f"A message of {where} is not a Debezium change (its `op` is {op!r}).",
                        hint="Expect `op` c, u, d, r or t with `before` and `after`.")  # fmt: skip
    if op == "t":
        return Change("t", {}, None, (record.get("source") or {}).get("table"))
    row = record.get("before") if op == "d" else record.get("after")
    if not isinstance(row, dict):
        side = "before" if op == "d" else "after"
        raise UserError(f"A Debezium change of {where} with op {op} has no `{side}` row.",
                        hint="Configure the connector to include full rows (REPLICA IDENTITY FULL for deletes).")  # fmt: skip
    table = (record.get("source") or {}).get("table")
    return Change(op, row, key_obj if isinstance(key_obj, dict) else None, table)


def from_keyed(value: bytes | None, key: bytes | None, where: str) -> Change:
    """A plain keyed record: a JSON object upserts the key, an empty value (tombstone) deletes it."""
    if key is None:
        raise UserError(f"A message of {where} has no key, and keyed records are merged by key.",
                        hint="Produce each record with its key.")  # fmt: skip
    try:
        key_obj = json.loads(key)
    except ValueError:
        key_obj = key.decode("utf-8", "replace")
    if value is None:
        return Change("d", {}, key_obj if isinstance(key_obj, dict) else {"__key": key_obj})
    try:
        row = json.loads(value)
    except ValueError:
        row = None
    if not isinstance(row, dict):
        raise UserError(
            f"A message of {where} is not a JSON object.", hint="Produce one JSON object per record."
        )
    return Change("u", row, key_obj if isinstance(key_obj, dict) else None)


def plan_changes(changes: Sequence[Change], asset: str, keys: Sequence[str]) -> list[TableChanges]:
    """Group ``changes`` by table (``{table}`` in ``asset`` names it) and reduce each to upserts and deletes."""
    groups: dict[str, list[Change]] = {}
    for change in changes:
        if "{table}" in asset and not change.table:
            raise UserError(f"A change has no table name, and the destination `{asset}` fans out by table.",
                            hint="Use a source that names the table, or a destination asset without {table}.")  # fmt: skip
        groups.setdefault(asset.replace("{table}", change.table or ""), []).append(change)
    return [_reduce(name, group, keys) for name, group in groups.items()]


def _reduce(asset: str, changes: list[Change], keys: Sequence[str]) -> TableChanges:
    key_names = list(keys) or list(next((c.key for c in changes if c.key), None) or [])
    if not key_names or "__key" in key_names:
        raise ConfigError(f"Changes for `{asset}` need key columns to be merged on.",
                          hint="Set `spec.destination.keys` (and `mode: merge`).", where="spec.destination.keys")  # fmt: skip
    last: dict[tuple, Change] = {}
    counts = {name: 0 for name in OPERATIONS.values()}
    truncate = False
    for change in changes:
        counts[OPERATIONS[change.op]] += 1
        if change.op == "t":  # what came before in the batch is gone with the table's rows
            last.clear()
            truncate = True
            continue
        source = change.key if change.op == "d" and change.key else change.row
        try:
            ident = tuple(source[k] for k in key_names)
        except KeyError as exc:
            raise UserError(f"A change for `{asset}` has no key column `{exc.args[0]}`.",
                            hint="Check `spec.destination.keys` against the records' fields.") from None  # fmt: skip
        last.pop(ident, None)  # NOTE: re-inserted at the end, so the survivors keep their order
        last[ident] = change
    upserts = [c.row for c in last.values() if c.op != "d"]
    deleted = (
        [] if truncate else [dict(zip(key_names, i, strict=True)) for i, c in last.items() if c.op == "d"]
    )
    try:
        upsert_table = pa.Table.from_pylist(upserts) if upserts else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise UserError(f"The changes for `{asset}` mix types in one field: {exc}.",
                        hint="Give each field one type.") from None  # fmt: skip
    nulls = [f.name for f in upsert_table.schema if pa.types.is_null(f.type)]
    upsert_table = upsert_table.drop_columns(nulls) if nulls else upsert_table
    delete_table = pa.Table.from_pylist(deleted) if deleted else pa.table({k: [] for k in key_names})
    return TableChanges(asset, key_names, upsert_table, delete_table, counts, truncate)


def plan_columns(
    columns: Sequence[ChangeColumns],
    asset: str,
    keys: Sequence[str],
    committed: dict[str, dict[str, Any]] | None = None,
) -> list[TableChanges]:
    """:func:`plan_changes` for changes already in Arrow; rows a table's ``committed`` positions hold are
    skipped (a fan-out table may be ahead of the others)."""
    groups: dict[str, list[pa.Table]] = {}
    key_names: dict[str, list[str]] = {}
    for chunk in columns:
        name = asset.replace("{table}", chunk.table)
        rows = chunk.rows
        held = (committed or {}).get(name, {}).get(chunk.part)
        if held is not None:
            high, low = position_order(held)
            rows = rows.filter(pc.greater(rows["__mk_position"], high << 32 | low))
        if rows.num_rows:
            groups.setdefault(name, []).append(rows)
            key_names.setdefault(name, list(keys) or chunk.keys)
    return [_reduce_columns(name, tables, key_names[name]) for name, tables in groups.items()]


def _reduce_columns(asset: str, tables: list[pa.Table], key_names: list[str]) -> TableChanges:
    if not key_names:
        raise ConfigError(f"Changes for `{asset}` need key columns to be merged on.",
                          hint="Set `spec.destination.keys` (and `mode: merge`).", where="spec.destination.keys")  # fmt: skip
    table = tables[0]
    if len(tables) > 1:  # several source tables, or a table redefined within the batch
        try:
            table = pa.concat_tables(tables, promote_options="permissive").sort_by("__mk_seq")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise UserError(f"The changes for `{asset}` mix types in one field: {exc}.",
                            hint="Give each field one type.") from None  # fmt: skip
    missing = [k for k in key_names if k not in table.column_names]
    if missing:
        raise UserError(f"A change for `{asset}` has no key column `{missing[0]}`.",
                        hint="Check `spec.destination.keys` against the records' fields.")  # fmt: skip
    ops = table["__mk_op"]
    counts = {name: 0 for name in OPERATIONS.values()}
    for entry in pc.value_counts(ops).to_pylist():
        counts[OPERATIONS[entry["values"]]] += entry["counts"]
    truncate = counts["truncate"] > 0
    if truncate:  # what came before the last truncate is gone with the table's rows
        table = table.slice(pc.max(pc.indices_nonzero(pc.equal(ops, "t"))).as_py() + 1)
    last = last_per_key(table, key_names)
    deleted = pc.equal(last["__mk_op"], "d")
    upserts = last.filter(pc.invert(deleted)).drop_columns(list(META_COLUMNS))
    deletes = last.filter(deleted).select(key_names)
    return TableChanges(
        asset,
        key_names,
        upserts if upserts.num_rows else pa.table({}),
        deletes if deletes.num_rows and not truncate else pa.table({k: [] for k in key_names}),
        counts,
        truncate,
    )


def conform(upserts: pa.Table, existing: pa.Schema | None, asset: str) -> pa.Table:
    """``upserts`` with the types of ``existing`` columns; a field whose type changed is an error naming it."""
    if existing is None or upserts.num_columns == 0:
        return upserts
    for i, f in enumerate(upserts.schema):
        if f.name not in existing.names or existing.field(f.name).type == f.type:
            continue
        target = existing.field(f.name).type
        same_kind = _kind(target) == _kind(f.type) or (_kind(target), _kind(f.type)) == ("number", "integer")
        try:
            if not same_kind:
                raise pa.ArrowInvalid("different kind")
            upserts = upserts.set_column(i, f.name, upserts.column(i).cast(target, safe=True))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            raise UserError(f"Field `{f.name}` changed type in the changes for `{asset}`: it is {target} in the "
                            f"table and {f.type} in the records.",
                            hint=f"Keep `{f.name}` as {target}, or migrate the table before resuming.") from None  # fmt: skip
    return upserts


def _kind(arrow_type: pa.DataType) -> str:
    t = pa.types
    if t.is_integer(arrow_type):
        return "integer"
    if t.is_floating(arrow_type) or t.is_decimal(arrow_type):
        return "number"
    if t.is_string(arrow_type) or t.is_large_string(arrow_type):
        return "string"
    return str(arrow_type)
