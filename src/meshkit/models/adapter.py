"""dbt's database-facing context, on the warehouse being built: ``adapter``, ``api``, ``run_query``,
``statement``/``load_result`` and ``execute``.

While the project loads, nothing reaches the database (dbt's parse): ``execute`` is false,
``run_query`` and ``load_result`` give ``None``, ``adapter.get_columns_in_relation`` gives ``[]`` and
``adapter.get_relation`` ``None``; each marks the node for a second render at run time, when they
query the warehouse on the rendering thread's cursor. Results are tables as dbt's ``agate`` ones are
read by macros: ``table.rows[0][0]``, ``table.columns[0].values()``, ``table.columns['name']``, numbers
as ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from meshkit.engines.duckdb import DuckDBEngine
from meshkit.models.context import RenderError, current
from meshkit.models.nodes import Relation, quote
from meshkit.models.warehouse import Warehouse

# ---------------------------------------------------------------------------- results


class Row(tuple):
    """A result row: by position, by column name, or as ``dict`` items."""

    names: tuple[str, ...] = ()

    def __new__(cls, values, names):
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self):
        return list(self.names)

    def values(self):
        return tuple(self)

    def items(self):
        return list(zip(self.names, self, strict=True))

    def get(self, key, default=None):
        return self[key] if key in self.names else default

    def dict(self):
        return dict(self.items())


@dataclass
class ResultColumn:
    name: str
    data: tuple
    data_type: str

    def values(self) -> tuple:
        return self.data

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


class Columns(list):
    """The columns of a result: a list that is also indexed by column name."""

    def __getitem__(self, key):
        if isinstance(key, str):
            for column in self:
                if column.name == key:
                    return column
            raise KeyError(key)
        return list.__getitem__(self, key)

    def keys(self):
        return [c.name for c in self]

    def values(self):
        return list(self)

    def items(self):
        return [(c.name, c) for c in self]


class ResultTable:
    """A query's result as macros read dbt's ``agate.Table``."""

    def __init__(self, names: list[str], types: list[str], rows: list[tuple]):
        self.column_names = tuple(names)
        self.column_types = tuple(types)
        self.rows = [Row(tuple(_agate(v) for v in row), self.column_names) for row in rows]
        self.columns = Columns(
            ResultColumn(name, tuple(r[i] for r in self.rows), types[i]) for i, name in enumerate(names)
        )

    def __iter__(self):
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key):
        return self.rows[key]

    def print_table(self, *args, **kwargs) -> str:
        return ""

    def __str__(self) -> str:
        return f"<table {list(self.column_names)} {len(self.rows)} rows>"


def _agate(value: Any) -> Any:
    """Numbers come back as ``Decimal``, as agate gives them to dbt macros."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    return value


class Result(dict):
    """``load_result(name)``: ``['data']``, ``.table``, ``.response``."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _cursor():
    state = current()
    state.uses_execute = True
    return state.warehouse.cursor() if state.execute and state.warehouse is not None else None


def execute_sql(sql: str, fetch: bool = True) -> Result | None:
    """Run ``sql`` on the rendering thread's cursor; ``None`` while loading."""
    cur = _cursor()
    if cur is None:
        return None
    warehouse = current().warehouse
    if isinstance(warehouse, Warehouse):  # DuckDB's own cursor (an engine's puts it in its dialect itself)
        sql = warehouse.sql(sql)
    try:
        cur.execute(sql)
        names = [d[0] for d in cur.description or []]
        types = [str(d[1]) for d in cur.description or []]
        rows = cur.fetchall() if fetch and names else []
    except DuckDBEngine.ERRORS as exc:
        raise RenderError(
            f"The query failed: {str(exc).splitlines()[0]}", hint=f"The SQL was:\n{sql.strip()}"
        ) from None
    table = ResultTable(names, types, rows)
    response = Result(_message="OK", code="OK", rows_affected=len(rows))
    return Result(response=response, data=[tuple(r) for r in table.rows], table=table)


def run_query(sql: str) -> ResultTable | None:
    result = execute_sql(str(sql))
    return result.table if result is not None else None


def statement(name: str | None = None, fetch_result: bool = False, auto_begin: bool = True, language: str = "sql",
              caller: Callable | None = None) -> str:  # fmt: skip
    """``{% call statement('name', fetch_result=True) %}sql{% endcall %}``; runs only at run time."""
    state = current()
    state.uses_execute = True
    if not state.execute or caller is None:
        return ""
    result = execute_sql(str(caller()), fetch=fetch_result)
    if name is not None and result is not None:
        state.results[name] = result
    return ""


