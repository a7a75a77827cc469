"""Files store: Parquet, CSV, JSON lines or ORC files in a local folder or under an S3 prefix.

An asset is a path relative to the store's base: a folder of part files (``orders``) or one file
(``orders.csv``; the suffix picks the format). Reads go through ``pyarrow.dataset`` with the
projection and simple predicates pushed down (other predicates run in DuckDB over the stream).
Writes never touch the asset before the new data is complete: data goes to a hidden temporary
name beside the asset, then is moved in (append), or replaces the asset (overwrite, merge).
Beside the data the store keeps the Arrow schema written (``_meshkit_schema.arrow`` in a folder,
``.NAME.schema.arrow`` beside a file), so every format reads back the exact types written.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

if TYPE_CHECKING:
    import pyarrow.dataset as ds

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores import fileformats as ff
from meshkit.data.stores.base import (
    ColumnSchema,
    DataLike,
    Store,
    WriteMode,
    WriteResult,
    as_reader,
    check_keys,
    check_mode,
    missing_asset,
    unsupported_column,
)
from meshkit.data.stores.predicates import filter_with_duckdb, to_expression

SCHEMA_FILE = "_meshkit_schema.arrow"
_PARTITION_KEY = b"meshkit.partition_by"
_JSON_KINDS = [(pa.types.is_integer, "number"), (pa.types.is_floating, "number"), (pa.types.is_boolean, "boolean"),
               (pa.types.is_list, "array"), (pa.types.is_struct, "object")]  # fmt: skip


@dataclass
class _Asset:
    name: str
    path: str
    is_dir: bool
    fmt: str
    exists: bool

    @property
    def schema_path(self) -> str:
        if self.is_dir:
            return f"{self.path}/{SCHEMA_FILE}"
        parent, _, name = self.path.rpartition("/")
        return f"{parent}/.{name}.schema.arrow"

    def temp_path(self) -> str:
        parent, _, name = self.path.rpartition("/")
        suffix = "" if self.is_dir else PurePosixPath(name).suffix
        return f"{parent}/.{name}.mk-tmp-{secrets.token_hex(4)}{suffix}"


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """``batch`` with the columns of ``schema`` in its order; missing columns are nulls."""
    names = batch.schema.names
    columns = [
        batch.column(f.name).cast(f.type) if f.name in names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def unify(existing: pa.Schema, new: pa.Schema, asset: str) -> pa.Schema:
    """``existing`` plus the new columns of ``new``; a column whose type changed is a schema conflict."""
    for field in new:
        if field.name in existing.names and existing.field(field.name).type != field.type:
            old = existing.field(field.name).type
            raise UserError(f"Column `{field.name}` of `{asset}` is {old}, but the data written has {field.type}.",
                            hint=f"Cast `{field.name}` to {old}, or overwrite the asset.")  # fmt: skip
    return pa.schema(
        [*existing, *(f for f in new if f.name not in existing.names)], metadata=existing.metadata
    )


class FilesStore(Store):
    """Files under ``path`` (a local folder) or ``url`` (``s3://bucket/prefix``) in one ``format``."""

    type = "files"
    url_schemes = ("file", "s3")
    SUPPORTS_MERGE = True

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        self.format = self.options.get("format", "parquet")
        if self.format not in ff.FORMATS:
            raise ConfigError(
                f"Unknown file format `{self.format}` for store `{name}`.",
                hint=f"Use one of: {', '.join(ff.FORMATS)}.",
            )
        self.base = self.options.get("url") or self.options.get("path")
        if not self.base:
            raise ConfigError(
                f"Store `{name}` has no `path` or `url`.",
                hint="Give a local folder or an s3://bucket/prefix URL.",
            )
        partition_by = self.options.get("partition_by") or []
        self.partition_by = [partition_by] if isinstance(partition_by, str) else list(partition_by)
        self._fs: tuple[pafs.FileSystem, str] | None = None

    @classmethod
    def from_url(cls, url: str) -> dict:
        """``file:///data/out?format=csv`` or ``s3://bucket/prefix?endpoint_url=...&format=jsonl``."""
        parts = urlsplit(url)
        options = dict(parse_qsl(parts.query))
        base = url.split("?", 1)[0]
        options["url" if parts.scheme == "s3" else "path"] = (
            base if parts.scheme == "s3" else parts.netloc + parts.path
        )
        return options

    # ------------------------------------------------------------------ locations

    @property
    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The pyarrow filesystem and the root path inside it."""
        if self._fs is None:
            if str(self.base).startswith("s3://"):
                self._fs = (self._s3(), str(self.base)[5:].rstrip("/"))
            else:
                root = (
                    self.meshkit.workspace.resolve(self.base)
                    if self.meshkit is not None
                    else PurePosixPath(self.base)
                )
                fs = pafs.LocalFileSystem()
                fs.create_dir(str(root), recursive=True)
                self._fs = (fs, str(root).rstrip("/"))
        return self._fs

    def _s3(self) -> pafs.S3FileSystem:
        opts = {
            k: self.resolve(self.options[k])
            for k in ("access_key", "secret_key", "session_token")
            if self.options.get(k)
        }
        endpoint = self.options.get("endpoint_url")
        if endpoint:
            parsed = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            opts.update(endpoint_override=parsed.netloc, scheme=parsed.scheme)
        return pafs.S3FileSystem(region=self.options.get("region", "us-east-1"), **opts)

    def _relative(self, asset: str) -> PurePosixPath:
        rel = PurePosixPath(asset.strip("/"))
        if not asset.strip("/") or rel.is_absolute() or ".." in rel.parts:
            raise ConfigError(
                f"Asset `{asset}` is not a relative path inside store `{self.name}`.",
                hint="Name it like `folder/orders`.",
            )
        return rel

    def local_paths(self, asset: str) -> list[str]:
        rel = self._relative(asset)
        if str(self.base).startswith("s3://"):
            return []
        root = self.meshkit.workspace.resolve(self.base) if self.meshkit is not None else self.base
        return [str(root), f"{root}/{rel}"]

    def _locate(self, asset: str) -> _Asset:
        rel = self._relative(asset)
        fs, root = self.filesystem
        path = f"{root}/{rel}"
        kind = fs.get_file_info(path).type
        fmt = ff.SUFFIXES.get(rel.suffix.lower())
        is_dir = kind == pafs.FileType.Directory or (kind == pafs.FileType.NotFound and fmt is None)
        return _Asset(
            asset, path, is_dir, self.format if is_dir or fmt is None else fmt, kind != pafs.FileType.NotFound
        )

    def _stored_schema(self, a: _Asset) -> pa.Schema | None:
        fs, _ = self.filesystem
        if fs.get_file_info(a.schema_path).type != pafs.FileType.File:
            return None
        with fs.open_input_stream(a.schema_path) as f:
            return pa.ipc.read_schema(pa.py_buffer(f.read()))

    def _save_schema(self, path: str, schema: pa.Schema) -> None:
        fs, _ = self.filesystem
        temp = self._noted(f"{path}.mk-tmp-{secrets.token_hex(4)}")
        with fs.open_output_stream(temp) as f:
            f.write(schema.serialize())
        fs.move(temp, path)

    def temp_path(self, a: _Asset) -> str:
        """A hidden temporary name beside ``a`` for data being written."""
        return self._noted(a.temp_path())

    def _noted(self, temp: str) -> str:
        """``temp``, noted first so that the next command removes it if this process is killed."""
        if self.meshkit is not None and isinstance(self.filesystem[0], pafs.LocalFileSystem):
            self.meshkit.scratch.note(temp)
        return temp

    # ------------------------------------------------------------------ reading

    def _partitioning(self, schema: pa.Schema | None, a: _Asset):
        if not a.is_dir:
            return None
        if schema is None:
            return "hive"
        names = json.loads(schema.metadata.get(_PARTITION_KEY, b"[]")) if schema.metadata else []
        import pyarrow.dataset as ds

        return ds.partitioning(pa.schema([schema.field(n) for n in names]), flavor="hive") if names else None

    def _dataset(self, a: _Asset, schema: pa.Schema | None) -> ds.Dataset:
        import pyarrow.dataset as ds

        fs, _ = self.filesystem
        try:
            return ds.dataset(a.path, filesystem=fs, format=ff.read_format(a.fmt, schema),
                              schema=None if schema is None else ff.dataset_schema(a.fmt, schema),
                              partitioning=self._partitioning(schema, a))  # fmt: skip
        except (pa.ArrowInvalid, OSError) as exc:
            raise UserError(f"Cannot read `{a.name}` in store `{self.name}` as {a.fmt}: {exc}.",
                            hint="Check the asset's format (`format` option or file suffix).") from None  # fmt: skip

    def _data_files(self, a: _Asset) -> list[str]:
        """The files of asset ``a`` that a dataset reads (hidden ones left out), found without opening one.

        NOTE: ``pyarrow.dataset`` imports pandas, which costs more than the listing.
        """
        if not a.is_dir:
            return [a.path]
        fs, _ = self.filesystem
        found = fs.get_file_info(pafs.FileSelector(a.path, recursive=True, allow_not_found=True))
        return sorted(
            info.path for info in found
            if info.type == pafs.FileType.File
            and not any(part.startswith((".", "_")) for part in PurePosixPath(info.path[len(a.path):]).parts)
        )  # fmt: skip

    def _schema_of(self, a: _Asset) -> pa.Schema:
        if not a.exists:
            raise missing_asset(self, a.name)
        schema = self._stored_schema(a)
        return schema if schema is not None else self._dataset(a, None).schema

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        a = self._locate(asset)
        schema = self._schema_of(a)
        dataset = self._dataset(a, schema)
        names = list(columns) if columns else schema.names
        unknown = [c for c in names if c not in schema.names]
        if unknown:
            raise UserError(f"Column(s) {', '.join(unknown)} not in `{asset}` of store `{self.name}`.",
                            hint=f"Columns: {', '.join(schema.names)}.")  # fmt: skip
        expr = to_expression(filter, schema) if filter else None
        pushdown = expr is not None and a.fmt != "jsonl"  # JSON lines hold some types as text until decoded
        scan = names if not filter or pushdown else schema.names
        scan_schema = pa.schema([schema.field(n).remove_metadata() for n in scan])
        scanner = dataset.scanner(columns=scan, filter=expr if pushdown else None, batch_size=65_536)

        def batches() -> Iterator[pa.RecordBatch]:
            for batch in scanner.to_batches():
                batch = ff.decode(batch, scan_schema)
                yield batch.filter(expr) if expr is not None and not pushdown else batch

        reader = pa.RecordBatchReader.from_batches(scan_schema, batches())
        if not filter or pushdown:
            return reader
        if expr is None:
            reader = filter_with_duckdb(reader, filter)
        out = pa.schema([scan_schema.field(n) for n in names])
        return pa.RecordBatchReader.from_batches(out, (b.select(names) for b in reader))

    def schema(self, asset: str) -> list[ColumnSchema]:
        a = self._locate(asset)
        schema = self._schema_of(a)
        natives: dict[str, str] = {}
        if a.fmt == "parquet":
            files = self._data_files(a)
            natives = ff.native_types(self.filesystem[0], files[0], "parquet") if files else {}
        return [
            ColumnSchema(f.name, f.type, natives.get(f.name) or self._native(a.fmt, f.type), f.nullable)
            for f in schema
        ]

    @staticmethod
    def _native(fmt: str, arrow_type: pa.DataType) -> str:
        if fmt == "csv":
            return "text"
        if fmt == "jsonl":
            return next((kind for test, kind in _JSON_KINDS if test(arrow_type)), "string")
        return str(arrow_type)

    def list_assets(self) -> list[str]:
        fs, root = self.filesystem
        found = []
        for info in fs.get_file_info(pafs.FileSelector(root, allow_not_found=True)):
            if info.base_name.startswith((".", "_")):
                continue
            if (
                info.type == pafs.FileType.Directory
                or PurePosixPath(info.base_name).suffix.lower() in ff.SUFFIXES
            ):
                found.append(info.base_name)
        return sorted(found)

    def exists(self, asset: str) -> bool:
        return self._locate(asset).exists

    # ------------------------------------------------------------------ writing

    def check_schema(self, schema: pa.Schema, fmt: str | None = None) -> None:
        for field in schema:
            why = ff.cannot_hold(fmt or self.format, field.type)
            if why:
                raise unsupported_column(self, field, f" as {fmt or self.format} ({why})")

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        check_mode(mode, keys)
        reader = as_reader(data)
        a = self._locate(asset)
        self.check_schema(reader.schema, a.fmt)
        check_keys(asset, reader.schema, keys if mode == "merge" else None)
        existing = self._schema_of(a) if a.exists else None
        if existing is None and not evolve and mode != "overwrite":
            raise missing_asset(self, asset)
        if existing is None or mode == "overwrite":
            schema = self._new_schema(reader.schema, a)
            return self._replace(a, schema, reader)
        if not evolve and (added := [n for n in reader.schema.names if n not in existing.names]):
            raise UserError(f"Column(s) {', '.join(added)} are not in `{asset}` and schema evolution is off.",
                            hint="Drop the columns or allow evolution.")  # fmt: skip
        schema = unify(existing, reader.schema, asset)
        if mode == "append" and a.is_dir:
            return self._append_parts(a, schema, reader)
        old = self.read(asset)
        if mode == "merge":  # the rows written are held in memory to find the keys they replace
            new = reader.read_all()
            old, reader = _anti_join(old, new, keys), new.to_reader()
        rows = WriteResult(0)
        combined = pa.RecordBatchReader.from_batches(schema, _chain(old, reader, schema, rows))
        self._replace(a, schema, combined)
        return rows

    def _new_schema(self, schema: pa.Schema, a: _Asset) -> pa.Schema:
        schema = schema.remove_metadata()
        if not self.partition_by:
            return schema
        missing = [c for c in self.partition_by if c not in schema.names]
        if missing or not a.is_dir or a.fmt not in ff.PARTITIONED_WRITES:
            why = (
                f"column(s) {', '.join(missing)} are not in the data"
                if missing
                else f"`{a.name}` is a single {a.fmt} file"
            )
            raise ConfigError(f"Cannot partition `{a.name}` by {', '.join(self.partition_by)}: {why}.",
                              hint=f"Partitioned assets are folders of {' or '.join(ff.PARTITIONED_WRITES)} files.")  # fmt: skip
        return schema.with_metadata({_PARTITION_KEY: json.dumps(self.partition_by).encode()})

    def _write_files(self, target: str, a: _Asset, schema: pa.Schema, reader: pa.RecordBatchReader) -> int:
        """Write all of ``reader`` (conformed to ``schema``) under ``target``: part files or one file."""
        import pyarrow.dataset as ds

        fs, _ = self.filesystem
        counter = WriteResult(0)
        conformed = pa.RecordBatchReader.from_batches(
            schema.remove_metadata(), _counted(reader, schema.remove_metadata(), counter)
        )
        partition = json.loads(schema.metadata.get(_PARTITION_KEY, b"[]")) if schema.metadata else []
        if partition:
            ds.write_dataset(conformed, target, filesystem=fs, format=a.fmt, file_options=ff.write_options(a.fmt),
                             partitioning=ds.partitioning(pa.schema([schema.field(c) for c in partition]), flavor="hive"),
                             basename_template=f"part-{secrets.token_hex(4)}-{{i}}.{a.fmt}",
                             existing_data_behavior="overwrite_or_ignore")  # fmt: skip
            return counter.rows
        path = f"{target}/part-{secrets.token_hex(6)}.{a.fmt}" if a.is_dir else target
        fs.create_dir(path.rpartition("/")[0], recursive=True)
        writer = ff.PartWriter(fs, path, conformed.schema, a.fmt)
        try:
            for batch in conformed:
                writer.write(batch)
        finally:
            writer.close()
        return counter.rows

    def _replace(self, a: _Asset, schema: pa.Schema, reader: pa.RecordBatchReader) -> WriteResult:
        fs, _ = self.filesystem
        temp = self.temp_path(a)
        try:
            rows = self._write_files(temp, a, schema, reader)
            if a.is_dir:
                self._save_schema(f"{temp}/{SCHEMA_FILE}", schema)
                self._swap_dir(temp, a.path)
            else:
                fs.move(temp, a.path)
                self._save_schema(a.schema_path, schema)
        except BaseException:
            _remove(fs, temp)
            raise
        return WriteResult(rows)

    def _swap_dir(self, temp: str, path: str) -> None:
        fs, _ = self.filesystem
        if isinstance(fs, pafs.LocalFileSystem):  # renames: the asset is replaced at once
            old = f"{temp}-old"
            if fs.get_file_info(path).type != pafs.FileType.NotFound:
                fs.move(path, old)
            fs.move(temp, path)
            _remove(fs, old)
            return
        _remove(fs, path)  # object stores: the new data is complete before the old is removed
        _move_tree(fs, temp, path)

    def _append_parts(self, a: _Asset, schema: pa.Schema, reader: pa.RecordBatchReader) -> WriteResult:
        fs, _ = self.filesystem
        temp = self.temp_path(a)
        try:
            rows = self._write_files(temp, a, schema, reader)
            _move_tree(fs, temp, a.path)
            self._save_schema(a.schema_path, schema)
        finally:
            _remove(fs, temp)
        return WriteResult(rows)


def _counted(
    reader: pa.RecordBatchReader, schema: pa.Schema, counter: WriteResult
) -> Iterator[pa.RecordBatch]:
    for batch in reader:
        counter.rows += batch.num_rows
        yield conform(batch, schema)


def _chain(old: pa.RecordBatchReader, new: pa.RecordBatchReader, schema: pa.Schema, counter: WriteResult):
    """Existing rows, then the rows written (counted)."""
    for batch in old:
        yield conform(batch, schema)
    for batch in new:
        counter.rows += batch.num_rows
        yield conform(batch, schema)


def _anti_join(old: pa.RecordBatchReader, new: pa.Table, keys: Sequence[str]) -> pa.RecordBatchReader:
    """The rows of ``old`` whose keys are not in ``new``, streamed."""
    new_keys = new.select(list(keys)).group_by(list(keys)).aggregate([])

    def batches():
        for batch in old:
            probe = (
                pa.Table.from_batches([batch])
                .select(list(keys))
                .append_column("__mk_row", pa.array(range(batch.num_rows), pa.int64()))
            )
            kept = probe.join(new_keys, list(keys), join_type="left anti").column("__mk_row")
            yield batch.take(kept.combine_chunks().sort() if kept.num_chunks else pa.array([], pa.int64()))

    return pa.RecordBatchReader.from_batches(old.schema, batches())


def _move_tree(fs: pafs.FileSystem, source: str, target: str) -> None:
    for info in fs.get_file_info(pafs.FileSelector(source, recursive=True)):
        if info.type == pafs.FileType.File:
            dest = f"{target}/{info.path[len(source) + 1 :]}"
            fs.create_dir(dest.rpartition("/")[0], recursive=True)
            fs.move(info.path, dest)


def _remove(fs: pafs.FileSystem, path: str) -> None:
    kind = fs.get_file_info(path).type
    if kind == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif kind == pafs.FileType.File:
        fs.delete_file(path)
