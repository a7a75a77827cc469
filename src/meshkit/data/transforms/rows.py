"""Transforms that choose rows: Filter (a SQL predicate) and Sample (a seeded fraction).

A Filter predicate is parsed and validated with sqlglot, then bound against the input schema by
the DuckDB engine before any data moves. The Arrow path translates it to a ``pyarrow.compute``
expression; predicates outside that subset (functions, casts of columns) are evaluated by an
in-memory DuckDB engine on each batch, so both paths always agree.
"""

from __future__ import annotations

import hashlib
import operator

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from meshkit.data.transforms.base import Transform, fragment, has_text, text_array, text_expression
from meshkit.data.transforms.base import column as column_node

_COMPARISONS = {exp.EQ: operator.eq, exp.NEQ: operator.ne, exp.GT: operator.gt, exp.GTE: operator.ge,
                exp.LT: operator.lt, exp.LTE: operator.le}  # fmt: skip
_ARITHMETIC = {exp.Add: pc.add, exp.Sub: pc.subtract, exp.Mul: pc.multiply}
_FORBIDDEN = (exp.Query, exp.Subquery, exp.Command, exp.Create, exp.Drop, exp.Insert, exp.Delete, exp.Update,
              exp.Alter, exp.Star, exp.Placeholder)  # fmt: skip


class _Untranslatable(Exception):
    pass


def _arrow_expression(node: exp.Expression, schema: pa.Schema):
    """``node`` as a pyarrow compute expression (or a scalar for literals)."""
    if isinstance(node, exp.Paren):
        return _arrow_expression(node.this, schema)
    if isinstance(node, exp.Column):
        if node.table or node.name not in schema.names:
            raise _Untranslatable
        return pc.field(node.name)
    if isinstance(node, exp.Literal):
        if node.is_string:
            return pa.scalar(node.this)
        text = node.this
        return pa.scalar(int(text)) if text.lstrip("-").isdigit() else pa.scalar(float(text))
    if isinstance(node, exp.Boolean):
        return pa.scalar(node.this)
    if isinstance(node, exp.Null):
        return pa.scalar(None)
    if isinstance(node, exp.Neg):
        return pc.negate(_arrow_expression(node.this, schema))
    if isinstance(node, exp.And | exp.Or):
        left, right = _arrow_expression(node.left, schema), _arrow_expression(node.right, schema)
        return pc.and_kleene(left, right) if isinstance(node, exp.And) else pc.or_kleene(left, right)
    if isinstance(node, exp.Not):
        return pc.invert(_arrow_expression(node.this, schema))
    if isinstance(node, exp.Is) and isinstance(node.expression, exp.Null):
        return pc.is_null(_arrow_expression(node.this, schema))
    if type(node) in _COMPARISONS:
        left, right = _typed_pair(node.left, node.right, schema)
        return _COMPARISONS[type(node)](left, right)
    if type(node) in _ARITHMETIC:
        left, right = _typed_pair(node.left, node.right, schema)
        return _ARITHMETIC[type(node)](left, right)
    if isinstance(node, exp.Between):
        low = _typed_pair(node.this, node.args["low"], schema)
        high = _typed_pair(node.this, node.args["high"], schema)
        return pc.and_kleene(low[0] >= low[1], high[0] <= high[1])
    if isinstance(node, exp.In) and not node.args.get("query"):
        column = node.this
        values = [_typed_pair(column, v, schema)[1] for v in node.expressions]
        if not isinstance(column, exp.Column) or any(
            not isinstance(v, pa.Scalar) or not v.is_valid for v in values
        ):
            raise _Untranslatable
        field = _arrow_expression(column, schema)
        value_set = pa.array([v.as_py() for v in values], type=values[0].type)
        return pc.if_else(
            pc.is_null(field), pa.scalar(None, pa.bool_()), pc.is_in(field, value_set=value_set)
        )
    if isinstance(node, exp.Like | exp.ILike) and isinstance(node.expression, exp.Literal):
        if node.args.get("escape"):
            raise _Untranslatable
        return pc.match_like(_arrow_expression(node.this, schema), node.expression.this,
                             ignore_case=isinstance(node, exp.ILike))  # fmt: skip
    raise _Untranslatable


