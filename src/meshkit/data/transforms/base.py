"""The transform interface and the helpers every transform shares.

A transform changes a relation: its columns (``Digest``, ``Cast``...), its shape (``RemoveColumn``,
``Rename``) or its rows (``Filter``, ``Sample``). Each one has two paths that give the same
result: ``select`` builds a sqlglot ``SELECT`` over the previous relation, which each engine renders
in its own dialect (functions are written as DuckDB names them, and sqlglot carries them over), and
``apply`` runs it on an Arrow record batch with ``pyarrow.compute`` for streams.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import pyarrow as pa
import sqlglot
from sqlglot import exp

from meshkit.core.errors import ConfigError
from meshkit.core.lazy import lazy_import

#: Loaded on first use: a transfer that transforms nothing never imports it.
pc = lazy_import("pyarrow.compute")


def quote(name: str) -> str:
    """A DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(value: str) -> str:
    """A DuckDB string literal."""
    return "'" + value.replace("'", "''") + "'"


def column(name: str) -> exp.Column:
    """A quoted column reference."""
    return exp.column(name, quoted=True)


@functools.lru_cache(maxsize=64)
def _template(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="duckdb")


def fragment(sql: str, **nodes: exp.Expression) -> exp.Expression:
    """The DuckDB SQL ``sql`` as an expression, each column named after a key of ``nodes`` replaced by it.

    >>> fragment("coalesce(x, chr(1))", x=column("name")).sql("spark")
    'COALESCE(`name`, CHR(1))'
    """

    def place(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and not node.table and node.name in nodes:
            return nodes[node.name].copy()
        return node

    return _template(sql).transform(place)


class Udf:
    """A Python function an engine registers for SQL, for what SQL has no function for."""

    def __init__(
        self, name: str, func: Callable, params: Sequence[str], returns: str, *, volatile: bool = False
    ):
        self.name, self.func, self.params, self.returns, self.volatile = (
            name,
            func,
            list(params),
            returns,
            volatile,
        )


def text_expression(value: exp.Expression, arrow_type: pa.DataType) -> exp.Expression:
    """The canonical text of a column (see ``text_array`` for the Arrow twin)."""
    t = pa.types
    if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type):
        return value
    if t.is_timestamp(arrow_type):
        if arrow_type.tz:
            return fragment(
                "strftime(CAST(x AT TIME ZONE 'UTC' AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f+00')", x=value
            )
        return fragment("strftime(CAST(x AS TIMESTAMP), '%Y-%m-%d %H:%M:%S.%f')", x=value)
    return fragment("CAST(x AS VARCHAR)", x=value)


def text_sql(column: str, arrow_type: pa.DataType) -> str:
    """The canonical text of a column in DuckDB SQL (``column`` is DuckDB SQL too)."""
    return text_expression(sqlglot.parse_one(column, read="duckdb"), arrow_type).sql("duckdb")


def text_array(array: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The canonical text of an Arrow array: the same strings ``text_sql`` gives in DuckDB."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    t = pa.types
    if t.is_timestamp(array.type):
        if array.type.tz:
            utc = pc.cast(array, pa.timestamp("us", "UTC"), safe=False)
            return pc.binary_join_element_wise(pc.strftime(utc, "%Y-%m-%d %H:%M:%S"), "+00", "")
        return pc.strftime(pc.cast(array, pa.timestamp("us"), safe=False), "%Y-%m-%d %H:%M:%S")
    return pc.cast(array, pa.string())


def has_text(arrow_type: pa.DataType) -> bool:
    """Whether values of ``arrow_type`` have a canonical text both paths agree on."""
    t = pa.types
    return (t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type)
            or t.is_integer(arrow_type) or t.is_boolean(arrow_type) or t.is_decimal(arrow_type)
            or t.is_date(arrow_type) or t.is_timestamp(arrow_type))  # fmt: skip


