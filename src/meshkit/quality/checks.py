"""Built-in check types of the ``checks:`` block, registered through ``register_check_types``.

A check turns into one SQL expression over the dataset (``{relation}``); the value it yields is
then judged in Python. Checks that are an aggregate of the rows (``aggregate``: every built-in one,
and a ``sql`` check whose query is one aggregate over the dataset with at most a ``WHERE``) share one
scan of the dataset, so a table is read once, as a stream, however many such checks it has; other
``sql`` checks scan it on their own. ``severity: warn`` reports a failing check as a warning.

>>> RowCount({"type": "row_count", "min": 1}).judge(0)[0]
'fail'
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl

_DATASET = re.compile(r"\{\{\s*(dataset|this)\s*\}\}")
#: What a ``sql`` check's dataset placeholder stands for while its query is folded.
_TOKEN = "__mk_dataset__"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _q(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _count_where(condition: str) -> str:
    # NOTE: count(CASE ...), not count(*) FILTER (...): the same value in every engine's dialect.
    return f"count(CASE WHEN {condition} THEN 1 END)"


def parse_duration(text: Any, where: str) -> timedelta:
    """``"24h"``, ``"30m"``, ``"7d"`` as a timedelta."""
    match = _DURATION.match(str(text))
    if not match:
        raise ConfigError(
            f"Cannot read the duration `{text}`.", where=where, hint="Write e.g. 30m, 24h or 7d."
        )
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


class Check:
    """Base of check types: ``type`` names it in YAML; ``expression`` gives its SQL, ``judge`` its status."""

    type: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ()

    def __init__(self, spec: dict[str, Any], where: str = "checks"):
        self.spec = spec
        self.where = where
        for key in self.required:
            if key not in spec:
                raise ConfigError(f"Check `{self.type}` needs `{key}`.", where=where)
        self.severity = str(spec.get("severity", "error")).lower()
        if self.severity not in ("warn", "error"):
            raise ConfigError(f"Unknown severity `{self.severity}`.", where=where, hint="Use warn or error.")

    @property
    def name(self) -> str:
        return self.spec.get("name") or "_".join(
            [self.type, *(str(self.spec[k]) for k in ("column",) if k in self.spec)]
        )

    def expression(self, relation: str) -> str:
        """A scalar SQL expression over ``relation`` whose value ``judge`` reads."""
        raise NotImplementedError

    def aggregate(self) -> str | None:
        """An aggregate over the dataset's rows giving the same value as ``expression``, or ``None``.

        Aggregates of all checks of a dataset run in one ``SELECT ... FROM`` the dataset: one scan.
        """
        return None

    def reads(self) -> int:
        """How many times ``expression`` reads the dataset."""
        return 1

    def judge(self, value: Any) -> tuple[str, str]:
        """``(status, message)``: status is pass or fail (``warn`` is applied by severity)."""
        raise NotImplementedError

    def _range(self, value: Any, label: str) -> tuple[str, str]:
        low, high = self.spec.get("min"), self.spec.get("max")
        if value is None:
            return "fail", f"{label} is null"
        if low is not None and value < low:
            return "fail", f"{label} {value} is below {low}"
        if high is not None and value > high:
            return "fail", f"{label} {value} is above {high}"
        return "pass", f"{label} {value}"


class RowCount(Check):
    """``row_count``: the number of rows lies in ``[min, max]``."""

    type = "row_count"

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        return "count(*)"

    def judge(self, value):
        return self._range(value, "row count")


class NumericRange(Check):
    """``numeric_range``: every non-null value of ``column`` lies in ``[min, max]``; value = rows outside."""

    type = "numeric_range"
    required = ("column",)

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        c, conds = _q(self.spec["column"]), []
        if self.spec.get("min") is not None:
            conds.append(f"{c} < {float(self.spec['min'])}")
        if self.spec.get("max") is not None:
            conds.append(f"{c} > {float(self.spec['max'])}")
        return _count_where(" OR ".join(conds) or "FALSE")

    def judge(self, value):
        return (
            "pass" if not value else "fail"
        ), f"{value} rows outside [{self.spec.get('min')}, {self.spec.get('max')}]"


class Regex(Check):
    """``regex``: every non-null value of ``column`` fully matches ``pattern``; value = rows that do not."""

    type = "regex"
    required = ("column", "pattern")

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        pattern = str(self.spec["pattern"]).replace("'", "''")
        c = _q(self.spec["column"])
        return _count_where(f"{c} IS NOT NULL AND NOT regexp_full_match(CAST({c} AS VARCHAR), '{pattern}')")

    def judge(self, value):
        return ("pass" if not value else "fail"), f"{value} values do not match /{self.spec['pattern']}/"


class MissingPercent(Check):
    """``missing_percent``: the share of nulls in ``column`` is at most ``max`` percent."""

    type = "missing_percent"
    required = ("column",)

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        c = _q(self.spec["column"])
        return f"coalesce(100.0 * {_count_where(f'{c} IS NULL')} / nullif(count(*), 0), 0)"

    def judge(self, value):
        limit = float(self.spec.get("max", 0))
        return ("pass" if value <= limit else "fail"), f"{value:.2f}% missing (max {limit}%)"


class DuplicatePercent(Check):
    """``duplicate_percent``: the share of rows repeating an earlier ``columns`` value is at most ``max`` percent."""

    type = "duplicate_percent"

    def __init__(self, spec, where="checks"):
        super().__init__(spec, where)
        cols = spec.get("columns") or ([spec["column"]] if "column" in spec else None)
        if not cols:
            raise ConfigError("Check `duplicate_percent` needs `columns` (or `column`).", where=where)
        self.columns = [cols] if isinstance(cols, str) else list(cols)

    @property
    def name(self) -> str:
        return self.spec.get("name") or f"duplicate_percent_{'_'.join(self.columns)}"

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        # NOTE: distinct values as SELECT DISTINCT counts them: a null is a value (count(DISTINCT x) skips it)
        if len(self.columns) == 1:
            c = _q(self.columns[0])
            distinct = f"count(DISTINCT {c}) + count(DISTINCT CASE WHEN {c} IS NULL THEN 1 END)"
        else:  # a struct of null fields is not null
            fields = ", ".join(f"'c{i}': {_q(c)}" for i, c in enumerate(self.columns))
            distinct = f"count(DISTINCT {{{fields}}})"
        return f"coalesce(100.0 * (count(*) - ({distinct})) / nullif(count(*), 0), 0)"

    def judge(self, value):
        limit = float(self.spec.get("max", 0))
        return ("pass" if value <= limit else "fail"), f"{value:.2f}% duplicates (max {limit}%)"


class Freshness(Check):
    """``freshness``: the newest ``column`` timestamp is younger than ``max_age`` (``24h``, ``7d``)."""

    type = "freshness"
    required = ("column", "max_age")

    def __init__(self, spec, where="checks"):
        super().__init__(spec, where)
        self.max_age = parse_duration(spec["max_age"], where)

    def expression(self, relation: str) -> str:
        return f"(SELECT {self.aggregate()} FROM {relation})"

    def aggregate(self) -> str:
        # NOTE: naive timestamps are taken as UTC, as DuckDB's epoch() does.
        return f"epoch(now()) - epoch(max({_q(self.spec['column'])}))"

    def judge(self, value):
        if value is None:
            return "fail", "no timestamp: the dataset is empty"
        age = timedelta(seconds=float(value))
        status = "pass" if age <= self.max_age else "fail"
        return status, f"newest row is {_human(age)} old (max {self.spec['max_age']})"


class Schema(Check):
    """``schema``: the dataset has ``columns`` (a list of names, or name -> type) and, with ``exact``, no others."""

    type = "schema"
    required = ("columns",)

    def expression(self, relation: str) -> str:
        return "NULL"

    def judge_columns(self, columns: list[tuple[str, str]]) -> tuple[str, str]:
        have = {n.lower(): t.upper() for n, t in columns}
        wanted = self.spec["columns"]
        wanted = dict.fromkeys(wanted) if isinstance(wanted, list) else dict(wanted)
        problems = []
        for name, col_type in wanted.items():
            if name.lower() not in have:
                problems.append(f"missing column {name}")
            elif col_type and have[name.lower()] != str(col_type).upper():
                problems.append(f"{name} is {have[name.lower()]}, expected {str(col_type).upper()}")
        if self.spec.get("exact"):
            problems += [f"unexpected column {n}" for n in have if n not in {w.lower() for w in wanted}]
        return ("fail", "; ".join(problems)) if problems else ("pass", f"{len(wanted)} columns as expected")

    def judge(self, value):
        raise NotImplementedError("schema checks are judged from the columns")


class CustomSQL(Check):
    """``sql``: ``query`` (with ``{{ dataset }}`` for the dataset) returns a number judged by ``min``/``max``,
    or, without them, must return 0 (a count of bad rows)."""

    type = "sql"
    required = ("query",)

    def expression(self, relation: str) -> str:
        return f"({_DATASET.sub(relation, self._query())})"

    def aggregate(self) -> str | None:
        # NOTE: sqlglot is loaded when a check runs, not at start-up
        from meshkit.quality.fold import fold_query

        return fold_query(_DATASET.sub(_TOKEN, self._query()), _TOKEN)

    def reads(self) -> int:
        return len(_DATASET.findall(self._query()))

    def _query(self) -> str:
        return str(self.spec["query"]).rstrip().rstrip(";")

    @property
    def name(self) -> str:
        return self.spec.get("name") or "sql"

    def judge(self, value):
        if "min" in self.spec or "max" in self.spec:
            return self._range(value, "value")
        return ("pass" if not value else "fail"), f"query returned {value}"


def _human(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"


BUILTIN_CHECKS = (
    RowCount,
    NumericRange,
    Regex,
    MissingPercent,
    DuplicatePercent,
    Freshness,
    Schema,
    CustomSQL,
)


@hookimpl
def register_check_types():
    return list(BUILTIN_CHECKS)


@hookimpl
def configure(config):
    config.add("check_memory_limit", "100MB", "Memory the engine may hold while checks or a contract verification run "
               "(DuckDB memory_limit); past it, DuckDB spills to .meshkit/tmp.")  # fmt: skip