def _typed_pair(left: exp.Expression, right: exp.Expression, schema: pa.Schema):
    """Both operands, a literal cast to the type of the column it meets (as DuckDB does)."""
    a, b = _arrow_expression(left, schema), _arrow_expression(right, schema)
    for column, other, swap in ((left, b, False), (right, a, True)):
        if isinstance(column, exp.Column) and isinstance(other, pa.Scalar) and other.is_valid:
            target = schema.field(column.name).type
            if other.type != target and not (pa.types.is_integer(target) and pa.types.is_integer(other.type)):
                try:
                    other = other.cast(target)
                except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                    raise _Untranslatable from None
                a, b = (other, b) if swap else (a, other)
    return a, b


class Filter(Transform):
    """Keep the rows where ``options.predicate`` (a SQL boolean expression, DuckDB dialect) is true."""

    action = "Filter"
    OPTIONS = frozenset({"predicate"})
    NEEDS_COLUMNS = False

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        self.predicate = str(self.options.get("predicate") or "").strip()
        if not self.predicate:
            raise self.error("needs `options.predicate`", hint="Write e.g. `predicate: amount > 100`.")
        self.expression = self._parse()
        self._engine = None

    def _parse(self) -> exp.Expression:
        try:
            parsed = [e for e in sqlglot.parse(self.predicate, read="duckdb") if e is not None]
        except sqlglot.errors.SqlglotError as exc:
            errors = getattr(exc, "errors", None)
            detail = errors[0]["description"] if errors else str(exc).splitlines()[0]
            raise self.error(
                f"invalid predicate `{self.predicate}`: {detail}", hint="Write one SQL boolean expression."
            ) from None
        if len(parsed) != 1:
            raise self.error(
                f"invalid predicate `{self.predicate}`: expected one expression", hint="Remove the `;`."
            )
        expression = parsed[0]
        bad = next((n for n in expression.walk() if isinstance(n, _FORBIDDEN)), None)
        if bad is not None:
            raise self.error(f"invalid predicate `{self.predicate}`: `{bad.sql('duckdb')}` is not allowed in a filter",
                             hint="A filter is one boolean expression over the columns, without subqueries or `*`.")  # fmt: skip
        return expression

    @property
    def sql(self) -> str:
        return self.expression.sql("duckdb")

    def label(self) -> str:
        return f"Filter({self.predicate})"

    def tags(self, schema: pa.Schema) -> dict[str, str]:
        return {"*": self.label()}

    def check(self, schema: pa.Schema) -> None:
        missing = sorted({c.name for c in self.expression.find_all(exp.Column)} - set(schema.names))
        if missing:
            raise self.error(f"predicate `{self.predicate}` names unknown column(s) {', '.join(missing)}",
                             hint=f"Available columns: {', '.join(schema.names)}.")  # fmt: skip
        # NOTE: one row of nulls, not an empty table, so that DuckDB evaluates constant casts.
        nulls = pa.table({f.name: pa.nulls(1, f.type) for f in schema})
        try:
            with _local() as engine:
                _filtered(engine, nulls, self.sql)
        except ValueError as exc:
            raise self.error(
                f"invalid predicate `{self.predicate}`: {exc}", hint="Fix the expression."
            ) from None

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        return exp.select("*").from_(relation).where(self.expression.copy())

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        try:
            expression = _arrow_expression(self.expression, batch.schema)
        except _Untranslatable:
            if self._engine is None:
                self._engine = _local()
            table = _filtered(self._engine, batch, self.sql)
            return pa.RecordBatch.from_arrays([table.column(i).combine_chunks() for i in range(table.num_columns)],
                                              schema=batch.schema)  # fmt: skip
        if isinstance(expression, pa.Scalar):
            return batch if expression.as_py() else batch.slice(0, 0)
        return batch.filter(expression)


