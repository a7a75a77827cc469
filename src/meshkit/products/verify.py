"""``product test``: check live data against each output port's contract.

Checks the schema (every contract column exists with a compatible type), the column constraints
(required, unique, primary key, lengths, ranges, patterns), the ODCS quality rules (library
metrics and SQL) and the freshness SLA on the workspace's engine, which reads the port where it
lies. The checks are built as sqlglot expressions in DuckDB's dialect, which the engine transpiles
into its own; every aggregate (the column constraints, the library metrics, a SQL rule that is one
aggregate over the port, the freshness) runs in one statement over one scan of the port, other SQL
rules each on their own (:meth:`meshkit.quality.scans.DatasetScans.values`, as for checks).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.transforms.base import quote
from meshkit.engines import open_engine
from meshkit.products.diff import seconds
from meshkit.products.spec import Column, OutputPort, QualityRule
from meshkit.quality.fold import fold_query
from meshkit.quality.scans import RELATION, DatasetScans, bounded

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

_LOGICAL = {
    "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t),
    "integer": pa.types.is_integer,
    "number": lambda t: pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t),
    "boolean": pa.types.is_boolean,
    "date": pa.types.is_date,
    "timestamp": pa.types.is_timestamp,
    "time": pa.types.is_time,
    "array": lambda t: pa.types.is_list(t) or pa.types.is_large_list(t),
    "object": lambda t: pa.types.is_struct(t) or pa.types.is_map(t),
}


@dataclass
class CheckResult:
    """Outcome of one contract check."""

    check: str
    passed: bool
    observed: Any = None
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "passed": self.passed,
            "observed": self.observed,
            "message": self.message,
        }


@dataclass
class PortReport:
    port: str
    dataset: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)


@contextlib.contextmanager
def port_scans(meshkit: Meshkit, dataset: str) -> Iterator[DatasetScans]:
    """The scans of ``dataset`` on the workspace's engine.

    The engine reads the port where it lies (a DuckDB table in place, PostgreSQL through its
    scanner, JDBC on Spark); a port it can only stream is read again for each query that cannot
    share the one scan, so no port is held whole in memory.
    """
    store_name, _, asset = dataset.partition("/")
    store = meshkit.store(store_name)
    with open_engine(meshkit, stores=(store,)) as engine, bounded(meshkit, engine):
        try:
            scans = DatasetScans(engine, store, asset)
        except Exception as exc:  # noqa: BLE001 - a missing port or an unreadable store
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"Cannot read `{dataset}`: {message}",
                            hint="Run the job or transfer that writes the port first.") from None  # fmt: skip
        try:
            yield scans
        finally:
            scans.close()


def compare(rule: QualityRule, value: Any) -> bool:
    """Whether ``value`` satisfies ``rule``'s operator."""
    op, operand = rule.operator()
    if value is None:
        return False
    return {
        "mustBe": lambda: value == operand,
        "mustNotBe": lambda: value != operand,
        "mustBeGreaterThan": lambda: value > operand,
        "mustBeGreaterOrEqualTo": lambda: value >= operand,
        "mustBeLessThan": lambda: value < operand,
        "mustBeLessOrEqualTo": lambda: value <= operand,
        "mustBeBetween": lambda: operand[0] <= value <= operand[1],
        "mustNotBeBetween": lambda: not operand[0] <= value <= operand[1],
    }[op]()


# ---------------------------------------------------------------------------- expressions (DuckDB's, transpiled
# by the engine into its dialect)


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _text(name: str) -> exp.Expression:
    return exp.cast(_col(name), exp.DataType.build("VARCHAR"))


def _count_where(condition: exp.Expression) -> exp.Expression:
    # NOTE: count(CASE ...), not count(*) FILTER (...): the same value in every engine's dialect
    return exp.Count(this=exp.Case(ifs=[exp.If(this=condition, true=exp.Literal.number(1))]))


def _value(value: Any) -> exp.Expression:
    return exp.Literal.string(value) if isinstance(value, str) else exp.convert(value)


def _distinct(names: list[str]) -> exp.Expression:
    """The number of distinct values of ``names`` (one column's nulls not counted, as ``count(DISTINCT x)``)."""
    if len(names) == 1:
        return exp.Count(this=exp.Distinct(expressions=[_col(names[0])]))
    fields = [
        exp.PropertyEQ(this=exp.to_identifier(f"c{i}"), expression=_col(n)) for i, n in enumerate(names)
    ]
    return exp.Count(this=exp.Distinct(expressions=[exp.Struct(expressions=fields)]))