def load_result(name: str) -> Result | None:
    state = current()
    state.uses_execute = True
    return state.results.get(name)


class Execute:
    """``execute``: false while loading, true at run time; reading it marks the node for a second render."""

    def __bool__(self) -> bool:
        state = current()
        state.uses_execute = True
        return state.execute

    def __eq__(self, other) -> bool:
        return bool(self) == other

    def __hash__(self) -> int:
        return hash(True)

    def __str__(self) -> str:
        return str(bool(self))


# ---------------------------------------------------------------------------- columns and relations


@dataclass
class Column:
    """A column of a relation, as dbt's ``Column`` (``name``, ``data_type``, ``is_string()``, ...)."""

    column: str
    dtype: str
    char_size: int | None = None
    numeric_precision: Any = None
    numeric_scale: Any = None

    @property
    def name(self) -> str:
        return self.column

    @property
    def quoted(self) -> str:
        return quote(self.column)

    @property
    def data_type(self) -> str:
        if self.is_string():
            return f"character varying({self.string_size()})"
        if self.is_numeric() and self.numeric_precision is not None and self.numeric_scale is not None:
            return f"{self.dtype}({self.numeric_precision},{self.numeric_scale})"
        return self.dtype

    def is_string(self) -> bool:
        return self.dtype.lower() in ("text", "character varying", "character", "varchar")

    def is_integer(self) -> bool:
        return self.dtype.lower() in {"tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint", "usmallint",
                                      "uinteger", "ubigint", "int1", "int2", "int4", "int8", "short", "int", "signed", "long"}  # fmt: skip

    def is_float(self) -> bool:
        return self.dtype.lower() in {"real", "float", "float4", "float8", "double", "double precision"}

    def is_numeric(self) -> bool:
        return self.dtype.lower() in ("numeric", "decimal")

    def is_number(self) -> bool:
        return self.is_integer() or self.is_float() or self.is_numeric()

    def string_size(self) -> int:
        return 256 if self.char_size is None else int(self.char_size)

    def can_expand_to(self, other: Column) -> bool:
        return self.is_string() and other.is_string() and self.string_size() < other.string_size()

    def __str__(self) -> str:
        return self.column

    @staticmethod
    def translate_type(dtype: str) -> str:
        return "TEXT" if dtype.upper() == "STRING" else dtype

    @staticmethod
    def numeric_type(dtype: str, precision: Any, scale: Any) -> str:
        return dtype if precision is None or scale is None else f"{dtype}({precision},{scale})"

    @classmethod
    def create(cls, name: str, label_or_dtype: str) -> Column:
        return cls(name, cls.translate_type(label_or_dtype))


class _RelationFactory:
    """``api.Relation``: ``create(database=, schema=, identifier=, type=)``."""

    @staticmethod
    def create(database: str | None = None, schema: str | None = None, identifier: str | None = None,
               type: str | None = None, **_: Any) -> Relation:  # fmt: skip
        return Relation(database, schema or "", identifier or "", type)


class Api:
    Relation = _RelationFactory()
    Column = Column


def _relation_query(where: str) -> str:
    return ("SELECT database_name, schema_name, table_name, 'table' FROM duckdb_tables() WHERE " + where +
            " UNION ALL SELECT database_name, schema_name, view_name, 'view' FROM duckdb_views() WHERE NOT internal AND "
            + where.replace("table_name", "view_name"))  # fmt: skip


def _literal(value: str | None) -> str:
    return "'" + str(value).replace("'", "''") + "'"


