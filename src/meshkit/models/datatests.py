"""Data tests: generic (``not_null``, ``unique``, ``accepted_values``, ``relationships``, project-defined)
and singular SQL tests, with dbt's severity and ``warn_if``/``error_if`` thresholds.

The tests of one model run as one SQL statement (``not_null`` checks share one scan) and are
still reported one by one. A statement that fails is retried test by test to name the culprit.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import MeshkitError
from meshkit.engines.duckdb import DuckDBEngine
from meshkit.models.compile import compile_node, strip_sql
from meshkit.models.configuration import merge_config
from meshkit.models.context import RenderState
from meshkit.models.nodes import CteRelation, Node
from meshkit.models.properties import BUILTIN_TESTS
from meshkit.models.warehouse import Warehouse

if TYPE_CHECKING:
    from meshkit.models.project import Project

_CONDITION = re.compile(r"^\s*(==|=|!=|<>|>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")
_OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, "<>": operator.ne, ">=": operator.ge,
        "<=": operator.le, ">": operator.gt, "<": operator.lt}  # fmt: skip


@dataclass
class TestOutcome:
    """The result of one data test."""

    status: str  # pass, warn, fail, error
    failures: int | None = None
    message: str = ""
    sql: str = ""
    #: A few failing rows (column names, rows) of a test that failed or warned.
    sample: tuple[list[str], list[tuple]] | None = None


def _relation(project: Project, node: Node) -> str:
    attached = node.test["attached"]
    target = project.nodes.get(attached)
    if target is not None and target.materialized == "ephemeral":
        return f"({target.compiled}) AS __dbt__cte__{target.name}"
    return str(project.relation_of(attached))


def _with_where(node: Node, rel: Any) -> Any:
    """``rel`` narrowed by the test's ``where`` config, as dbt wraps it."""
    where = node.config.get("where")
    return f"(select * from {rel} where {where}) dbt_subquery" if where else rel


def test_sql(project: Project, node: Node, warehouse: Warehouse | None = None) -> str:
    """The query whose rows are the failures of ``node`` (dbt's generic test SQL)."""
    if node.test is None:
        if node.needs_execute and warehouse is not None:
            return strip_sql(compile_node(project, node, project.render(node, warehouse=warehouse)))
        return strip_sql(node.compiled)
    t = node.test
    name, col, kw = t["name"], t["column_name"], t["kwargs"]
    if t.get("namespace") or name not in BUILTIN_TESTS:
        target = project.nodes.get(t["attached"])
        if target is not None and target.materialized == "ephemeral":
            relation = CteRelation(None, "", f"__dbt__cte__{target.name}")
        else:
            relation = project.relation_of(t["attached"])
        return _macro_test_sql(project, node, _with_where(node, relation), warehouse)
    model = _with_where(node, _relation(project, node))
    if name == "not_null":
        return f"select {col} from {model} where {col} is null"
    if name == "unique":
        return f"select {col} as unique_field, count(*) as n_records from {model} where {col} is not null group by {col} having count(*) > 1"
    if name == "accepted_values":
        quote_values = kw.get("quote", True)
        values = ", ".join(
            "'" + str(v).replace("'", "''") + "'" if quote_values else str(v) for v in kw.get("values", [])
        )
        return (f"with all_values as (select {col} as value_field, count(*) as n_records from {model} group by {col}) "
                f"select * from all_values where value_field not in ({values})")  # fmt: skip
    if name == "relationships":
        return (f"with child as (select {col} as from_field from {model} where {col} is not null), "
                f"parent as (select {kw['field']} as to_field from {kw['to']}) "
                "select from_field from child left join parent on child.from_field = parent.to_field where parent.to_field is null")  # fmt: skip


def _macro_test_sql(project: Project, node: Node, model: Any, warehouse: Warehouse | None = None) -> str:
    """Render the test's macro (a project's or a package's) with its arguments rendered as dbt does.

    A ``config(...)`` in the macro sits between the project's defaults and the test's YAML config;
    an ephemeral model under test is a CTE, as in dbt.
    """
    state, sql = _render_test_macro(project, node, model, warehouse)
    sql = compile_node(project, node, sql)
    if state.config:
        node.config = merge_config(merge_config(node.config, state.config), node.test.get("config") or {})
    return sql


def _render_test_macro(
    project: Project, node: Node, model: Any, warehouse: Warehouse | None
) -> tuple[RenderState, str]:
    t, r = node.test, project.renderer
    state = RenderState(
        node, project._final_ref, project._source, execute=warehouse is not None, warehouse=warehouse
    )
    args = r.native(t["kwargs"], node.original_file_path, state)
    args["model"] = model
    if t["column_name"] is not None:
        args["column_name"] = t["column_name"]
    macro = r.find_macro(f"test_{t['name']}", t.get("namespace"))
    return state, str(r.call_macro(macro, state, **args))


