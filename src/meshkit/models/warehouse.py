"""The DuckDB database a project builds into: per-thread cursors, relation lookups, transactions.

Builds reach it through a :class:`~meshkit.engines.duckdb.DuckDBEngine` on the thread's cursor
(:meth:`Warehouse.building`); :mod:`meshkit.models.engine_warehouse` is the same surface over an
engine that keeps its own tables (Spark).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from meshkit.engines.duckdb import CATALOG_ERRORS, SYNTAX_ERRORS, Connection, DuckDBEngine
from meshkit.models.exceptions import ModelRunError
from meshkit.models.nodes import Relation, quote

_CATALOG_SQL = """
SELECT c.table_catalog, c.table_schema, c.table_name, t.table_type, c.column_name, c.data_type, c.ordinal_position
FROM information_schema.columns c JOIN information_schema.tables t
  ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema AND t.table_name = c.table_name
ORDER BY c.ordinal_position
"""

#: ``<database>.information_schema.<view>``: Postgres, Snowflake and Redshift keep one per database;
#: DuckDB keeps one for all its databases, with each row's database in ``table_catalog``.
_INFORMATION_SCHEMA = re.compile(
    r'(?<![\w."])("?)([A-Za-z_][\w$]*)\1\s*\.\s*("?)information_schema\3\s*\.\s*("?)(tables|columns|views)\4(?![\w"$])',
    re.IGNORECASE,
)


class Warehouse:
    """One DuckDB connection shared by worker threads, each using its own cursor."""

    #: The database errors builds turn into :func:`run_error`.
    errors: tuple[type[BaseException], ...] = DuckDBEngine.ERRORS
    #: The dbt incremental strategies it applies.
    strategies: tuple[str, ...] = ("append", "merge", "delete+insert", "insert_overwrite")
    #: Whether tables take declared constraints (an enforced contract's ``not_null``, ``check``...).
    constraints = True
    #: Whether the tables are the store ``store_name``'s (so stores, checks and the catalog read them).
    in_store = True
    #: Whether seeds' CSV files are read in the warehouse itself (else loaded into it as Arrow).
    reads_csv = True
    engine_name = "duckdb"

    def __init__(self, connection: Connection, store_name: str, materializations: dict[str, Callable]):
        self.connection = connection
        self.store_name = store_name
        #: ``{name: build}`` from the ``register_materializations`` hook.
        self.materializations = materializations
        self._local = threading.local()
        self._lock = threading.Lock()
        self._relations: dict[tuple[str, str, str], str] | None = None
        self._schemas: set[tuple[str, str]] = set()
        self._attached: set[str] | None = None

    def cursor(self) -> Connection:
        cur = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._local.cursor = self.connection.cursor()
        return cur

    def close(self) -> None:
        cur = getattr(self._local, "cursor", None)
        if cur is not None:
            cur.close()
            self._local.cursor = None
            self._local.engine = None

    def engine(self) -> DuckDBEngine:
        """The engine on this thread's cursor."""
        cur = self.cursor()
        engine = getattr(self._local, "engine", None)
        if engine is None or engine.conn is not cur:
            engine = self._local.engine = DuckDBEngine(self.engine_name, connection=cur)
        return engine

    @contextmanager
    def building(self) -> Iterator[DuckDBEngine]:
        """The engine, in a transaction: everything a build does commits together or not at all."""
        with self.transaction():
            yield self.engine()

    def name(self, relation: Relation) -> str:
        """``relation`` as the engine's SQL names it."""
        return relation.render()

    def sql(self, text: str, node=None) -> str:
        """``text`` (the project's SQL) in the engine's dialect: DuckDB's own, where a database's own
        ``information_schema`` (``db.information_schema.tables``, as packages write it for Postgres or
        Snowflake, and DuckDB has not) reads DuckDB's rows of that database."""
        if "information_schema" not in text.lower():
            return text
        return _INFORMATION_SCHEMA.sub(self._information_schema, text)

    def _information_schema(self, match: re.Match) -> str:
        database, view = match[2], match[5].lower()
        if database.lower() not in self._databases():
            return match[0]
        return f"(SELECT * FROM system.information_schema.{view} WHERE table_catalog = '{database}')"

    def _databases(self) -> set[str]:
        if self._attached is None:
            rows = self.cursor().execute("SELECT database_name FROM duckdb_databases()").fetchall()
            self._attached = {name.lower() for (name,) in rows} - {"system", "temp"}
        return self._attached

    def locate(self, exc: BaseException, node) -> str:
        """Where an error of the engine points in ``node``'s file."""
        return node.original_file_path

    def column_catalog(self) -> list[tuple[str, str, str, str, str]]:
        """``(database, schema, table, column, type)`` of every column, for lineage."""
        return (
            self.connection.cursor()
            .execute(
                "SELECT table_catalog, table_schema, table_name, column_name, data_type FROM information_schema.columns"
            )
            .fetchall()
        )

    def catalog_rows(self) -> list[tuple[str, str, str, str, str, str, int]]:
        """``(database, schema, name, kind, column, type, position)`` of every column, for ``catalog.json``."""
        return self.connection.cursor().execute(_CATALOG_SQL).fetchall()

    def arrow_schema(self, relation: Relation):
        """The Arrow schema of ``relation``, ``None`` when it is gone."""
        try:
            return self.cursor().execute(f"SELECT * FROM {relation.render()} LIMIT 0").to_arrow_table().schema
        except CATALOG_ERRORS:
            return None

    # ------------------------------------------------------------------ relations

    def _load_relations(self) -> dict[tuple[str, str, str], str]:
        if self._relations is None:
            rows = (
                self.connection.cursor()
                .execute(
                    "SELECT database_name, schema_name, table_name, 'table' FROM duckdb_tables() "
                    "UNION ALL SELECT database_name, schema_name, view_name, 'view' FROM duckdb_views() WHERE NOT internal"
                )
                .fetchall()
            )
            self._relations = {(d.lower(), s.lower(), n.lower()): kind for d, s, n, kind in rows}
            self._schemas = {(d.lower(), s.lower()) for d, s, _, _ in rows}
        return self._relations

    def kind(self, relation: Relation) -> str | None:
        """``"table"``, ``"view"`` or ``None`` when the relation does not exist."""
        return self._load_relations().get(self._key(relation))

    def set_kind(self, relation: Relation, kind: str | None) -> None:
        with self._lock:
            relations = self._load_relations()
            if kind is None:
                relations.pop(self._key(relation), None)
            else:
                relations[self._key(relation)] = kind

    def forget(self, relation: Relation) -> None:
        """Look ``relation`` up in the database next time (a macro created or dropped it)."""
        with self._lock:
            if self._relations is not None:
                row = self.cursor().execute(
                    "SELECT 'table' FROM duckdb_tables() WHERE lower(database_name) = lower(?) AND lower(schema_name) = lower(?) "
                    "AND lower(table_name) = lower(?) UNION ALL SELECT 'view' FROM duckdb_views() WHERE lower(database_name) = lower(?) "
                    "AND lower(schema_name) = lower(?) AND lower(view_name) = lower(?)", [*self._key(relation)] * 2).fetchone()  # fmt: skip
                if row is None:
                    self._relations.pop(self._key(relation), None)
                else:
                    self._relations[self._key(relation)] = row[0]

    def _key(self, relation: Relation) -> tuple[str, str, str]:
        return ((relation.database or "").lower(), relation.schema.lower(), relation.identifier.lower())

    def ensure_schema(self, relation: Relation) -> None:
        self._load_relations()
        key = ((relation.database or "").lower(), relation.schema.lower())
        if key not in self._schemas:
            target = (
                f"{quote(relation.database)}.{quote(relation.schema)}"
                if relation.database
                else quote(relation.schema)
            )
            with self._lock:
                self.connection.cursor().execute(f"CREATE SCHEMA IF NOT EXISTS {target}")
                self._schemas.add(key)

    def columns(self, relation_or_sql: Relation | str) -> list[tuple[str, str]]:
        """``(name, DuckDB type)`` of a relation or of a query, without running it."""
        source = (
            relation_or_sql.render() if isinstance(relation_or_sql, Relation) else f"(\n{relation_or_sql}\n)"
        )
        description = self.cursor().execute(f"SELECT * FROM {source} AS __mk LIMIT 0").description
        return [(d[0], str(d[1])) for d in description]

    @contextmanager
    def transaction(self):
        cur = self.cursor()
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        except BaseException:
            try:
                cur.execute("ROLLBACK")
            except DuckDBEngine.ERRORS:
                pass
            raise
        cur.execute("COMMIT")


def run_error(exc: BaseException, node) -> ModelRunError:
    """A database error as a ModelRunError naming the node's file, and the line of a syntax error.

    Statements put the model's SQL on their second line, so DuckDB's ``LINE n`` is line ``n - 1``
    of the rendered SQL (when no ephemeral CTEs were prepended).
    """
    text = str(exc).strip()
    where = node.original_file_path
    match = re.search(r"LINE (\d+):", text)
    if (
        match
        and isinstance(exc, SYNTAX_ERRORS)
        and node.compiled == node.rendered.rstrip().rstrip(";").rstrip()
    ):
        where = f"{where}:{max(1, int(match.group(1)) - 1) + node.line_offset}"
    kind = "SQL syntax error" if isinstance(exc, SYNTAX_ERRORS) else type(exc).__name__
    return ModelRunError(
        f"{kind}: {text.splitlines()[0]}", where=where, hint="Fix the model's SQL and build again."
    )