def _metric(rule: QualityRule, column: str | None) -> exp.Expression:
    """A library metric as an aggregate over the port's rows."""
    args = rule.arguments or {}
    if rule.metric == "rowCount":
        return exp.Count(this=exp.Star())
    if rule.metric == "duplicateValues":
        names = list(args.get("properties", [])) or ([column] if column else [])
        if not names:
            raise ConfigError("duplicateValues on a whole port needs `arguments.properties`.")
        return _percent(rule, exp.Sub(this=exp.Count(this=exp.Star()), expression=_distinct(names)))
    if column is None:
        raise ConfigError(
            f"Metric `{rule.metric}` applies to a column; put the rule under the column's `quality`."
        )
    condition: exp.Expression = _col(column).is_(exp.null())
    if rule.metric == "missingValues":
        missing = [v for v in args.get("missingValues", [None, ""]) if v is not None]
        if missing:
            listed = exp.In(this=_text(column), expressions=[exp.Literal.string(str(v)) for v in missing])
            condition = exp.or_(condition, listed)
    elif rule.metric == "invalidValues":
        if "validValues" in args:
            valid = exp.In(
                this=_text(column), expressions=[exp.Literal.string(str(v)) for v in args["validValues"]]
            )
            bad = exp.not_(valid)
        elif "pattern" in args:
            bad = exp.not_(
                exp.RegexpFullMatch(this=_text(column), expression=exp.Literal.string(args["pattern"]))
            )
        else:
            raise ConfigError("invalidValues needs `arguments.validValues` or `arguments.pattern`.")
        condition = exp.and_(_col(column).is_(exp.null()).not_(), bad)
    return _percent(rule, _count_where(condition))


def _percent(rule: QualityRule, count: exp.Expression) -> exp.Expression:
    if (rule.unit or "rows") != "percent":
        return count
    share = exp.Mul(this=exp.paren(count), expression=exp.Literal.number("100.0"))
    return exp.Div(
        this=share,
        expression=exp.Greatest(this=exp.Count(this=exp.Star()), expressions=[exp.Literal.number(1)]),
    )


def _rule_sql(rule: QualityRule, relation: str, column: str | None) -> str:
    """A SQL rule's query (DuckDB's dialect) over ``relation``."""
    sql = (rule.query or "").rstrip().rstrip(";")
    for token in ("${table}", "{table}", "${object}", "{object}"):
        sql = sql.replace(token, relation)
    if column:
        for token in ("${column}", "{column}", "${property}", "{property}"):
            sql = sql.replace(token, quote(column))
    return sql


# ---------------------------------------------------------------------------- running them in one scan


@dataclass
class _Pending:
    """A value to compute: an aggregate of the one scan (``aggregate``, DuckDB SQL) or a query of its own."""

    aggregate: str | None = None
    query: str | None = None
    reads: int = 1
    value: Any = None


class _Batch:
    """The port's aggregates, computed in one statement over one scan; other queries each on their own."""

    def __init__(self, scans: DatasetScans):
        self.scans, self.pending = scans, []

    def aggregate(self, expression: exp.Expression | str) -> _Pending:
        sql = expression if isinstance(expression, str) else expression.sql(dialect="duckdb")
        self.pending.append(_Pending(aggregate=sql))
        return self.pending[-1]

    def rule(self, rule: QualityRule, column: str | None) -> _Pending:
        if rule.type != "sql":
            return self.aggregate(_metric(rule, column))
        query = _rule_sql(rule, RELATION, column)
        folded = fold_query(query, RELATION)
        if folded is not None:
            return self.aggregate(folded)
        self.pending.append(_Pending(query=query, reads=query.count(RELATION)))
        return self.pending[-1]

    def run(self) -> None:
        """Compute every value; a failed one holds its exception."""
        aggregates = [p for p in self.pending if p.aggregate is not None]
        queries = [p for p in self.pending if p.query is not None]
        values = self.scans.values([p.aggregate for p in aggregates], [(p.query, p.reads) for p in queries])
        for p, value in zip(aggregates + queries, values, strict=True):
            p.value = _number(value)


