"""``product test``: check live data against each output port's contract.

Checks the schema (every contract column exists with a compatible type), the column constraints
(required, unique, primary key, lengths, ranges, patterns), the ODCS quality rules (library
metrics and SQL) and the freshness SLA. Each check runs as one query over the port on the
workspace's engine, which reads the port where it lies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.transforms.base import literal, quote
from meshkit.engines import Engine, open_engine
from meshkit.products.diff import seconds
from meshkit.products.spec import Column, OutputPort, QualityRule

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
def port_relation(meshkit: Meshkit, dataset: str) -> Iterator[tuple[Engine, str, pa.Schema]]:
    """The workspace's engine, the relation over ``dataset`` in it, and its Arrow schema.

    The engine reads the port where it lies (a DuckDB table in place, PostgreSQL through its
    scanner); a port it can only stream is copied once into a table of the engine, which spills
    to disk past its memory limit, so no port is held whole in memory.
    """
    store_name, _, asset = dataset.partition("/")
    store = meshkit.store(store_name)
    with open_engine(meshkit, stores=(store,)) as engine:
        try:
            relation = engine.relation(store, asset)
        except Exception as exc:  # noqa: BLE001 - a missing port or an unreadable store
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise UserError(f"Cannot read `{dataset}`: {message}",
                            hint="Run the job or transfer that writes the port first.") from None  # fmt: skip
        name, table = relation.sql, None
        try:
            if not relation.rescannable:
                name = table = engine.temp_name("port")
                engine.create_table_as(table, f"SELECT * FROM {relation.sql}")
            yield engine, name, relation.schema
        finally:
            if table is not None:
                engine.execute(f"DROP TABLE IF EXISTS {table}")
            relation.release()


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


def _metric_sql(rule: QualityRule, relation: str, column: str | None) -> str:
    args = rule.arguments or {}
    col = quote(column) if column else None
    if rule.metric == "rowCount":
        return f"SELECT count(*) FROM {relation}"
    if rule.metric == "duplicateValues":
        cols = [quote(c) for c in args.get("properties", [])] or ([col] if col else [])
        if not cols:
            raise ConfigError("duplicateValues on a whole port needs `arguments.properties`.")
        key = f"({', '.join(cols)})" if len(cols) > 1 else cols[0]
        count = f"count(*) - count(DISTINCT {key})"
        return f"SELECT {count}{_percent(rule)} FROM {relation}"
    if col is None:
        raise ConfigError(
            f"Metric `{rule.metric}` applies to a column; put the rule under the column's `quality`."
        )
    if rule.metric == "nullValues":
        condition = f"{col} IS NULL"
    elif rule.metric == "missingValues":
        missing = [v for v in args.get("missingValues", [None, ""]) if v is not None]
        listed = (
            f" OR CAST({col} AS VARCHAR) IN ({', '.join(literal(str(v)) for v in missing)})"
            if missing
            else ""
        )
        condition = f"{col} IS NULL{listed}"
    else:  # invalidValues
        if "validValues" in args:
            condition = f"{col} IS NOT NULL AND CAST({col} AS VARCHAR) NOT IN ({', '.join(literal(str(v)) for v in args['validValues'])})"
        elif "pattern" in args:
            condition = f"{col} IS NOT NULL AND NOT regexp_full_match(CAST({col} AS VARCHAR), {literal(args['pattern'])})"
        else:
            raise ConfigError("invalidValues needs `arguments.validValues` or `arguments.pattern`.")
    return f"SELECT count(*) FILTER (WHERE {condition}){_percent(rule)} FROM {relation}"


def _percent(rule: QualityRule) -> str:
    return " * 100.0 / greatest(count(*), 1)" if (rule.unit or "rows") == "percent" else ""


def _rule_sql(rule: QualityRule, relation: str, column: str | None) -> str:
    if rule.type == "sql":
        sql = rule.query or ""
        for token in ("${table}", "{table}", "${object}", "{object}"):
            sql = sql.replace(token, relation)
        if column:
            for token in ("${column}", "{column}", "${property}", "{property}"):
                sql = sql.replace(token, quote(column))
        return sql
    return _metric_sql(rule, relation, column)


def _scalar(engine: Engine, sql: str) -> Any:
    row = engine.fetch_one(engine.transpile(sql))
    value = row[0] if row else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def _column_checks(conn, relation: str, schema: pa.Schema, column: Column) -> list[CheckResult]:
    name = column.name
    if name not in schema.names:
        return [CheckResult(f"{name}.exists", False, None, f"column `{name}` is missing from the data")]
    arrow_type = schema.field(name).type
    results = [CheckResult(f"{name}.exists", True, str(arrow_type))]
    if column.logicalType:
        ok = _LOGICAL[column.logicalType](arrow_type)
        results.append(CheckResult(f"{name}.logicalType", ok, str(arrow_type),
                                   "" if ok else f"expected {column.logicalType}, data has {arrow_type}"))  # fmt: skip
    col = quote(name)
    checks = []
    if column.required:
        checks.append(("required", f"count(*) FILTER (WHERE {col} IS NULL)", "null value(s)"))
    if column.unique or column.primaryKey:
        checks.append(("unique", f"count({col}) - count(DISTINCT {col})", "duplicate value(s)"))
    options = column.logicalTypeOptions or {}
    text = f"CAST({col} AS VARCHAR)"
    for key, condition in (("minLength", f"length({text}) < {{v}}"), ("maxLength", f"length({text}) > {{v}}"),
                           ("minimum", f"{col} < {{v}}"), ("maximum", f"{col} > {{v}}"),
                           ("exclusiveMinimum", f"{col} <= {{v}}"), ("exclusiveMaximum", f"{col} >= {{v}}")):  # fmt: skip
        if key in options:
            value = options[key]
            value = literal(str(value)) if isinstance(value, str) else value
            checks.append(
                (key, f"count(*) FILTER (WHERE {condition.format(v=value)})", "value(s) out of bounds")
            )
    if "pattern" in options:
        checks.append(("pattern", f"count(*) FILTER (WHERE NOT regexp_full_match({text}, {literal(options['pattern'])}))",
                       "value(s) not matching the pattern"))  # fmt: skip
    for label, expression, what in checks:
        bad = _scalar(conn, f"SELECT {expression} FROM {relation}")
        results.append(CheckResult(f"{name}.{label}", bad == 0, bad, "" if bad == 0 else f"{bad:g} {what}"))
    for rule in column.quality:
        results.append(_run_rule(conn, relation, rule, name))
    return results


def _run_rule(conn, relation: str, rule: QualityRule, column: str | None) -> CheckResult:
    label = rule.label(column)
    if not rule.checked:
        kind = "library `rule`" if rule.type == "library" else rule.type
        return CheckResult(label, True, None, f"{kind} rules are documentation only")
    try:
        value = _scalar(conn, _rule_sql(rule, relation, column))
    except Exception as exc:  # noqa: BLE001 - the engine's error is the rule's result
        return CheckResult(label, False, None, f"query failed: {str(exc).splitlines()[0]}")
    ok = compare(rule, value)
    op, operand = rule.operator()
    return CheckResult(label, ok, value, "" if ok else f"observed {value}, expected {op} {operand}")


def _freshness(conn, relation: str, schema: pa.Schema, port: OutputPort) -> list[CheckResult]:
    results = []
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
        column = quote(sla.element)
        latest, age = conn.fetch_one(conn.transpile(
            f"SELECT CAST(max({column}) AS VARCHAR), epoch(current_timestamp) - epoch(CAST(max({column}) AS TIMESTAMPTZ)) "
            f"FROM {relation}"
        ))  # fmt: skip
        if latest is None:
            results.append(CheckResult("freshness", False, None, "no rows"))
            continue
        ok = age <= limit
        results.append(CheckResult("freshness", ok, latest,
                                   "" if ok else f"newest {sla.element} is {age / 3600:.1f} h old, SLA {limit / 3600:g} h"))  # fmt: skip
    return results


def check_port(meshkit: Meshkit, port: OutputPort) -> PortReport:
    """Every contract check of ``port`` against its live data."""
    report = PortReport(port.name, port.dataset)
    with port_relation(meshkit, port.dataset) as (conn, relation, schema):
        for column in port.contract.schema_:
            report.results.extend(_column_checks(conn, relation, schema, column))
        for rule in port.contract.quality:
            report.results.append(_run_rule(conn, relation, rule, None))
        report.results.extend(_freshness(conn, relation, schema, port))
    return report
