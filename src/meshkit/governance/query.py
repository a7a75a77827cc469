"""Governed SQL: a query over catalog datasets, rewritten so it can only see what policies allow.

The query is parsed with sqlglot and its scopes are analysed; every reference to a real table
(not a CTE) is replaced by a subquery that applies the decision for that dataset: removed
columns are absent, redacted and digested ones are masked, row filters apply. Because the
replacement happens at the source, no ``SELECT *``, alias, subquery, CTE, join, ``UNION`` or
function over a column can reach the clear values. Views are expanded and governed in turn.
Table functions and file-reading functions are refused.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError
from sqlglot.optimizer.scope import Scope, traverse_scope

from meshkit.core.errors import ConfigError, MeshkitError, UserError
from meshkit.governance.decision import Decision, Subject
from meshkit.governance.governor import Governor
from meshkit.governance.masking import masked_sql
from meshkit.governance.sources import Source, Sources, TimeTravel

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

#: Function name prefixes that read files, settings or other databases, or put values in errors.
DENIED_FUNCTION_PREFIXES = ("read_", "query", "getenv", "current_setting", "glob", "duckdb_", "pragma_", "iceberg_",
                            "parquet_", "delta_", "sniff_", "sqlite_", "postgres_", "mysql_", "which_secret", "load_",
                            "error")  # fmt: skip
MAX_VIEW_DEPTH = 8
PLAN_CACHE_SIZE = 1024
_GOVERNED = "meshkit_governed"


@dataclass
class QueryPlan:
    """A rewritten query, the decisions it applies, and the data to register before running it."""

    sql: str
    decisions: list[Decision] = field(default_factory=list)
    sources: dict[str, Source] = field(default_factory=dict)


def _refuse(message: str, hint: str | None = None) -> UserError:
    return UserError(f"Governed query refused: {message}", hint=hint)


def check_functions(tree: exp.Expression) -> None:
    """Refuse functions that read files, settings or other databases (by name prefix)."""
    for func in tree.find_all(exp.Func):
        name = (func.name if isinstance(func, exp.Anonymous) else func.sql_name()).lower()
        if name.startswith(DENIED_FUNCTION_PREFIXES):
            raise _refuse(f"function `{name}` is not allowed.", hint="Query catalog datasets by name.")


def _time_travel(table: exp.Table) -> TimeTravel | None:
    version, when = table.args.get("version"), table.args.get("when")
    if version is not None:
        table.set("version", None)
        kind, value = str(version.this).lower(), version.expression
    elif when is not None:
        table.set("when", None)
        kind, value = str(when.args.get("kind") or "").lower(), when.expression
    else:
        return None
    if kind not in ("version", "timestamp") or not isinstance(value, exp.Literal):
        raise _refuse("`AS OF` takes VERSION <snapshot id> or TIMESTAMP '<time>'.")
    return TimeTravel(kind, value.this)


class GovernedSQL:
    """Runs governed queries on the engine store (the DuckDB warehouse by default)."""

    def __init__(self, meshkit: Meshkit, governor: Governor | None = None):
        self.meshkit = meshkit
        self.governor = governor or Governor(meshkit)
        engine = meshkit.store(meshkit.config.get("query_engine_store"))
        if not hasattr(engine, "connection"):
            raise ConfigError(f"`query_engine_store` must name a DuckDB store, not {engine.type}.")
        self.engine = engine
        self.sources = Sources(meshkit, engine, self.governor.ttl)
        self._lock = threading.Lock()
        self._plans: dict[tuple, QueryPlan] = {}

    # ------------------------------------------------------------------ planning

    def plan(self, sql: str, subject: Subject, purpose: str | None, *, channel: str = "query") -> QueryPlan:
        """Check, decide and rewrite ``sql``; raises ``AccessDeniedError`` if a dataset is denied.

        A query planned before is not rewritten again while its decisions stay cached (they are
        still decided, and audited, every time).
        """
        if cached := self._cached(sql, subject, purpose, channel):
            return cached
        plan = self._plan(sql, subject, purpose, channel)
        with self._lock:
            if len(self._plans) >= PLAN_CACHE_SIZE:
                self._plans.clear()
            self._plans[(sql, subject, purpose, channel)] = plan
        return plan

    def _plan(self, sql: str, subject: Subject, purpose: str | None, channel: str) -> QueryPlan:
        try:
            statements = [s for s in sqlglot.parse(sql, read="duckdb") if s is not None]
        except ParseError as exc:
            raise UserError(f"Cannot parse the query: {exc.errors[0]['description'] if exc.errors else exc}.",
                            hint="Write one SELECT in the DuckDB dialect.") from None  # fmt: skip
        if len(statements) != 1 or not isinstance(statements[0], exp.Query):
            raise _refuse("only one SELECT query (with CTEs, joins, UNION...) is allowed.")
        plan = QueryPlan(sql="")
        tree = self._govern(statements[0], subject, purpose, plan, channel, statement=sql, depth=0)
        plan.sql = tree.sql(dialect="duckdb")
        return plan

    def _cached(self, sql: str, subject: Subject, purpose: str | None, channel: str) -> QueryPlan | None:
        """The earlier plan of the same query, if every decision it applied is still the one in force."""
        with self._lock:
            hit = self._plans.get((sql, subject, purpose, channel))
        if hit is None:
            return None
        for decision in hit.decisions:
            dataset = self.governor.dataset(decision.dataset)
            current = self.governor.require(subject, purpose, dataset, channel=channel, statement=sql)
            if current is not decision:
                return None
        return hit

    def _govern(self, tree: exp.Query, subject, purpose, plan: QueryPlan, channel: str, statement: str,
                depth: int) -> exp.Query:  # fmt: skip
        if depth > MAX_VIEW_DEPTH:
            raise _refuse("views nest too deep.")
        check_functions(tree)
        replacements: list[tuple[exp.Table, exp.Expression]] = []
        for table in self._real_tables(tree):
            dataset = self.governor.dataset(self._dataset_name(table, in_view=depth > 0))
            decision = self.governor.require(subject, purpose, dataset, channel=channel, statement=statement)
            plan.decisions.append(decision)
            source = self.sources.resolve(dataset, _time_travel(table))
            if source.load is not None:
                plan.sources[source.relation] = source
            inner = self._source_query(source, subject, purpose, plan, channel, statement, depth)
            masked = sqlglot.parse_one(masked_sql(f"({inner}) AS __mk_source" if source.view_sql else source.relation,
                                                  source.schema, decision), read="duckdb")  # fmt: skip
            for node in masked.find_all(exp.Table):
                node.meta[_GOVERNED] = True
            alias = table.args.get("alias") or exp.TableAlias(this=exp.to_identifier(table.name))
            replacements.append((table, exp.Subquery(this=masked, alias=alias.copy())))
        for table, subquery in replacements:
            table.replace(subquery)
        self._verify(tree)
        return tree

    def _dataset_name(self, table: exp.Table, *, in_view: bool) -> str:
        """The catalog name a table reference means.

        In a warehouse view's definition, names (``"warehouse"."main"."orders"`` as dbt writes
        them, or shorter) mean the engine store's tables; a name in another database stays as it
        is, and is then not found.
        """
        if in_view and table.catalog in ("", self.sources.database()):
            return (
                f"{self.engine.name}/{table.name if table.db in ('', 'main') else f'{table.db}.{table.name}'}"
            )
        return ".".join(p.name for p in table.parts)

    def _source_query(self, source: Source, subject, purpose, plan, channel, statement, depth) -> str:
        if not source.view_sql:
            return source.relation
        view = sqlglot.parse_one(source.view_sql, read="duckdb")
        body = view.expression if isinstance(view, exp.Create) else view
        if not isinstance(body, exp.Query):
            raise _refuse("a view's definition could not be analysed.")
        return self._govern(body, subject, purpose, plan, channel, statement, depth + 1).sql(dialect="duckdb")

    @staticmethod
    def _scopes(tree: exp.Query) -> list[Scope]:
        try:
            return list(traverse_scope(tree))
        except (OptimizeError, ValueError, KeyError) as exc:
            raise _refuse(f"the query's structure could not be analysed ({exc}).") from None

    def _real_tables(self, tree: exp.Query) -> list[exp.Table]:
        """Every reference to a stored table; CTE references are left alone."""
        real, ctes = {}, set()
        for scope in self._scopes(tree):
            for table in scope.tables:
                if table.meta.get(_GOVERNED):
                    continue
                if not isinstance(table.this, exp.Identifier):
                    raise _refuse(f"table functions such as `{table.sql('duckdb')}` are not allowed.")
                source = scope.sources.get(table.alias_or_name)
                if isinstance(source, Scope) and not table.args.get("db") and not table.args.get("catalog"):
                    ctes.add(id(table))
                else:
                    real[id(table)] = table
        for table in tree.find_all(exp.Table):
            if id(table) not in real and id(table) not in ctes and not table.meta.get(_GOVERNED):
                raise _refuse(f"the reference `{table.sql('duckdb')}` could not be analysed.")
        return list(real.values())

    def _verify(self, tree: exp.Query) -> None:
        """After rewriting, every table read must be one the rewrite produced or a CTE."""
        ctes = set()
        for scope in self._scopes(tree):
            for table in scope.tables:
                if isinstance(scope.sources.get(table.alias_or_name), Scope) and not table.args.get("db"):
                    ctes.add(id(table))
        for table in tree.find_all(exp.Table):
            if not table.meta.get(_GOVERNED) and id(table) not in ctes:
                raise _refuse(f"`{table.sql('duckdb')}` escaped governance.")

    # ------------------------------------------------------------------ running

    def execute(self, sql: str, subject: Subject, purpose: str | None, *, channel: str = "query") -> pa.Table:
        """Plan and run ``sql``; the result holds only what the policies allow."""
        plan = self.plan(sql, subject, purpose, channel=channel)
        return self.run(plan)

    def run(self, plan: QueryPlan) -> pa.Table:
        with self.connection(plan) as conn:
            return conn.execute(plan.sql).to_arrow_table()

    @contextlib.contextmanager
    def connection(self, plan: QueryPlan):
        """An engine connection with ``plan``'s sources registered, to run ``plan.sql`` (or a query
        over it) on; datasets the engine scans in place (PostgreSQL, Parquet) are not loaded, and an
        engine error (binder, conversion...) becomes a ``UserError``."""
        from meshkit.engines.duckdb import DuckDBEngine

        engine = DuckDBEngine("duckdb", {}, self.meshkit, store=self.engine)
        scans = []
        try:
            for relation, source in plan.sources.items():
                if source.store is not None and engine.can_scan(source.store):
                    scans.append(engine.relation(source.store, source.asset))
                    engine.execute(f"CREATE OR REPLACE TEMP VIEW {relation} AS SELECT * FROM {scans[-1].sql}")
                else:
                    engine.conn.register(relation.strip('"'), source.load())
            try:
                yield engine.conn
            except MeshkitError:
                raise
            except Exception as exc:  # duckdb errors: binder (removed column), conversion, ...
                message = str(exc).splitlines()[0]
                raise UserError(f"The governed query failed: {message}", hint=_removed_hint(plan)) from None
        finally:
            for scan in scans:
                scan.release()
            engine.close()


def _removed_hint(plan: QueryPlan) -> str | None:
    """Says which columns the policies removed, when the failed query names one of them."""
    removed = {(column, d.dataset) for d in plan.decisions
               for column, action in d.column_actions().items() if action == "RemoveColumn"}  # fmt: skip
    if not removed:
        return None
    named = {c.name.lower() for c in sqlglot.parse_one(plan.sql, read="duckdb").find_all(exp.Column)}
    hits = sorted(f"`{column}` of `{dataset}`" for column, dataset in removed if column in named)
    return f"Columns removed by policy do not exist for you: {', '.join(hits)}." if hits else None
