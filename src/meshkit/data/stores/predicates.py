"""SQL filter predicates for stores that do not run SQL.

``to_expression`` translates simple predicates (comparisons with literals, ``IN``, ``BETWEEN``,
``IS [NOT] NULL``, ``AND``/``OR``/``NOT``) into a ``pyarrow.dataset`` expression that the reader
pushes down to the files; ``filter_with_duckdb`` evaluates any other predicate with DuckDB over
the Arrow stream.

>>> import pyarrow as pa
>>> str(to_expression("a > 1 AND b IS NULL", pa.schema([("a", pa.int64()), ("b", pa.string())])))
'((a > 1) and is_null(b, {nan_is_null=false}))'
"""

from __future__ import annotations

import decimal

import pyarrow as pa
import sqlglot
from sqlglot import exp

from meshkit.core.errors import ConfigError, UserError
from meshkit.core.lazy import lazy_import
from meshkit.data.stores.base import cast_reader

ds = lazy_import("pyarrow.dataset")
pc = lazy_import("pyarrow.compute")

_COMPARISONS = {exp.EQ: "__eq__", exp.NEQ: "__ne__", exp.GT: "__gt__", exp.GTE: "__ge__", exp.LT: "__lt__",
                exp.LTE: "__le__"}  # fmt: skip
_FLIPPED = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
    exp.EQ: exp.EQ,
    exp.NEQ: exp.NEQ,
}


class _Unsupported(Exception):
    """The predicate needs the DuckDB fallback."""


def parse(predicate: str) -> exp.Expression:
    """``predicate`` parsed (DuckDB dialect); a syntax error is a ConfigError quoting it."""
    try:
        return sqlglot.parse_one(predicate, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        detail = exc.errors[0]["description"] if exc.errors else str(exc)
        raise ConfigError(
            f"Invalid filter `{predicate}`: {detail}.", hint="Write a SQL predicate, e.g. `amount > 10`."
        ) from None


def to_expression(predicate: str, schema: pa.Schema) -> ds.Expression | None:
    """A dataset expression for ``predicate``, or ``None`` when it is beyond simple comparisons."""
    node = parse(predicate)
    try:
        return _convert(node, schema)
    except _Unsupported:
        return None


def _convert(node: exp.Expression, schema: pa.Schema) -> ds.Expression:
    if isinstance(node, exp.Paren):
        return _convert(node.this, schema)
    if isinstance(node, exp.And):
        return _convert(node.left, schema) & _convert(node.right, schema)
    if isinstance(node, exp.Or):
        return _convert(node.left, schema) | _convert(node.right, schema)
    if isinstance(node, exp.Not):
        return ~_convert(node.this, schema)
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return _field(node.this, schema)[0].is_null()
    if type(node) in _COMPARISONS:
        left, right, op = node.left, node.right, type(node)
        if not isinstance(left, exp.Column):
            left, right, op = right, left, _FLIPPED[op]
        field, arrow_type = _field(left, schema)
        return getattr(field, _COMPARISONS[op])(_literal(right, arrow_type))
    if isinstance(node, exp.In) and not node.args.get("query"):
        field, arrow_type = _field(node.this, schema)
        return field.isin(pa.array([_literal(v, arrow_type).as_py() for v in node.expressions], arrow_type))
    if isinstance(node, exp.Between):
        field, arrow_type = _field(node.this, schema)
        return (field >= _literal(node.args["low"], arrow_type)) & (
            field <= _literal(node.args["high"], arrow_type)
        )
    raise _Unsupported


def _field(node: exp.Expression, schema: pa.Schema) -> tuple[ds.Expression, pa.DataType]:
    if not isinstance(node, exp.Column) or node.table:
        raise _Unsupported
    if node.name not in schema.names:
        raise UserError(
            f"Filter column `{node.name}` does not exist.", hint=f"Columns: {', '.join(schema.names)}."
        )
    return ds.field(node.name), schema.field(node.name).type


def _literal(node: exp.Expression, arrow_type: pa.DataType) -> pa.Scalar:
    if isinstance(node, exp.Cast) and isinstance(node.this, exp.Literal):
        node = node.this  # DATE '2024-01-01', TIMESTAMP '...': the column type decides
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        value = -decimal.Decimal(node.this.this)
    elif isinstance(node, exp.Literal):
        value = decimal.Decimal(node.this) if node.is_number else node.this
    elif isinstance(node, exp.Boolean):
        value = node.this
    else:
        raise _Unsupported
    if isinstance(value, decimal.Decimal) and (
        pa.types.is_integer(arrow_type) or pa.types.is_floating(arrow_type)
    ):
        value = (
            int(value)
            if value == value.to_integral_value() and pa.types.is_integer(arrow_type)
            else float(value)
        )
    try:
        return pc.cast(pa.scalar(value), arrow_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        raise _Unsupported from None


def table_reader(table: pa.Table, columns=None, predicate: str | None = None) -> pa.RecordBatchReader:
    """``table`` read as a store reads it: only ``columns`` (all when ``None``), filtered by ``predicate``."""
    if columns is not None:
        table = table.select(list(columns))
    reader = table.to_reader()
    return filter_with_duckdb(reader, predicate) if predicate else reader


def filter_with_duckdb(reader: pa.RecordBatchReader, predicate: str) -> pa.RecordBatchReader:
    """``reader`` filtered by any DuckDB predicate, streamed, with the original schema."""
    from meshkit.engines.duckdb import DuckDBEngine

    sql = parse(predicate).sql("duckdb")
    engine = DuckDBEngine()
    relation = engine.register_arrow(reader)
    try:
        out = engine.query(f"SELECT * FROM {relation.sql} WHERE {sql}")
    except engine.ERRORS as exc:
        engine.close()
        raise UserError(
            f"Cannot apply filter `{predicate}`: {exc}.", hint="Check the column names and types."
        ) from None

    def batches():
        try:
            yield from out
        finally:
            engine.close()

    return cast_reader(pa.RecordBatchReader.from_batches(out.schema, batches()), reader.schema)
