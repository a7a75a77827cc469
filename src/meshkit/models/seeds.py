"""Seeds: CSV files loaded as tables, with column types inferred the way dbt does.

dbt tries, per column, integer, number, date (``%Y-%m-%d``), datetime, ISO datetime, boolean
(``true``/``false``) and text, taking the first that reads every value; empty and ``null`` cells
are nulls. Numbers with decimals become DOUBLE, integers INTEGER. ``column_types`` overrides.
DuckDB reads the CSV on every engine, so a seed has the same rows and types everywhere.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from meshkit.engines.duckdb import DuckDBEngine
from meshkit.models.materialize import TMP_SUFFIX, BuildResult, _replace_kind, run_hooks
from meshkit.models.nodes import Node, quote
from meshkit.models.warehouse import Warehouse, run_error

if TYPE_CHECKING:
    from meshkit.models.project import Project

_NULL = "({c} IS NULL OR {c} = 'null')"
_TESTS = {
    "INTEGER": r"regexp_full_match(trim({c}), '[-+]?[0-9]+')",
    "NUMBER": r"regexp_full_match(trim({c}), '[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?')",
    "DATE": "try_strptime({c}, '%Y-%m-%d') IS NOT NULL AND length({c}) = 10",
    "TIMESTAMP": "(try_strptime({c}, '%Y-%m-%d %H:%M:%S') IS NOT NULL OR "
    "(regexp_full_match({c}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T.*') AND try_cast({c} AS TIMESTAMP) IS NOT NULL))",
    "BOOLEAN": "lower({c}) IN ('true', 'false')",
}


def _csv(path: str, delimiter: str) -> str:
    literal = path.replace("'", "''")
    delim = delimiter.replace("'", "''")
    return f"read_csv('{literal}', all_varchar = true, header = true, delim = '{delim}')"


def infer_types(cur, source: str, columns: list[str]) -> dict[str, str]:
    """dbt's seed type for each column of ``source`` (a CSV read as text), in one aggregate query."""
    exprs = []
    for col in columns:
        c = quote(col)
        null = _NULL.format(c=c)
        for test in _TESTS.values():
            exprs.append(f"bool_and({null} OR ({test.format(c=c)}))")
        exprs.append(f"bool_or(NOT {null} AND contains({c}, '.'))")
    row = cur.execute(f"SELECT {', '.join(exprs)} FROM {source}").fetchone() if exprs else ()
    types, width = {}, len(_TESTS) + 1
    for i, col in enumerate(columns):
        flags = row[i * width : (i + 1) * width]
        is_int, is_num, is_date, is_ts, is_bool = (f is not False for f in flags[:-1])
        has_dot = bool(flags[-1])
        if is_int:
            types[col] = "INTEGER"
        elif is_num:
            types[col] = "DOUBLE" if has_dot else "INTEGER"
        elif is_date:
            types[col] = "DATE"
        elif is_ts:
            types[col] = "TIMESTAMP"
        elif is_bool:
            types[col] = "BOOLEAN"
        else:
            types[col] = "VARCHAR"
    return types


def _typed_select(cur, source: str, overrides: dict[str, str]) -> str:
    """The query reading ``source`` with each column cast to its seed type."""
    columns = [d[0] for d in cur.execute(f"SELECT * FROM {source} LIMIT 0").description]
    types = infer_types(cur, source, [c for c in columns if c.lower() not in overrides])
    select = []
    for col in columns:
        col_type = overrides.get(col.lower()) or types[col]
        c = quote(col)
        value = c if col_type == "VARCHAR" else f"NULLIF(trim({c}), 'null')"
        select.append(f"CAST({value} AS {col_type}) AS {c}")
    return f"SELECT {', '.join(select)} FROM {source}"


def build_seed(project: Project, wh: Warehouse, node: Node, *, full_refresh: bool = False) -> BuildResult:
    """Load the seed's CSV into a new table and swap it in.

    DuckDB reads and types the CSV; another engine gets the typed rows as an Arrow stream.
    """
    wh.ensure_schema(node.relation)
    source = _csv(str(node.path), node.config.get("delimiter") or ",")
    overrides = {k.lower(): v for k, v in (node.config.get("column_types") or {}).items()}
    tmp = node.relation.with_identifier(node.relation.identifier + TMP_SUFFIX)
    local = None if wh.reads_csv else DuckDBEngine()
    release = None
    try:
        sql = _typed_select(local.conn if local else wh.cursor(), source, overrides)
        select = sql
        if local is not None:
            rows_in = wh.engine().register_arrow(local.query(sql))
            select, release = f"SELECT * FROM {rows_in.sql}", rows_in.release
        with wh.building() as engine:
            run_hooks(project, wh, node, engine, "pre_hook")
            engine.drop(wh.name(tmp))
            rows = engine.create_table_as(wh.name(tmp), select) or 0
            _replace_kind(engine, wh, node.relation, "table")
            engine.swap(wh.name(tmp), wh.name(node.relation))
            wh.set_kind(node.relation, "table")
            columns = wh.columns(node.relation)
            run_hooks(project, wh, node, engine, "post_hook")
    except DuckDBEngine.ERRORS as exc:
        raise run_error(exc, node) from None
    finally:
        if release is not None:
            release()
        if local is not None:
            local.close()
    return BuildResult(rows, f"INSERT {rows}", columns, sql)