def _local():
    """An in-memory DuckDB engine (imported here: the engines import the transforms)."""
    from meshkit.engines.duckdb import DuckDBEngine

    return DuckDBEngine()


def _filtered(engine, rows: pa.Table | pa.RecordBatch, predicate: str) -> pa.Table:
    """The rows of ``rows`` where the DuckDB ``predicate`` holds; ``ValueError`` with DuckDB's first line."""
    relation = engine.register_arrow(pa.RecordBatchReader.from_batches(rows.schema, rows.to_batches()
                                                                       if isinstance(rows, pa.Table) else [rows]))  # fmt: skip
    try:
        return engine.query(f"SELECT * FROM {relation.sql} WHERE {predicate}").read_all()
    except engine.ERRORS as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    finally:
        relation.release()


_NULL_KEY = "\x01"
_SEPARATOR = "\x1f"


class Sample(Transform):
    """Keep a seeded, reproducible ``options.fraction`` of the rows.

    A row is kept when the MD5 of its key (``options.seed`` and the canonical text of ``columns``,
    default all columns that have one) falls below the fraction: the same rows are chosen on every
    run and by both paths, whatever the batch sizes or the order of the rows.
    """

    action = "Sample"
    OPTIONS = frozenset({"fraction", "seed"})
    NEEDS_COLUMNS = False

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        try:
            self.fraction = float(self.options.get("fraction", ""))
            self.seed = str(int(self.options.get("seed", 0)))
        except ValueError:
            raise self.error("`fraction` must be a number and `seed` a whole number",
                             hint="Write e.g. `fraction: 0.1` and `seed: 42`.") from None  # fmt: skip
        if not 0 < self.fraction <= 1:
            raise self.error(f"`fraction` must be in (0, 1], got {self.fraction}")
        self.threshold = min(int(self.fraction * 2**64), 2**64 - 1)

    def label(self) -> str:
        return f"Sample({self.fraction}, seed {self.seed})"

    def tags(self, schema: pa.Schema) -> dict[str, str]:
        return {"*": self.label()}

    def _keys(self, schema: pa.Schema) -> list[str]:
        return self.columns or [f.name for f in schema if has_text(f.type)]

    def check(self, schema: pa.Schema) -> None:
        super().check(schema)
        keys = self._keys(schema)
        if not keys:
            raise self.error(
                "no column can serve as the sampling key", hint="List key `columns` (after a Cast if needed)."
            )
        bad = [k for k in keys if not has_text(schema.field(k).type)]
        if bad:
            raise self.error(
                f"column(s) {', '.join(bad)} cannot be a sampling key", hint="Cast them to VARCHAR first."
            )

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        query = exp.select("*").from_(relation)
        if self.fraction == 1:
            return query
        key: exp.Expression = exp.Literal.string(self.seed)
        for name in self._keys(schema):
            text = fragment(
                "coalesce(x, chr(1))", x=text_expression(column_node(name), schema.field(name).type)
            )
            key = fragment("k || chr(31) || t", k=key, t=text)
        number = exp.Anonymous(this="md5_number_upper", expressions=[key])
        return query.where(exp.LT(this=number, expression=exp.Literal.number(self.threshold)))

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if self.fraction == 1 or batch.num_rows == 0:
            return batch
        texts = [pc.fill_null(text_array(batch.column(k)), _NULL_KEY) for k in self._keys(batch.schema)]
        seed = pa.array([self.seed] * batch.num_rows, pa.string())
        keys = pc.binary_join_element_wise(seed, *texts, _SEPARATOR).to_pylist()
        mask = [int.from_bytes(hashlib.md5(k.encode()).digest()[:8], "little") < self.threshold for k in keys]
        return batch.filter(pa.array(mask, pa.bool_()))
