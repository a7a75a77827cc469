"""Unit tests: a model's SQL on given input rows, compared with the expected rows, on an in-memory DuckDB.

Inputs take the column types of the real upstream relation when the warehouse has it (columns
not given are null, as in dbt); otherwise types come from the values.
"""

from __future__ import annotations

import csv
import datetime
import decimal
import io
import re
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import MeshkitError
from meshkit.engines.duckdb import Connection, DuckDBEngine
from meshkit.models.compile import strip_sql
from meshkit.models.context import RenderError
from meshkit.models.datatests import TestOutcome
from meshkit.models.exceptions import ModelCompileError
from meshkit.models.nodes import Node, Relation, quote
from meshkit.models.warehouse import Warehouse

if TYPE_CHECKING:
    from meshkit.models.project import Project

_INPUT = re.compile(r"""^\s*(ref|source)\(\s*['"]([^'"]+)['"]\s*(?:,\s*['"]([^'"]+)['"]\s*)?\)\s*$""")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float | decimal.Decimal):
        return repr(value) if not isinstance(value, decimal.Decimal) else str(value)
    if isinstance(value, datetime.datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, datetime.date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("'", "''") + "'"


def _rows(spec: dict[str, Any], where: str) -> list[dict[str, Any]] | str:
    fmt = spec.get("format", "dict")
    rows = spec.get("rows", [])
    if fmt == "dict":
        return list(rows or [])
    if fmt == "csv":
        return [
            {k: (None if v == "" else v) for k, v in r.items()}
            for r in csv.DictReader(io.StringIO(rows.strip()))
        ]
    if fmt == "sql":
        return str(rows)
    raise ModelCompileError(f"Unknown fixture format `{fmt}`.", where=where, hint="Use dict, csv or sql.")


def fixture_sql(
    rows: list[dict[str, Any]] | str, types: list[tuple[str, str]] | None, cast: str = "CAST"
) -> str:
    """A SELECT producing ``rows``, cast to ``types`` (name, type) when known (``TRY_CAST`` for expectations)."""
    if isinstance(rows, str):
        return rows
    if types:
        names = [n for n, _ in types]
        extra = [k for r in rows for k in r if k.lower() not in {n.lower() for n in names}]
        cols = [*types, *((k, None) for k in dict.fromkeys(extra))]
    else:
        cols = [(k, None) for k in dict.fromkeys(k for r in rows for k in r)]

    def cell(row: dict[str, Any], name: str, col_type: str | None) -> str:
        value = next((v for k, v in row.items() if k.lower() == name.lower()), None)
        return f"{cast}({_literal(value)} AS {col_type})" if col_type else _literal(value)

    if not rows:
        return (
            "SELECT "
            + ", ".join(f"CAST(NULL AS {t or 'VARCHAR'}) AS {quote(n)}" for n, t in cols)
            + " WHERE FALSE"
        )
    selects = ["SELECT " + ", ".join(f"{cell(r, n, t)} AS {quote(n)}" for n, t in cols) for r in rows]
    return "\nUNION ALL BY NAME\n".join(selects) if len(selects) > 1 else selects[0]


class _Fixtures:
    """The unit test's own database, as the warehouse ``run_query`` and the adapter read."""

    def __init__(self, connection: Connection):
        self.connection = connection

    def cursor(self) -> Connection:
        return self.connection

    def forget(self, relation: Relation) -> None:
        pass


def run_unit_test(project: Project, wh: Warehouse | None, node: Node) -> TestOutcome:
    """Run one unit test; a failure lists the rows that differ."""
    spec, where = node.unit, node.yaml_where or node.original_file_path
    model = project.nodes[spec["model_uid"]]
    inputs: dict[str, str] = {}
    engine = DuckDBEngine()  # the test's own database, in memory
    con = engine.conn
    try:
        for i, given in enumerate(spec.get("given") or []):
            text = str(given.get("input", ""))
            match = _INPUT.match(text)
            if text.strip() == "this":
                relation, key = model.relation, "this"
            elif match and match.group(1) == "ref" and match.group(2) in project.by_name:
                relation, key = (
                    project.nodes[project.by_name[match.group(2)]].relation,
                    f"ref:{match.group(2)}",
                )
            elif match and match.group(1) == "source" and match.group(3):
                uid = f"source.{project.name}.{match.group(2)}.{match.group(3)}"
                if uid not in project.sources:
                    raise ModelCompileError(
                        f"Unit test input `{text}` is not a declared source.", where=where
                    )
                relation, key = project.sources[uid].relation, f"source:{match.group(2)}.{match.group(3)}"
            else:
                raise ModelCompileError(f"Cannot read unit test input `{text}`.", where=where,
                                        hint="Write `ref('model')`, `source('src', 'table')` or `this`.")  # fmt: skip
            types = None
            if wh is not None and relation is not None and wh.kind(relation):
                types = wh.columns(relation)
            table = f"__mk_given_{i}"
            con.execute(f"CREATE TABLE {table} AS {fixture_sql(_rows(given, where), types)}")
            inputs[key] = table

        def ref(name: str, _node, _package=None) -> Relation:
            if f"ref:{name}" not in inputs:
                raise RenderError(f"Unit test `{node.name}` gives no input for `ref('{name}')`.",
                                  hint="Add it under `given:`.")  # fmt: skip
            return Relation(None, "", inputs[f"ref:{name}"])

        def source(src: str, table: str, _node) -> Relation:
            if f"source:{src}.{table}" not in inputs:
                raise RenderError(f"Unit test `{node.name}` gives no input for `source('{src}', '{table}')`.",
                                  hint="Add it under `given:`.")  # fmt: skip
            return Relation(None, "", inputs[f"source:{src}.{table}"])

        overrides = spec.get("overrides") or {}
        saved_vars = dict(project.renderer.vars)
        project.renderer.vars.update(overrides.get("vars") or {})
        try:
            macros = dict(overrides.get("macros") or {})
            incremental = bool(macros.pop("is_incremental", False))
            sql = strip_sql(project.render(model, is_incremental=incremental, ref=ref, source=source,
                                           warehouse=_Fixtures(con), macro_overrides=macros))  # fmt: skip
        finally:
            project.renderer.vars.clear()
            project.renderer.vars.update(saved_vars)
        if incremental and "this" in inputs:
            sql = sql.replace(model.relation.render(), inputs["this"])
        expected_rows = _rows(spec["expect"], where)
        actual_cols = [(d[0], str(d[1])) for d in con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description]
        if isinstance(expected_rows, str):
            expected_sql, names = (
                expected_rows,
                [d[0] for d in con.execute(f"SELECT * FROM ({expected_rows}) LIMIT 0").description],
            )
        else:
            names = list(dict.fromkeys(k for r in expected_rows for k in r)) or [n for n, _ in actual_cols]
            by_name = {n.lower(): t for n, t in actual_cols}
            expected_sql = fixture_sql(
                expected_rows, [(n, by_name.get(n.lower())) for n in names], cast="TRY_CAST"
            )
        cols = ", ".join(quote(n) for n in names)
        diff = (f"(SELECT 'missing' AS diff, {cols} FROM ({expected_sql}) EXCEPT ALL SELECT 'missing', {cols} FROM ({sql})) "
                f"UNION ALL (SELECT 'unexpected', {cols} FROM ({sql}) EXCEPT ALL SELECT 'unexpected', {cols} FROM ({expected_sql}))")  # fmt: skip
        rows = con.execute(f"SELECT * FROM ({diff}) LIMIT 20").fetchall()
    except DuckDBEngine.ERRORS as exc:
        return TestOutcome("error", None, f"{type(exc).__name__}: {exc}".replace("\n", " "))
    except MeshkitError as exc:  # the model's Jinja failed: the test errors, naming the file and line
        return TestOutcome("error", None, str(exc))
    finally:
        engine.close()
    if not rows:
        return TestOutcome("pass", 0, "")
    lines = [f"{r[0]}: {dict(zip(names, r[1:], strict=True))}" for r in rows[:5]]
    return TestOutcome("fail", len(rows), "actual differs from expected: " + "; ".join(lines))