def apply_macro_config(project: Project, node: Node) -> None:
    """Render the test's macro as dbt parses it (``execute`` false) so that its ``config(...)`` call
    (a package test's ``severity``, ``fail_calc``) is part of the node's configuration from the start,
    under the test's own YAML config."""
    state, _ = _render_test_macro(project, node, project.relation_of(node.test["attached"]), None)
    if state.config:
        own = node.test.get("config") or {}
        node.config = merge_config(merge_config(node.config, state.config), own)
        node.unrendered_config = merge_config(
            merge_config(node.unrendered_config, state.config, written=True), own, written=True
        )


def _failure_expr(node: Node, sql: str) -> str:
    limit = node.config.get("limit")
    fail_calc = node.config.get("fail_calc") or "count(*)"
    return (
        f"(select {fail_calc} from ({sql}{f' limit {limit}' if limit is not None else ''}) dbt_internal_test)"
    )


def _holds(failures: Any, condition: str, cur) -> bool:
    match = _CONDITION.match(str(condition))
    if match:
        return _OPS[match.group(1)](failures or 0, float(match.group(2)))
    value = "null" if failures is None else repr(failures)
    return bool(cur.execute(f"select {value} {condition}").fetchone()[0])


def outcome(node: Node, failures: Any, sql: str, cur) -> TestOutcome:
    """dbt's status for ``failures``: error severity fails on ``error_if``, then ``warn_if`` warns."""
    severity = str(node.config.get("severity", "error")).lower()
    failures = int(failures) if isinstance(failures, int | float) else failures
    if severity == "error" and _holds(failures, node.config.get("error_if", "!= 0"), cur):
        return TestOutcome(
            "fail",
            failures,
            f"Got {failures} result{'s' if failures != 1 else ''}, configured to fail if {node.config.get('error_if', '!= 0')}",
            sql,
            _sample(sql, cur),
        )
    if _holds(failures, node.config.get("warn_if", "!= 0"), cur):
        return TestOutcome(
            "warn",
            failures,
            f"Got {failures} result{'s' if failures != 1 else ''}, configured to warn if {node.config.get('warn_if', '!= 0')}",
            sql,
            _sample(sql, cur),
        )
    return TestOutcome("pass", failures, "", sql)


def _sample(sql: str, cur, limit: int = 5) -> tuple[list[str], list[tuple]] | None:
    """The first ``limit`` rows the test's query returns (what it found wrong)."""
    try:
        result = cur.execute(f"select * from ({sql}) dbt_internal_test limit {limit}")
        return [d[0] for d in result.description], result.fetchall()
    except (*DuckDBEngine.ERRORS, MeshkitError):
        return None


def _batchable(node: Node) -> bool:
    c = node.config
    return (node.test is not None and node.test["name"] == "not_null" and not c.get("where") and c.get("limit") is None
            and (c.get("fail_calc") or "count(*)") == "count(*)")  # fmt: skip


def run_tests(project: Project, wh: Warehouse, tests: list[Node]) -> dict[str, TestOutcome]:
    """Run ``tests`` in as few statements as possible; one outcome per test."""
    results: dict[str, TestOutcome] = {}
    exprs: list[tuple[Node, str, str]] = []
    scans: dict[str, list[tuple[Node, str]]] = {}
    for node in tests:
        try:
            sql = test_sql(project, node, wh)
        except (MeshkitError, *DuckDBEngine.ERRORS) as exc:
            results[node.unique_id] = TestOutcome("error", None, str(exc))
            continue
        if _batchable(node):
            scans.setdefault(_relation(project, node), []).append((node, sql))
        else:
            exprs.append((node, sql, _failure_expr(node, sql)))
    cur = wh.cursor()
    selects, order = [], []
    froms = []
    for i, (rel, group) in enumerate(scans.items()):
        cols = ", ".join(
            f"count(*) filter (where {n.test['column_name']} is null) as f{i}_{j}"
            for j, (n, _) in enumerate(group)
        )
        froms.append(f"(select {cols} from {rel}) as s{i}")
        for j, (n, sql) in enumerate(group):
            selects.append(f"s{i}.f{i}_{j}")
            order.append((n, sql))
    for j, (n, sql, expr) in enumerate(exprs):
        selects.append(f"{expr} as e{j}")
        order.append((n, sql))
    if not selects:
        return results
    statement = f"select {', '.join(selects)}" + (f" from {', '.join(froms)}" if froms else "")
    try:
        row = cur.execute(statement).fetchone()
    except (*DuckDBEngine.ERRORS, MeshkitError):
        row = None
    if row is not None:
        for (n, sql), failures in zip(order, row, strict=True):
            results[n.unique_id] = outcome(n, failures, sql, cur)
        return results
    for n, sql in order:  # the batch failed: find which test is broken
        try:
            failures = cur.execute(f"select {_failure_expr(n, sql)}").fetchone()[0]
            results[n.unique_id] = outcome(n, failures, sql, cur)
        except (*DuckDBEngine.ERRORS, MeshkitError) as exc:
            results[n.unique_id] = TestOutcome(
                "error", None, f"{type(exc).__name__}: {exc}".replace("\n", " "), sql
            )
    return results
