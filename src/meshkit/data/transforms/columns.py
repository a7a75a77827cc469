"""Transforms that change which columns there are and their types: RemoveColumn, Rename, Cast."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import sqlglot
from sqlglot import exp

from meshkit.data.transforms.base import ColumnTransform, Transform, column


class RemoveColumn(Transform):
    """Drop ``columns``."""

    action = "RemoveColumn"

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        return exp.select(*[column(n) for n in schema.names if n not in self.columns]).from_(relation)

    def check(self, schema: pa.Schema) -> None:
        super().check(schema)
        if not set(schema.names) - set(self.columns):
            raise self.error("would remove every column", hint="Keep at least one column.")

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        return batch.drop_columns(self.columns)

    def label(self) -> str:
        return "RemoveColumn (removed)"


class Rename(Transform):
    """Rename columns: ``options`` maps each old name to its new name."""

    action = "Rename"
    NEEDS_COLUMNS = False

    def __init__(self, columns=(), options=None, name=None, **kw):
        self.OPTIONS = frozenset((options or {}).keys())
        super().__init__(columns or list((options or {}).keys()), options, name, **kw)
        if not self.options:
            raise self.error(
                "needs `options` mapping old names to new names",
                hint="Write e.g. `options: {email: contact}`.",
            )
        if set(self.columns) != set(self.options):
            raise self.error(
                "`columns` and the names in `options` differ", hint="Give `options: {old: new}` only."
            )

    def renames(self) -> dict[str, str]:
        return {old: str(new) for old, new in self.options.items()}

    def check(self, schema: pa.Schema) -> None:
        super().check(schema)
        names = [self.renames().get(n, n) for n in schema.names]
        clashes = sorted({n for n in names if names.count(n) > 1})
        if clashes:
            raise self.error(
                f"would give two columns the name {', '.join(clashes)}", hint="Choose other new names."
            )

    def select(self, relation: exp.Expression, schema: pa.Schema) -> exp.Select:
        mapping = self.renames()
        items = [
            exp.alias_(column(n), mapping[n], quoted=True) if n in mapping else column(n)
            for n in schema.names
        ]
        return exp.select(*items).from_(relation)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        mapping = self.renames()
        return batch.rename_columns([mapping.get(n, n) for n in batch.schema.names])

    def tags(self, schema: pa.Schema) -> dict[str, str]:
        return {new: f"Rename(from {old})" for old, new in self.renames().items()}


def duckdb_type_to_arrow(sql_type: str) -> pa.DataType:
    """The Arrow type DuckDB gives for a DuckDB SQL type; ``ValueError`` when it is not one."""
    from meshkit.engines.duckdb import DuckDBEngine

    with DuckDBEngine() as engine:
        try:
            return engine.arrow_type(sql_type)
        except engine.ERRORS as exc:
            raise ValueError(str(exc)) from None


class Cast(ColumnTransform):
    """Cast ``columns`` to the DuckDB SQL type ``options.type`` (``DECIMAL(12, 2)``, ``VARCHAR``...)."""

    action = "Cast"
    OPTIONS = frozenset({"type"})

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        text = str(self.options.get("type") or "")
        if not text:
            raise self.error("needs `options.type`", hint="Write e.g. `options: {type: DECIMAL(12, 2)}`.")
        try:
            self.data_type = exp.DataType.build(text, dialect="duckdb")
            self.sql_type = self.data_type.sql("duckdb")
            self.arrow_type = duckdb_type_to_arrow(self.sql_type)
        except (sqlglot.errors.ParseError, ValueError) as exc:
            raise self.error(f"`{text}` is not a type: {str(exc).splitlines()[0]}",
                             hint="Use a DuckDB type such as BIGINT, VARCHAR, DECIMAL(12, 2), TIMESTAMPTZ.") from None  # fmt: skip

    def label(self) -> str:
        return f"Cast({self.sql_type})"

    def column_sql(self, value: exp.Expression, field: pa.Field) -> exp.Expression:
        return exp.cast(value, self.data_type.copy())

    def column_array(self, array: pa.Array, field: pa.Field) -> pa.Array:
        target = self.arrow_type
        if pa.types.is_floating(array.type) and (pa.types.is_integer(target) or pa.types.is_decimal(target)):
            # NOTE: DuckDB rounds half away from zero where Arrow's safe cast would refuse.
            digits = target.scale if pa.types.is_decimal(target) else 0
            array = pc.round(array, ndigits=digits, round_mode="half_towards_infinity")
        if pa.types.is_integer(array.type) and pa.types.is_decimal(target):
            # NOTE: Arrow refuses int32 -> DECIMAL(10, 2) for the type's range; DuckDB checks the values.
            array = pc.cast(array, pa.decimal128(38, target.scale))
        return pc.cast(array, target)
