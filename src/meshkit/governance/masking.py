"""A decision's actions as data-plane transforms: one SQL projection for DuckDB, one Arrow path.

``RemoveColumn`` drops the column, ``RedactColumn`` becomes ``Redact`` (fixed ``***``, nulls stay
null), ``DigestColumn`` becomes ``Digest`` (sha256 of the canonical text), ``FilterRows`` keeps the
rows its predicate holds for. Columns without a canonical text (floats, nested types) are cast
to text first, so a mask never fails open.
"""

from __future__ import annotations

import pyarrow as pa
import sqlglot
from sqlglot import exp

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.transforms.base import has_text, literal, quote
from meshkit.data.transforms.columns import Cast, RemoveColumn
from meshkit.data.transforms.masking import Digest, Redact
from meshkit.data.transforms.rows import Filter
from meshkit.governance.decision import Decision

#: What ``RedactColumn`` turns every non-null value into.
REDACTED = Redact(["*"]).value
_COLUMN_TRANSFORMS = {
    "RedactColumn": lambda cols: Redact(cols),
    "DigestColumn": lambda cols: Digest(cols, {"algo": "sha256"}),
}


def decision_transforms(decision: Decision, schema: pa.Schema) -> list:
    """The data-plane transforms applying ``decision`` to data of ``schema``, in order.

    Row filters come first (they may read columns that are then removed or masked); columns
    without a canonical text are cast to text before they are masked.
    """
    chosen = decision.column_actions()
    names = {n.lower(): n for n in schema.names}
    grouped: dict[str, list[str]] = {}
    for column, action in chosen.items():
        if column in names:
            grouped.setdefault(action, []).append(names[column])
    transforms: list = []
    if where := predicate_sql(decision):
        transforms.append(Filter(options={"predicate": where}))
    masked = [c for action, cols in grouped.items() if action != "RemoveColumn" for c in cols]
    if untextual := [c for c in masked if not has_text(schema.field(c).type)]:
        transforms.append(Cast(untextual, {"type": "VARCHAR"}))
    if removed := grouped.pop("RemoveColumn", None):
        transforms.append(RemoveColumn(removed))
    for action, cols in sorted(grouped.items()):
        transforms.append(_COLUMN_TRANSFORMS[action](cols))
    return transforms


def constant_columns(decision: Decision, schema: pa.Schema) -> dict[str, str]:
    """``{column: value}`` for the columns ``decision`` masks to one value on every row.

    A redacted column that cannot hold nulls (declared ``NOT NULL``, or none in the data) reads
    as the fixed redaction text everywhere, so neither path needs to read it.
    """
    chosen = decision.column_actions()
    return {field.name: REDACTED for field in schema
            if not field.nullable and chosen.get(field.name.lower()) == "RedactColumn"}  # fmt: skip


def predicate_sql(decision: Decision) -> str | None:
    """The ``FilterRows`` predicates, and-ed, checked to be one DuckDB boolean expression each."""
    parts = []
    for predicate in decision.predicates():
        try:
            parsed = sqlglot.parse_one(predicate, read="duckdb")
        except sqlglot.errors.ParseError as exc:
            raise ConfigError(f"A policy's FilterRows predicate `{predicate}` is not SQL: {exc.errors[0]['description']}.",
                              hint="Write a DuckDB boolean expression over the dataset's columns.") from None  # fmt: skip
        if isinstance(parsed, exp.Query) or parsed.find(exp.Query):
            raise ConfigError(f"A FilterRows predicate may not hold a query: `{predicate}`.")
        parts.append(f"({parsed.sql('duckdb')})")
    return " AND ".join(parts) or None


def masked_sql(relation: str, schema: pa.Schema, decision: Decision) -> str:
    """``SELECT`` over ``relation`` (a name or subquery) applying every action of ``decision``.

    With a row filter, every column reads ``CASE WHEN <filter> THEN column END``: DuckDB may
    evaluate the reader's own conditions (pushed down into this query) before the filter, in any
    order, so a condition failing on a hidden row (a cast, a regular expression) must find no
    value there to put in its error message.
    """
    chosen = decision.column_actions()
    constants = constant_columns(decision, schema)
    where = predicate_sql(decision)
    items = []
    for field in schema:
        action, name = chosen.get(field.name.lower()), quote(field.name)
        column = f"CASE WHEN {where} THEN {name} END" if where else name
        if action == "RemoveColumn":
            continue
        if action is None:
            items.append(f"{column} AS {name}" if where else name)
            continue
        if field.name in constants:  # a constant: DuckDB need not read the column at all
            items.append(f"{literal(constants[field.name])} AS {name}")
            continue
        if not has_text(field.type):
            column, field = f"CAST({column} AS VARCHAR)", pa.field(field.name, pa.string())
        transform = _COLUMN_TRANSFORMS[action]([field.name])
        value = transform.column_sql(sqlglot.parse_one(column, read="duckdb"), field)
        items.append(f"{value.sql(dialect='duckdb')} AS {name}")
    if not items:
        raise UserError(
            f"Every column of `{decision.dataset}` is removed by policy.", hint="Ask for a different purpose."
        )
    return f"SELECT {', '.join(items)} FROM {relation}" + (f" WHERE {where}" if where else "")


def masked_schema(schema: pa.Schema, decision: Decision) -> pa.Schema:
    """The schema a reader sees after ``decision`` (removed columns gone, masked ones as text)."""
    chosen = decision.column_actions()
    fields = []
    for field in schema:
        action = chosen.get(field.name.lower())
        if action == "RemoveColumn":
            continue
        fields.append(field if action is None else pa.field(field.name, pa.string()))
    return pa.schema(fields)