def _number(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _column_checks(batch: _Batch, schema: pa.Schema, column: Column) -> list:
    """The results of ``column``'s checks: each a ``CheckResult`` or a function of the batch's values."""
    name = column.name
    if name not in schema.names:
        return [CheckResult(f"{name}.exists", False, None, f"column `{name}` is missing from the data")]
    arrow_type = schema.field(name).type
    results: list = [CheckResult(f"{name}.exists", True, str(arrow_type))]
    if column.logicalType:
        ok = _LOGICAL[column.logicalType](arrow_type)
        results.append(CheckResult(f"{name}.logicalType", ok, str(arrow_type),
                                   "" if ok else f"expected {column.logicalType}, data has {arrow_type}"))  # fmt: skip
    col = _col(name)
    checks = []
    if column.required:
        checks.append(("required", _count_where(col.is_(exp.null())), "null value(s)"))
    if column.unique or column.primaryKey:
        checks.append(
            ("unique", exp.Sub(this=exp.Count(this=col), expression=_distinct([name])), "duplicate value(s)")
        )
    options = column.logicalTypeOptions or {}
    length = exp.Length(this=_text(name))
    for key, value, compare_ in (("minLength", length, exp.LT), ("maxLength", length, exp.GT), ("minimum", col, exp.LT),
                                 ("maximum", col, exp.GT), ("exclusiveMinimum", col, exp.LTE),
                                 ("exclusiveMaximum", col, exp.GTE)):  # fmt: skip
        if key in options:
            bad = compare_(this=value.copy(), expression=_value(options[key]))
            checks.append((key, _count_where(bad), "value(s) out of bounds"))
    if "pattern" in options:
        bad = exp.not_(
            exp.RegexpFullMatch(this=_text(name), expression=exp.Literal.string(options["pattern"]))
        )
        checks.append(("pattern", _count_where(bad), "value(s) not matching the pattern"))
    for label, expression, what in checks:
        results.append(_judged(f"{name}.{label}", batch.aggregate(expression), what))
    for rule in column.quality:
        results.append(_rule_result(batch, rule, name))
    return results


def _judged(check: str, pending: _Pending, what: str):
    def result() -> CheckResult:
        bad = pending.value
        if isinstance(bad, Exception):
            raise bad
        return CheckResult(check, bad == 0, bad, "" if bad == 0 else f"{bad:g} {what}")

    return result


def _rule_result(batch: _Batch, rule: QualityRule, column: str | None):
    label = rule.label(column)
    if not rule.checked:
        kind = "library `rule`" if rule.type == "library" else rule.type
        return CheckResult(label, True, None, f"{kind} rules are documentation only")
    try:
        pending = batch.rule(rule, column)
    except ConfigError as exc:  # a rule the contract got wrong is that rule's failure
        return CheckResult(label, False, None, f"query failed: {str(exc).splitlines()[0]}")

    def result() -> CheckResult:
        value = pending.value
        if isinstance(value, Exception):
            return CheckResult(label, False, None, f"query failed: {str(value).splitlines()[0]}")
        ok = compare(rule, value)
        op, operand = rule.operator()
        return CheckResult(label, ok, value, "" if ok else f"observed {value}, expected {op} {operand}")

    return result


def _freshness(batch: _Batch, schema: pa.Schema, port: OutputPort) -> list:
    results: list = []
    for sla in port.contract.slaProperties:
        if sla.property.lower() != "freshness":
            continue
        limit = seconds(sla.value, sla.unit)
        if limit is None or not sla.element or sla.element not in schema.names:
            results.append(
                CheckResult(
                    "freshness", False, None, "freshness needs a numeric value and an `element` column"
                )
            )
            continue
        newest = exp.Max(this=_col(sla.element))
        latest = batch.aggregate(exp.cast(newest, exp.DataType.build("VARCHAR")))
        age = batch.aggregate(
            f"epoch(current_timestamp) - epoch(CAST(max({quote(sla.element)}) AS TIMESTAMPTZ))"
        )
        results.append(_fresh(sla.element, latest, age, limit))
    return results


def _fresh(element: str, latest: _Pending, age: _Pending, limit: float):
    def result() -> CheckResult:
        for pending in (latest, age):
            if isinstance(pending.value, Exception):
                raise pending.value
        if latest.value is None:
            return CheckResult("freshness", False, None, "no rows")
        ok = age.value <= limit
        return CheckResult("freshness", ok, latest.value,
                           "" if ok else f"newest {element} is {age.value / 3600:.1f} h old, SLA {limit / 3600:g} h")  # fmt: skip

    return result


def check_port(meshkit: Meshkit, port: OutputPort) -> PortReport:
    """Every contract check of ``port`` against its live data, the aggregates of all in one scan of the port."""
    report = PortReport(port.name, port.dataset)
    with port_scans(meshkit, port.dataset) as scans:
        batch, schema, planned = _Batch(scans), scans.schema, []
        for column in port.contract.schema_:
            planned.extend(_column_checks(batch, schema, column))
        planned.extend(_rule_result(batch, rule, None) for rule in port.contract.quality)
        planned.extend(_freshness(batch, schema, port))
        batch.run()
    report.results = [r if isinstance(r, CheckResult) else r() for r in planned]
    return report
