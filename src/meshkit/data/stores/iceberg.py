"""Apache Iceberg store through pyiceberg.

The catalog is SQL (SQLite ``.meshkit/iceberg/catalog.db`` with the warehouse in
``.meshkit/iceberg/warehouse`` by default, or any SQLAlchemy URL in ``catalog_uri``) or REST (``uri``).
Assets are ``namespace.table`` (namespace ``default`` when omitted). Every write is one Iceberg
commit, so readers see all of it or none: a new table is created in the same transaction as its
first data, ``append`` adds columns and data together, ``overwrite`` replaces the data, ``merge``
is pyiceberg's upsert on the keys; change data deletes its keys by rewriting only the data files
that may hold them (``meshkit.data.stores.iceberg_deletes``), then appends its rows. Reads take
``snapshot_id=`` to read the table as of a snapshot.

Iceberg has no 8/16-bit integers and keeps instants in UTC: the Arrow schema written is kept in a
table property, so integers read back at the width written; time zones read back as UTC.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores.base import (
    ColumnSchema,
    DataLike,
    Store,
    WriteMode,
    WriteResult,
    as_reader,
    canonical_type,
    cast_reader,
    check_keys,
    check_mode,
    missing_asset,
    unsupported_column,
    url_path,
)
from meshkit.data.stores.iceberg_deletes import delete_keys
from meshkit.data.stores.predicates import filter_with_duckdb

SCHEMA_PROPERTY = "meshkit.arrow-schema"
DEFAULT_NAMESPACE = "default"


def iceberg_type(arrow_type: pa.DataType) -> pa.DataType | None:
    """The Arrow type written for ``arrow_type`` (Iceberg's own widths and UTC), or ``None`` if Iceberg cannot hold it."""
    t = pa.types
    if t.is_int8(arrow_type) or t.is_int16(arrow_type) or t.is_uint8(arrow_type) or t.is_uint16(arrow_type):
        return pa.int32()
    if t.is_uint32(arrow_type):
        return pa.int64()
    if t.is_float16(arrow_type):
        return pa.float32()
    if t.is_timestamp(arrow_type):
        return pa.timestamp("us", tz="UTC" if arrow_type.tz else None)
    if t.is_time(arrow_type):
        return pa.time64("us")
    if t.is_dictionary(arrow_type):
        return iceberg_type(arrow_type.value_type)
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        inner = iceberg_type(arrow_type.value_type)
        return None if inner is None else pa.list_(arrow_type.value_field.with_type(inner))
    if t.is_struct(arrow_type):
        fields = [f.with_type(iceberg_type(f.type)) for f in arrow_type]
        return None if any(f.type is None for f in fields) else pa.struct(fields)
    if (
        t.is_uint64(arrow_type)
        or t.is_duration(arrow_type)
        or t.is_interval(arrow_type)
        or t.is_null(arrow_type)
    ):
        return None
    return arrow_type


def _encode(schema: pa.Schema) -> str:
    return base64.b64encode(schema.remove_metadata().serialize().to_pybytes()).decode()


def _decode(text: str) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


class IcebergStore(Store):
    """Iceberg tables in a SQL catalog (default: under ``.meshkit/iceberg``) or a REST catalog (``uri``)."""

    type = "iceberg"
    SUPPORTS_MERGE = True

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        self._catalog = None

    @property
    def catalog(self):
        """The pyiceberg catalog (built on first use; credentials resolved in memory)."""
        if self._catalog is None:
            from pyiceberg.catalog import load_catalog

            props: dict[str, Any] = {
                k: self.resolve(v) for k, v in self.options.get("properties", {}).items()
            }
            for key in ("token", "credential"):
                if key in self.options:
                    props[key] = self.resolve(self.options[key])
            if self.options.get("uri"):
                props.update(type="rest", uri=self.resolve(self.options["uri"]))
                if self.options.get("warehouse"):
                    props["warehouse"] = self.options["warehouse"]
            else:
                props.update(type="sql", uri=self.resolve(self.options.get("catalog_uri") or self._default_path("catalog.db", "sqlite:///")),
                             warehouse=self.options.get("warehouse") or self._default_path("warehouse", "file://"))  # fmt: skip
            try:
                self._catalog = load_catalog(self.name, **props)
            except Exception as exc:  # noqa: BLE001 - pyiceberg raises many kinds for a bad catalog
                raise ConfigError(f"Cannot open the Iceberg catalog of store `{self.name}`: {self.redact(str(exc))}.",
                                  hint="Check `uri`, `catalog_uri` and `warehouse`.") from None  # fmt: skip
        return self._catalog

    def local_paths(self, asset: str) -> list[str]:
        """A SQL catalog's database and warehouse folder where they are local; a REST catalog's file:// warehouse."""
        warehouse = self.options.get("warehouse")
        if self.options.get(
            "uri"
        ):  # NOTE: a REST catalog's server keeps its files; `warehouse` may be a name
            return (
                [warehouse.removeprefix("file://")] if warehouse and warehouse.startswith("file://") else []
            )
        catalog = self.resolve(self.options.get("catalog_uri")) or self._default_path("catalog.db", "sqlite:///", create=False)  # fmt: skip
        warehouse = warehouse or self._default_path("warehouse", "file://", create=False)
        paths = [url_path(catalog)] if catalog.startswith("sqlite:") else []
        if warehouse.startswith("file://") or "://" not in warehouse:
            paths.append(warehouse.removeprefix("file://"))
        return paths

    def _default_path(self, name: str, prefix: str, create: bool = True) -> str:
        if self.meshkit is None:
            raise ConfigError(f"Store `{self.name}` needs `catalog_uri` and `warehouse` outside a workspace.")
        folder = self.meshkit.workspace.state_dir / "iceberg"
        if create:
            (folder / "warehouse").mkdir(parents=True, exist_ok=True)
        return f"{prefix}{folder / name}"

    @staticmethod
    def _identifier(asset: str) -> tuple[str, str]:
        namespace, _, table = asset.rpartition(".")
        return namespace or DEFAULT_NAMESPACE, table

    def _table(self, asset: str):
        table = self._loaded(self._identifier(asset))
        if table is None:
            raise missing_asset(self, asset)
        return table

    def _loaded(self, ident: tuple[str, str]):
        """The table ``ident``, or ``None`` when it does not exist."""
        from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError

        try:
            return self.catalog.load_table(ident)
        except (NoSuchTableError, NoSuchNamespaceError):
            return None

    @staticmethod
    def _arrow_schema(table) -> pa.Schema:
        stored = table.properties.get(SCHEMA_PROPERTY)
        return _decode(stored) if stored else table.schema().as_arrow()

    # ------------------------------------------------------------------ writing

    def check_schema(self, schema: pa.Schema) -> None:
        for field in schema:
            if iceberg_type(field.type) is None:
                raise unsupported_column(self, field)

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True, *, snapshot_properties: dict[str, str] | None = None,
              deletes: pa.Table | None = None) -> WriteResult:  # fmt: skip
        """Write in one commit; ``snapshot_properties`` go in its summary.

        ``deletes`` (a table of key columns) marks change data: the rows of those keys and of the
        keys written are deleted, then the new rows appended (an upsert that replaces whole rows).
        """
        check_mode(mode, keys)
        props_ = dict(snapshot_properties or {})
        reader = as_reader(data)
        self.check_schema(reader.schema)
        check_keys(asset, reader.schema, keys if mode == "merge" else None)
        written = pa.schema([f.with_type(iceberg_type(f.type)) for f in reader.schema])
        counter = WriteResult(0)
        stream = pa.RecordBatchReader.from_batches(written, _counted(reader, written, counter))
        ident = self._identifier(asset)
        table = self._loaded(ident)  # NOTE: one catalog query, not an existence check then a load
        if table is None:
            if not evolve and mode != "overwrite":
                raise missing_asset(self, asset)
            self.catalog.create_namespace_if_not_exists(ident[0])
            props = {SCHEMA_PROPERTY: _encode(_canonical(reader.schema))}
            with self.catalog.create_table_transaction(ident, schema=written, properties=props) as tx:
                tx.append(stream, snapshot_properties=props_)
            return counter
        stored = self._arrow_schema(table)
        added = [f for f in reader.schema if f.name not in stored.names]
        if added and not evolve and mode != "overwrite":
            raise UserError(f"Column(s) {', '.join(f.name for f in added)} are not in `{asset}` and schema evolution is off.",
                            hint="Drop the columns or allow evolution.")  # fmt: skip
        new_schema = (
            _canonical(reader.schema)
            if mode == "overwrite"
            else pa.schema([*stored, *(_canonical_field(f) for f in added)])
        )
        try:
            with _transaction(table) as tx:
                current = table.schema().as_arrow()
                if mode == "overwrite" or any(f.name not in current.names or
                                              _plain(current.field(f.name).type) != _plain(f.type) for f in written):  # fmt: skip
                    with tx.update_schema() as update:
                        update.union_by_name(written)
                if table.properties.get(SCHEMA_PROPERTY) != (encoded := _encode(new_schema)):
                    tx.set_properties(
                        {SCHEMA_PROPERTY: encoded}
                    )  # NOTE: only on change: each update costs a metadata copy
                if deletes is not None:  # change data: its keys deleted, then the new rows appended
                    new = _padded(stream.read_all(), tx.table_metadata.schema().as_arrow())
                    gone = (
                        pa.concat_tables(
                            [
                                deletes.select(list(keys)),
                                new.select(list(keys)).cast(deletes.select(list(keys)).schema),
                            ]
                        )
                        if deletes.num_rows
                        else new.select(list(keys))
                    )
                    deleted = delete_keys(tx, gone, props_) if gone.num_rows else 0
                    if new.num_rows or not deleted:  # NOTE: a commit even when nothing changed: the positions
                        tx.append(new, snapshot_properties=props_)
                elif mode == "append":
                    tx.append(stream, snapshot_properties=props_)
                elif mode == "overwrite":
                    tx.overwrite(stream, snapshot_properties=props_)
                else:
                    new = _padded(stream.read_all(), tx.table_metadata.schema().as_arrow())
                    if new.num_rows:
                        tx.upsert(new, join_cols=list(keys), snapshot_properties=props_)
        except ValueError as exc:  # pyiceberg reports incompatible schemas and duplicate keys this way
            raise UserError(
                f"Cannot write `{asset}` to store `{self.name}`: {exc}", hint="Nothing was written."
            ) from None
        return counter

    def snapshots(self, asset: str) -> list[dict[str, Any]]:
        """Snapshots of ``asset``, oldest first: ``snapshot_id``, ``timestamp`` (UTC), ``operation``, ``parent_id``."""
        import datetime as dt

        rows = []
        for snap in self._table(asset).snapshots():
            rows.append({"snapshot_id": snap.snapshot_id, "parent_id": snap.parent_snapshot_id,
                         "timestamp": dt.datetime.fromtimestamp(snap.timestamp_ms / 1000, dt.UTC),
                         "operation": snap.summary.operation.value if snap.summary else None})  # fmt: skip
        return rows

    # ------------------------------------------------------------------ reading

    def read(self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None, *,
             snapshot_id: int | None = None) -> pa.RecordBatchReader:  # fmt: skip
        """Stream ``asset``, as of ``snapshot_id`` when given (see :meth:`snapshots`)."""
        from pyiceberg.expressions import AlwaysTrue
        from pyiceberg.expressions.parser import parse as parse_filter

        table = self._table(asset)
        stored = self._arrow_schema(table)
        names = list(columns) if columns else stored.names
        unknown = [c for c in names if c not in stored.names]
        if unknown:
            raise UserError(f"Column(s) {', '.join(unknown)} not in `{asset}` of store `{self.name}`.",
                            hint=f"Columns: {', '.join(stored.names)}.")  # fmt: skip
        row_filter, fallback = AlwaysTrue(), None
        if filter:
            try:
                row_filter = parse_filter(filter)
            except Exception:  # noqa: BLE001 - beyond pyiceberg's grammar: DuckDB evaluates it
                fallback = filter
        if snapshot_id is not None and table.snapshot_by_id(snapshot_id) is None:
            raise UserError(
                f"Snapshot {snapshot_id} of `{asset}` does not exist.",
                hint="List them with `snapshots(asset)`.",
            )
        scan_names = stored.names if fallback else names
        try:
            reader = table.scan(
                row_filter=row_filter, selected_fields=tuple(scan_names), snapshot_id=snapshot_id
            ).to_arrow_batch_reader()
        except ValueError as exc:
            raise UserError(
                f"Cannot read `{asset}` from store `{self.name}`: {exc}", hint="Check the filter."
            ) from None
        target = pa.schema(
            [
                stored.field(n) if n in stored.names else f
                for n, f in zip(reader.schema.names, reader.schema, strict=True)
            ]
        )
        reader = cast_reader(reader, target)
        if fallback:
            reader = filter_with_duckdb(reader, fallback)
        present = [n for n in names if n in target.names]  # an older snapshot may lack newer columns
        if present == target.names:
            return reader
        out = pa.schema([target.field(n) for n in present])
        return pa.RecordBatchReader.from_batches(out, (b.select(present) for b in reader))

    def schema(self, asset: str) -> list[ColumnSchema]:
        table = self._table(asset)
        stored = self._arrow_schema(table)
        fields = {f.name: f for f in table.schema().fields}
        return [ColumnSchema(f.name, f.type, str(fields[f.name].field_type), not fields[f.name].required)
                for f in stored if f.name in fields]  # fmt: skip

    def list_assets(self) -> list[str]:
        found = []
        for namespace in self.catalog.list_namespaces():
            for ident in self.catalog.list_tables(namespace):
                found.append(".".join(ident))
        return sorted(found)

    def exists(self, asset: str) -> bool:
        return self.catalog.table_exists(self._identifier(asset))


