"""Profile a dataset: per-column statistics computed by DuckDB in one pass, and the checks it passes.

The DuckDB engine reads the dataset where it is (a DuckDB table in place, PostgreSQL and Parquet
through its scans); any other store streams its Arrow batches through DuckDB, which aggregates
them as they come (nothing is collected in Python). Per column: nulls,
approximate distinct values, min and max, quantiles of numbers, lengths of text, the most frequent
values and the most frequent shapes ("patterns": letters as ``a``, digits as ``9``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import UserError
from meshkit.engines import open_engine

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT",
            "FLOAT", "DOUBLE", "DECIMAL")  # fmt: skip
_TEMPORAL = ("DATE", "TIME", "TIMESTAMP")
_PATTERN = "regexp_replace(regexp_replace(CAST({c} AS VARCHAR), '[A-Za-z]', 'a', 'g'), '[0-9]', '9', 'g')"


@dataclass
class DatasetProfile:
    dataset: str
    rows: int
    #: One dict per column: name, type, kind (number, time, text, other), nulls, distinct, min, max, ...
    columns: list[dict[str, Any]] = field(default_factory=list)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _kind(type_name: str) -> str:
    upper = type_name.upper()
    if upper.startswith(_NUMERIC):
        return "number"
    if upper.startswith(_TEMPORAL):
        return "time"
    if upper in ("VARCHAR", "BOOLEAN", "UUID") or upper.startswith("ENUM"):
        return "text"
    return "other"


def _aggregates(name: str, kind: str) -> list[tuple[str, str]]:
    c = _q(name)
    out = [("nulls", f"count(*) - count({c})")]
    if kind == "other":
        return out
    out.append(("distinct", f"approx_count_distinct({c})"))
    if kind in ("number", "time"):
        out += [("min", f"min({c})"), ("max", f"max({c})")]
    if kind == "number":
        out += [("mean", f"avg({c})"), ("quantiles", f"quantile_cont({c}, {list(QUANTILES)})")]
    if kind == "text":
        out += [("min", f"min(CAST({c} AS VARCHAR))"), ("max", f"max(CAST({c} AS VARCHAR))"),
                ("min_length", f"min(length(CAST({c} AS VARCHAR)))"), ("max_length", f"max(length(CAST({c} AS VARCHAR)))"),
                ("top_values", f"approx_top_k(CAST({c} AS VARCHAR), 5)"),
                ("patterns", f"approx_top_k({_PATTERN.format(c=c)}, 3)")]  # fmt: skip
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    return value if value is None or isinstance(value, int | str | bool) else str(value)


def _profile(engine, relation: str, dataset: str, columns: list[tuple[str, str]]) -> DatasetProfile:
    plan = [
        (name, type_name, _kind(type_name), _aggregates(name, _kind(type_name)))
        for name, type_name in columns
    ]
    selects = ["count(*)"] + [expr for *_, aggs in plan for _, expr in aggs]
    row = engine.fetch_one(f"SELECT {', '.join(selects)} FROM {relation}")
    rows, values = row[0], iter(row[1:])
    profile = DatasetProfile(dataset, rows)
    for name, type_name, kind, aggs in plan:
        stats: dict[str, Any] = {"name": name, "type": type_name, "kind": kind}
        for key, _ in aggs:
            stats[key] = _jsonable(next(values))
        stats["null_percent"] = round(100.0 * stats["nulls"] / rows, 2) if rows else 0.0
        profile.columns.append(stats)
    return profile


def profile_dataset(meshkit: Meshkit, store_name: str, asset: str) -> DatasetProfile:
    """Profile ``asset`` of store ``store_name`` in one pass of the DuckDB engine."""
    dataset = f"{store_name}/{asset}"
    store = meshkit.store(store_name)
    if store.type == "duckdb" and not store.exists(asset) and "." not in asset:
        raise UserError(f"Dataset `{dataset}` does not exist.",
                        hint=f"`meshkit store assets {store_name}` lists what exists.")  # fmt: skip
    # NOTE: always DuckDB: the statistics use its functions (approx_top_k, quantile_cont).
    with open_engine(meshkit, "duckdb", stores=(store,)) as engine:
        relation = engine.relation(store, asset)
        try:
            return _profile(engine, relation.sql, dataset, engine.column_types(relation.sql))
        finally:
            relation.release()


def suggest_checks(profile: DatasetProfile) -> list[dict[str, Any]]:
    """A ``checks:`` list the profiled data passes today: row count, nulls, ranges, uniqueness, patterns."""
    checks: list[dict[str, Any]] = [{"type": "row_count", "min": 1 if profile.rows else 0}]
    for column in profile.columns:
        name = column["name"]
        if column["kind"] == "other":
            continue
        checks.append({"type": "missing_percent", "column": name, "max": _ceil(column["null_percent"])})
        if column["kind"] == "number" and column["min"] is not None:
            checks.append(
                {"type": "numeric_range", "column": name, "min": column["min"], "max": column["max"]}
            )
        if profile.rows and column["nulls"] == 0 and column["distinct"] == profile.rows:
            # NOTE: approx_count_distinct can be off by a few percent; the check itself counts exactly
            checks.append({"type": "duplicate_percent", "column": name, "max": 0})
        patterns = column.get("patterns") or []
        if column["kind"] == "text" and len(patterns) == 1:
            checks.append({"type": "regex", "column": name, "pattern": _regex(patterns[0])})
    return checks


def _ceil(percent: float) -> float:
    return float(math.ceil(percent)) if percent else 0.0


def _regex(pattern: str) -> str:
    """The regular expression of a shape: ``aa-99`` -> ``[A-Za-z]{2}-[0-9]{2}``."""
    out, i = [], 0
    while i < len(pattern):
        j = i
        while j < len(pattern) and pattern[j] == pattern[i]:
            j += 1
        char, count = pattern[i], j - i
        token = {"a": "[A-Za-z]", "9": "[0-9]"}.get(char) or _escape(char)
        out.append(token if count == 1 else f"{token}{{{count}}}")
        i = j
    return "".join(out)


def _escape(char: str) -> str:
    return "\\" + char if char in r".^$*+?()[]{}|\/" else char
