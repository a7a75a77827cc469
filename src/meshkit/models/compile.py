"""Compile nodes: inline ephemeral models as CTEs, and transpile DuckDB SQL to Spark or Trino with sqlglot.

>>> inject_ctes("select 1", [("__dbt__cte__a", "select 2")])
'with __dbt__cte__a as (\\nselect 2\\n)\\nselect 1'
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from meshkit.models.exceptions import ModelCompileError

if TYPE_CHECKING:
    from meshkit.models.nodes import Node
    from meshkit.models.project import Project

DIALECTS = ("duckdb", "spark", "trino", "databricks", "postgres", "snowflake", "bigquery")
_LEADING = re.compile(r"^(\s*(?:--[^\n]*\n|/\*.*?\*/)?)*\s*", re.S)
_WITH = re.compile(r"with\s+(?!recursive\b)", re.I)


def strip_sql(sql: str) -> str:
    """SQL without trailing whitespace and semicolons."""
    return sql.rstrip().rstrip(";").rstrip()


def inject_ctes(sql: str, ctes: list[tuple[str, str]]) -> str:
    """``sql`` with ``ctes`` (name, body) prepended, merged into its own ``WITH`` if it has one."""
    if not ctes:
        return sql
    block = ",\n".join(f"{name} as (\n{strip_sql(body)}\n)" for name, body in ctes)
    head = _LEADING.match(sql).end()
    match = _WITH.match(sql, head)
    if match:
        return f"{sql[:head]}with {block},\n{sql[match.end() :]}"
    return f"with {block}\n{sql}"


def ephemeral_ctes(project: Project, node: Node) -> list[tuple[str, str]]:
    """The ephemeral models ``node`` reads, directly or through other ephemerals, parents first."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(uid: str) -> None:
        for dep in project.nodes[uid].depends_on:
            target = project.nodes.get(dep)
            if target is not None and target.materialized == "ephemeral" and dep not in seen:
                seen.add(dep)
                visit(dep)
                order.append(dep)

    visit(node.unique_id)
    return [(f"__dbt__cte__{project.nodes[u].name}", project.nodes[u].rendered) for u in order]


def compile_node(project: Project, node: Node, sql: str | None = None) -> str:
    """The SQL that runs for ``node`` (``sql`` defaults to its load-time rendering)."""
    return inject_ctes(strip_sql(node.rendered if sql is None else sql), ephemeral_ctes(project, node))


def compile_project(project: Project) -> None:
    """Set ``compiled`` on every model, snapshot and singular test."""
    for node in project.nodes.values():
        if node.resource_type in ("model", "snapshot") or (
            node.resource_type == "test" and node.test is None
        ):
            node.compiled = compile_node(project, node)


def transpile(node: Node, dialect: str) -> str:
    """``node.compiled`` (DuckDB SQL) in ``dialect``; a parse error names the file and line."""
    if dialect not in DIALECTS:
        raise ModelCompileError(f"Unknown dialect `{dialect}`.", hint=f"Use one of: {', '.join(DIALECTS)}.")
    if dialect == "duckdb":
        return node.compiled
    try:
        import sqlglot  # only here: a build on DuckDB never loads it

        return ";\n".join(sqlglot.transpile(node.compiled, read="duckdb", write=dialect, pretty=True))
    except sqlglot.errors.ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        raise ModelCompileError(f"SQL syntax error: {err.get('description', exc)}.",
                                where=f"{node.original_file_path}:{err.get('line', 1) + node.line_offset}",
                                hint="Fix the SQL (DuckDB dialect).") from None  # fmt: skip
    except sqlglot.errors.UnsupportedError as exc:
        raise ModelCompileError(
            f"Cannot express this SQL in {dialect}: {exc}.", where=node.original_file_path
        ) from None


def write_compiled(project: Project, nodes: list[Node], dialect: str = "duckdb") -> list[Path]:
    """Write ``target/compiled/<project>/<path>`` for each node, as ``dbt compile`` does."""
    return [write_sql(compiled_path(project, node), transpile(node, dialect)) for node in nodes]


def compiled_path(project: Project, node: Node) -> Path:
    """Where ``dbt compile`` puts a node's SQL (a test of a YAML file: a folder named after the file)."""
    path = project.target_dir / "compiled" / node.package_name / node.original_file_path
    if node.resource_type == "snapshot" and node.path.suffix == ".sql":
        return path.with_name(f"{node.name}.sql")
    if node.resource_type == "test" and path.suffix != ".sql":
        return path / f"{node.name}.sql"
    return path


def write_sql(path: Path, sql: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sql + "\n")
    return path