class Transform:
    """Base of every transform: an ``action`` name, target ``columns``, string ``options``.

    Subclasses implement ``select`` and ``apply``; ``check`` validates against the input schema
    before any data moves, so a bad spec fails naming the transform and the column.
    """

    #: The ``action`` name used in specs (``Digest``).
    action: ClassVar[str]
    #: Options this transform reads; any other option is a spec error.
    OPTIONS: ClassVar[frozenset[str]] = frozenset()
    #: Whether ``columns`` must be given.
    NEEDS_COLUMNS: ClassVar[bool] = True

    def __init__(self, columns: Sequence[str] = (), options: Mapping[str, Any] | None = None, name: str | None = None,
                 *, resolve: Callable[[Any], Any] | None = None):  # fmt: skip
        self.columns = list(columns or [])
        self.options = dict(options or {})
        self.name = name or self.action
        self._resolve = resolve
        unknown = sorted(set(self.options) - self.OPTIONS)
        if unknown:
            known = ", ".join(sorted(self.OPTIONS)) or "none"
            raise self.error(
                f"unknown option(s) {', '.join(unknown)}", hint=f"Options of {self.action}: {known}."
            )
        if self.NEEDS_COLUMNS and not self.columns:
            raise self.error("needs `columns`", hint="List the columns it applies to.")

    def error(self, message: str, *, hint: str | None = None) -> ConfigError:
        return ConfigError(f"Transform `{self.name}` ({self.action}): {message}.", hint=hint)

    def label(self) -> str:
        """How the status tags a column this transform touched (``Digest(sha256)``)."""
        return self.action

    # ------------------------------------------------------------------ both paths

    def check(self, schema: pa.Schema) -> None:
        """Raise a ``ConfigError`` if the transform cannot apply to ``schema``."""
        missing = [c for c in self.columns if c not in schema.names]
        if missing:
            raise self.error(f"column(s) {', '.join(missing)} not found",
                             hint=f"Available columns: {', '.join(schema.names)}.")  # fmt: skip

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        """A ``SELECT`` applying this transform to ``relation`` (a table or a subquery)."""
        raise NotImplementedError

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """This transform applied to one Arrow batch."""
        raise NotImplementedError

    def udfs(self, schema: pa.Schema) -> list[Udf]:
        """Python functions the SQL path needs the engine to register."""
        return []

    def tags(self, schema: pa.Schema) -> dict[str, str]:
        """``{column: label}`` for the columns this transform changes (``*`` for row transforms)."""
        return {c: self.label() for c in self.columns}

    def renames(self) -> dict[str, str]:
        """Columns renamed by this transform (old -> new), so tags follow them."""
        return {}


class ColumnTransform(Transform):
    """A transform that rewrites some columns value by value and keeps the others."""

    def column_sql(self, value: exp.Expression, field: pa.Field) -> exp.Expression:
        """The expression replacing ``value`` (the column, or an expression over it) of ``field``."""
        raise NotImplementedError

    def column_array(self, array: pa.Array, field: pa.Field) -> pa.Array:
        """The Arrow array replacing ``array``."""
        raise NotImplementedError

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        items = [
            exp.alias_(self.column_sql(column(f.name), f), f.name, quoted=True)
            if f.name in self.columns
            else column(f.name)
            for f in schema
        ]
        return exp.select(*items).from_(relation)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        arrays, fields = [], []
        for field, array in zip(batch.schema, batch.columns, strict=True):
            if field.name in self.columns:
                array = self.column_array(array, field)
                field = pa.field(field.name, array.type)
            arrays.append(array)
            fields.append(field)
        return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


class TextTransform(ColumnTransform):
    """A column transform on the canonical text of values (Digest, Encrypt, Redact)."""

    def check(self, schema: pa.Schema) -> None:
        super().check(schema)
        for name in self.columns:
            arrow_type = schema.field(name).type
            if not has_text(arrow_type):
                raise self.error(f"column `{name}` has type {arrow_type}, which has no canonical text",
                                 hint="Add a Cast to VARCHAR before it.")  # fmt: skip


def map_text(array: pa.Array, func: Callable[[str], Any], out_type: pa.DataType = pa.string()) -> pa.Array:
    """``func`` applied to each non-null canonical text value of ``array``."""
    values = text_array(array).to_pylist()
    return pa.array([None if v is None else func(v) for v in values], type=out_type)