class Adapter:
    """``adapter``: dispatch, quoting, and the introspection and DDL macros of dbt-duckdb."""

    def __init__(self, dispatch: Callable[[str, str | None], Any]):
        self._dispatch = dispatch

    def dispatch(self, macro_name: str, macro_namespace: str | None = None, packages: Any = None):
        if "." in macro_name:
            raise RenderError(f"`adapter.dispatch('{macro_name}')`: a macro name has no `.`.",
                              hint="Pass the package as macro_namespace.")  # fmt: skip
        return self._dispatch(macro_name, macro_namespace)

    @staticmethod
    def quote(identifier: str) -> str:
        return quote(str(identifier))

    def quote_as_configured(self, identifier: str, quote_key: str) -> str:
        return self.quote(identifier)

    def quote_seed_column(self, column: str, quote_config: bool | None) -> str:
        return self.quote(column) if quote_config else column

    @staticmethod
    def type() -> str:
        return "duckdb"

    def get_columns_in_relation(self, relation: Relation) -> list[Column]:
        cur = _cursor()
        if cur is None or relation is None:
            return []
        where = f"table_name = {_literal(relation.identifier)}"
        if relation.schema:
            where += f" AND lower(table_schema) = lower({_literal(relation.schema)})"
        if relation.database:
            where += f" AND lower(table_catalog) = lower({_literal(relation.database)})"
        rows = cur.execute(
            "SELECT column_name, data_type, character_maximum_length, numeric_precision, numeric_scale "
            f"FROM system.information_schema.columns WHERE {where} ORDER BY ordinal_position"
        ).fetchall()
        return [Column(*row) for row in rows]

    def get_relation(self, database: str | None, schema: str, identifier: str) -> Relation | None:
        cur = _cursor()
        if cur is None:
            return None
        where = f"lower(schema_name) = lower({_literal(schema)}) AND lower(table_name) = lower({_literal(identifier)})"
        if database:
            where += f" AND lower(database_name) = lower({_literal(database)})"
        row = cur.execute(_relation_query(where)).fetchone()
        return Relation(row[0], row[1], row[2], row[3]) if row else None

    def load_relation(self, relation: Relation) -> Relation | None:
        return self.get_relation(relation.database, relation.schema, relation.identifier)

    def list_relations_without_caching(self, schema_relation: Relation) -> list[Relation]:
        return self.list_relations(schema_relation.database, schema_relation.schema)

    def list_relations(self, database: str | None, schema: str) -> list[Relation]:
        cur = _cursor()
        if cur is None:
            return []
        where = f"lower(schema_name) = lower({_literal(schema)})"
        if database:
            where += f" AND lower(database_name) = lower({_literal(database)})"
        return [Relation(d, s, n, k) for d, s, n, k in cur.execute(_relation_query(where)).fetchall()]

    def list_schemas(self, database: str) -> list[str]:
        cur = _cursor()
        if cur is None:
            return []
        rows = cur.execute("SELECT schema_name FROM duckdb_schemas() WHERE lower(database_name) = lower(?)",
                           [database]).fetchall()  # fmt: skip
        return [r[0] for r in rows]

    def check_schema_exists(self, database: str, schema: str) -> bool:
        return schema.lower() in {s.lower() for s in self.list_schemas(database)}

    def create_schema(self, relation: Relation) -> str:
        return self._run(f"CREATE SCHEMA IF NOT EXISTS {_schema(relation)}")

    def drop_schema(self, relation: Relation) -> str:
        return self._run(f"DROP SCHEMA IF EXISTS {_schema(relation)} CASCADE")

    def drop_relation(self, relation: Relation) -> str:
        found = self.load_relation(relation) if relation.type is None else relation
        if found is not None:
            self._run(f"DROP {(found.type or 'table').upper()} IF EXISTS {relation.render()} CASCADE")
            self._forget(relation)
        return ""

    def truncate_relation(self, relation: Relation) -> str:
        return self._run(f"DELETE FROM {relation.render()}")

    def rename_relation(self, from_relation: Relation, to_relation: Relation) -> str:
        kind = (from_relation.type or "table").upper()
        self._run(f"ALTER {kind} {from_relation.render()} RENAME TO {quote(to_relation.identifier)}")
        self._forget(from_relation)
        self._forget(to_relation)
        return ""

    def execute(self, sql: str, auto_begin: bool = False, fetch: bool = False):
        result = execute_sql(str(sql), fetch=fetch)
        if result is None:
            return None, None
        return result.response, result.table

    def get_column_schema_from_query(self, sql: str) -> list[Column]:
        cur = _cursor()
        if cur is None:
            return []
        description = cur.execute(f"SELECT * FROM ({sql}) AS __mk LIMIT 0").description
        return [Column(d[0], str(d[1])) for d in description]

    @staticmethod
    def _forget(relation: Relation) -> None:
        """Relations changed behind the warehouse's back are looked up again."""
        state = current()
        if state.warehouse is not None:
            state.warehouse.forget(relation)

    def _run(self, sql: str) -> str:
        cur = _cursor()
        if cur is not None:
            cur.execute(sql)
        return ""

    def __getattr__(self, name: str):
        raise RenderError(f"`adapter.{name}` is not supported by meshkit.",
                          hint="Write the SQL for DuckDB directly, or in a macro of the project.", unsupported=True)  # fmt: skip


def _schema(relation: Relation) -> str:
    return (
        f"{quote(relation.database)}.{quote(relation.schema)}"
        if relation.database
        else quote(relation.schema)
    )