def _transaction(table):
    """``table.transaction()``, reading its metadata as of its updates once per change of them: pyiceberg's
    applies the updates to a deep copy of the table metadata at every read (about 18 per append), a cost that
    grows with the table's snapshots."""
    return _cached_transaction_type()(table)


@functools.cache
def _cached_transaction_type() -> type:
    from pyiceberg.table import Transaction

    class CachedTransaction(Transaction):
        _cached: tuple = (None, None, None)

        @property
        def table_metadata(self):
            if not isinstance(self._updates, tuple):  # NOTE: the cache needs updates replaced, never changed
                return super().table_metadata
            base, updates, metadata = self._cached
            if base is not self._table.metadata or updates is not self._updates:
                metadata = super().table_metadata
                self._cached = (self._table.metadata, self._updates, metadata)
            return metadata

    return CachedTransaction


def _plain(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` as Iceberg tells it apart: pyiceberg reads strings back as ``large_string``, names list
    items ``element`` and marks required fields, none of which is a change of schema."""
    t = pa.types
    if t.is_large_string(arrow_type):
        return pa.string()
    if t.is_large_binary(arrow_type):
        return pa.binary()
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        return pa.list_(_plain(arrow_type.value_type))
    if t.is_map(arrow_type):
        return pa.map_(_plain(arrow_type.key_type), _plain(arrow_type.item_type))
    if t.is_struct(arrow_type):
        return pa.struct([pa.field(f.name, _plain(f.type)) for f in arrow_type])
    return arrow_type


def _canonical_field(field: pa.Field) -> pa.Field:
    return field.with_type(canonical_type(field.type))


def _canonical(schema: pa.Schema) -> pa.Schema:
    return pa.schema([_canonical_field(f) for f in schema])


def _padded(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """``data`` with every column of ``schema``, in its order (nulls where ``data`` has none)."""
    columns = [data.column(f.name).cast(f.type) if f.name in data.column_names else pa.nulls(data.num_rows, f.type)
               for f in schema]  # fmt: skip
    return pa.Table.from_arrays(columns, schema=schema)


def _counted(reader: pa.RecordBatchReader, schema: pa.Schema, counter: WriteResult):
    for batch in reader:
        counter.rows += batch.num_rows
        yield batch.cast(schema)
