"""A project built by an engine that keeps its own tables (Spark): the warehouse surface builds use.

Models are written in DuckDB's SQL (a workspace's) and rendered in the engine's dialect, catalog
parts dropped (a Spark schema is a database of the session). Tests, hooks and macros' queries run
through :class:`EngineCursor`, a DB-API cursor over the engine; the engine's errors name the model
file and the line of the name they complain about.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from meshkit.engines.base import tables_read
from meshkit.models.exceptions import ModelRunError
from meshkit.models.nodes import Relation

if TYPE_CHECKING:
    import pyarrow as pa

    from meshkit.engines.base import Engine


class EngineCursor:
    """A DB-API cursor over an engine: ``execute`` (in DuckDB's SQL), ``fetchone``, ``fetchall``, ``description``."""

    def __init__(self, warehouse: EngineWarehouse):
        self.warehouse = warehouse
        self.description: list[tuple[str, str]] | None = None
        self._rows: list[tuple] = []

    def execute(self, sql: str, parameters: Any = None) -> EngineCursor:
        if parameters:
            raise ModelRunError("Queries with parameters run on DuckDB only.",
                                hint=f"Build on DuckDB, or inline the values. The SQL was:\n{sql.strip()}")  # fmt: skip
        engine = self.warehouse.engine()
        statements = [s for s in sqlglot.parse(self.warehouse.sql(sql), read=engine.DIALECT) if s is not None]
        self.description, self._rows = None, []
        for statement in statements:
            text = statement.sql(dialect=engine.DIALECT)
            if isinstance(statement, exp.Query):
                table = engine.fetch(text)
                self.description = [(f.name, str(f.type).upper()) for f in table.schema]
                self._rows = [tuple(r.values()) for r in table.to_pylist()]
            else:
                engine.execute(text)
        return self

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def close(self) -> None:
        self._rows = []


class EngineWarehouse:
    """The tables of a project kept by ``engine``, with the surface of :class:`~meshkit.models.warehouse.Warehouse`."""

    errors: tuple[type[BaseException], ...] = ()
    strategies: tuple[str, ...] = ("append", "merge", "delete+insert", "insert_overwrite")
    #: Declared constraints are not enforced by Parquet tables: a contract's types are, by casting.
    constraints = False
    #: Whether the tables are the store ``store_name``'s (so stores, checks and the catalog read them).
    in_store = False
    reads_csv = False
    #: The dialect the project's SQL is written in.
    read = "duckdb"

    def __init__(
        self, engine: Engine, store_name: str, materializations: dict[str, Callable], database: str = ""
    ):
        self._engine = engine
        #: The project's database, which relations name and the engine's tables lack.
        self.database = database
        self.store_name = store_name
        self.engine_name = engine.name
        self.materializations = materializations
        self.connection = None
        self._schemas: set[str] = set()
        self._lock = threading.Lock()
        self._declared: set[tuple[str, str]] = set()

    @property
    def dialect(self) -> str:
        return self._engine.DIALECT

    def engine(self) -> Engine:
        return self._engine

    def cursor(self) -> EngineCursor:
        return EngineCursor(self)

    def close(self) -> None:
        """Release the engine's temporary views and staged files (it stays usable)."""
        self._engine.close()

    @contextmanager
    def building(self) -> Iterator[Engine]:
        """The engine; each of its table operations is atomic on its own."""
        yield self._engine

    @contextmanager
    def transaction(self) -> Iterator[EngineCursor]:
        yield self.cursor()

    # ------------------------------------------------------------------ relations

    def name(self, relation: Relation) -> str:
        e = self._engine
        return f"{e.quote(relation.schema.lower())}.{e.quote(relation.identifier.lower())}"

    def kind(self, relation: Relation) -> str | None:
        """What ``relation`` is in the engine's warehouse; an existing one is declared for the build's SQL."""
        kind = self._engine.kind(self.name(relation))
        if kind is not None:
            self._declare(relation.schema, relation.identifier)
        return kind

    def _declare(self, schema: str, name: str) -> None:
        """Declare the warehouse table ``schema.name`` in the engine: builds declare only what they read."""
        key = (schema.lower(), name.lower())
        if key in self._declared:
            return
        # NOTE: declaring drops and recreates the name: another thread must not read it meanwhile
        with self._lock:
            if key not in self._declared:
                self._engine.declare(f"{self._engine.quote(key[0])}.{self._engine.quote(key[1])}")
                self._declared.add(key)

    def set_kind(self, relation: Relation, kind: str | None) -> None:
        """The engine's folders are the truth: nothing to remember."""

    def forget(self, relation: Relation) -> None:
        """The engine's folders are the truth: nothing to forget."""

    def ensure_schema(self, relation: Relation) -> None:
        schema = relation.schema.lower()
        if schema not in self._schemas:
            with self._lock:
                self._engine.ensure_schema(schema)
                self._schemas.add(schema)

    def columns(self, relation_or_sql: Relation | str) -> list[tuple[str, str]]:
        """``(name, type)`` of a relation or of a query (in the project's SQL), types as the engine names them."""
        if isinstance(relation_or_sql, Relation):
            return self._engine.column_types(self.name(relation_or_sql))
        return self._engine.column_types(f"(\n{self.sql(relation_or_sql)}\n) AS __mk")

    def column_catalog(self) -> list[tuple[str, str, str, str, str]]:
        """``(database, schema, table, column, type)`` of the tables and views the build read, for lineage."""
        return [(d, s, t, c, ty) for d, s, t, _, c, ty, _ in self.catalog_rows(read_only=True)]

    def catalog_rows(self, read_only: bool = False) -> list[tuple[str, str, str, str, str, str, int]]:
        """``(database, schema, name, kind, column, type, position)`` of every column of the engine's tables
        (``BASE TABLE``) and views (``VIEW``), as ``information_schema`` has them, for ``catalog.json``;
        ``read_only``: of those the build declared only."""
        e, rows = self._engine, []
        for schema, name, kind in e.relations():
            if read_only and (schema, name) not in self._declared:
                continue
            self._declare(schema, name)
            qualified = f"{e.quote(schema)}.{e.quote(name)}"
            for position, (column, data_type) in enumerate(e.column_types(qualified), 1):
                rows.append((self.database, schema, name, "VIEW" if kind == "view" else "BASE TABLE",
                             column, data_type, position))  # fmt: skip
        return rows

    def arrow_schema(self, relation: Relation) -> pa.Schema | None:
        if self.kind(relation) is None:
            return None
        return self._engine.fetch(f"SELECT * FROM {self.name(relation)} LIMIT 0").schema

    # ------------------------------------------------------------------ SQL and errors

    def sql(self, text: str, node=None) -> str:
        """``text`` (in the project's dialect) in the engine's, without catalog parts; a syntax error names
        ``node``'s file and line."""
        try:
            trees = [t for t in sqlglot.parse(text, read=self.read) if t is not None]
        except sqlglot.errors.ParseError as exc:
            where = node.original_file_path if node is not None else None
            error = exc.errors[0] if exc.errors else {}
            if node is not None and error.get("line") and node.compiled.strip() == text.strip():
                where = f"{where}:{error['line'] + node.line_offset}"
            raise ModelRunError(f"SQL syntax error: {error.get('description') or str(exc).splitlines()[0]}",
                                where=where, hint="Fix the model's SQL and build again.") from None  # fmt: skip
        for tree in trees:
            for table in tree.find_all(exp.Table):
                table.set("catalog", None)
            for table in tables_read(tree):
                self._declare(table.db or "default", table.name)
        return self._engine.transpile(";\n".join(t.sql(dialect=self.read) for t in trees), read=self.read)

    def locate(self, exc: BaseException, node) -> str:
        """``node``'s file, and the line of the first name the message quotes that its SQL has."""
        where = node.original_file_path
        lines = (node.rendered or "").splitlines()
        for name in re.findall(r"`([^`]+)`|'([^']+)'", str(exc)):
            word = (name[0] or name[1]).split(".")[-1].strip("`")
            if not re.fullmatch(r"\w+", word):
                continue
            pattern = re.compile(rf"\b{re.escape(word)}\b", re.IGNORECASE)
            for i, text in enumerate(lines):
                if pattern.search(text):
                    return f"{where}:{i + 1 + node.line_offset}"
        return where
