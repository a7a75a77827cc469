"""Fold a user's scalar query over a dataset into an aggregate of the dataset's one shared scan.

A check's or contract rule's SQL such as ``SELECT count(*) FROM {{ dataset }} WHERE amount > 100``
needs a scan of its own; written as ``count(CASE WHEN amount > 100 THEN 1 END)`` it joins the
other aggregates of the dataset in one ``SELECT ... FROM`` the dataset, so the dataset is read
once. Only queries whose meaning cannot change are folded: one ``SELECT`` of one aggregate
expression from the dataset alone, with at most a ``WHERE`` (no join, grouping, subquery,
window, ``LIMIT``...); a ``WHERE`` moves into aggregates that skip nulls.

>>> fold_query("SELECT count(*) FROM ds WHERE amount > 100", "ds")
'COUNT(CASE WHEN amount > 100 THEN 1 END)'
>>> fold_query("SELECT amount FROM ds LIMIT 1", "ds") is None
True
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

#: Aggregates that skip null inputs, so ``agg(x) ... WHERE c`` is ``agg(CASE WHEN c THEN x END)``.
_NULL_SKIPPING = (exp.Count, exp.Sum, exp.Avg, exp.Min, exp.Max)
#: Clauses that change what a query over the dataset returns beyond its ``WHERE``.
_CLAUSES = ("joins", "group", "having", "order", "limit", "offset", "qualify", "windows", "distinct", "with",
            "laterals", "pivots", "sample")  # fmt: skip


def fold_query(query: str, dataset: str, dialect: str = "duckdb") -> str | None:
    """``query`` (reading the relation named ``dataset``) as one aggregate over the dataset's rows, in
    ``dialect``; ``None`` when it must run on its own."""
    try:
        tree = sqlglot.parse_one(query, read=dialect)
    except sqlglot.errors.SqlglotError:
        return None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1:
        return None
    if any(tree.args.get(clause) for clause in _CLAUSES):
        return None
    source = tree.args.get("from") or tree.args.get("from_")
    table = source.this if source is not None else None
    if not isinstance(table, exp.Table) or table.name != dataset or table.db or table.args.get("joins"):
        return None
    value = tree.expressions[0]
    value = value.this if isinstance(value, exp.Alias) else value
    where = tree.args.get("where")
    if value.find(exp.Select, exp.Window) or (where is not None and where.find(exp.Select)):
        return None
    outer = [a for a in value.find_all(exp.AggFunc) if not a.find_ancestor(exp.AggFunc)]
    if not outer:
        return None
    value = value.copy()
    for column in value.find_all(exp.Column):
        column.set("table", None)
    if where is not None:
        condition = where.this.copy()
        for column in condition.find_all(exp.Column):
            column.set("table", None)
        for agg in [a for a in value.find_all(exp.AggFunc) if not a.find_ancestor(exp.AggFunc)]:
            if not _restrict(agg, condition):
                return None
    return value.sql(dialect=dialect)


def _restrict(agg: exp.AggFunc, condition: exp.Expression) -> bool:
    """Make ``agg`` see only the rows ``condition`` keeps; ``False`` when it cannot be done without a scan."""
    if not isinstance(agg, _NULL_SKIPPING):
        return False
    argument = agg.this
    if isinstance(argument, exp.Distinct):
        if len(argument.expressions) != 1:
            return False
        argument.set("expressions", [_when(condition, argument.expressions[0])])
        return True
    if argument is None or isinstance(argument, exp.Star):
        agg.set("this", _when(condition, exp.Literal.number(1)))
        return True
    agg.set("this", _when(condition, argument))
    return True


def _when(condition: exp.Expression, value: exp.Expression) -> exp.Expression:
    return exp.Case(ifs=[exp.If(this=condition.copy(), true=value)])
