"""What a PostgreSQL client sees of the catalog: only the datasets, and the columns, its role may read.

BI tools and drivers browse ``pg_catalog`` and ``information_schema``. Each session gets an empty
in-memory DuckDB database holding, per store, a schema and, per dataset the role may read, an
empty table with the columns the decision leaves (masked columns as text, removed ones absent);
catalog queries run there, on DuckDB's own ``pg_catalog`` views, with no access to files or
settings and no data at all. Every other query is governed SQL.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from meshkit.core.errors import UserError
from meshkit.engines.duckdb import DuckDBEngine
from meshkit.governance.masking import masked_schema
from meshkit.governance.query import check_functions

if TYPE_CHECKING:
    from meshkit.governance.decision import Subject
    from meshkit.governance.query import GovernedSQL

SERVER_VERSION = "16.0"
#: The version string drivers parse (SQLAlchemy, JDBC read ``PostgreSQL <major>.<minor>``).
VERSION = f"PostgreSQL {SERVER_VERSION} (meshkit governed SQL)"
CATALOG_SCHEMAS = {"pg_catalog", "information_schema"}
#: Functions clients call about the session and the catalog.
CATALOG_FUNCTIONS = {"version", "current_schema", "current_schemas", "current_database", "current_user",
                     "session_user", "user", "format_type", "obj_description", "col_description",
                     "shobj_description", "has_schema_privilege", "has_table_privilege",
                     "has_database_privilege", "array_to_string", "array_agg", "unnest", "array_lower",
                     "array_upper", "generate_series", "quote_ident", "txid_current", "inet_server_addr",
                     "inet_server_port", "set_config"}  # fmt: skip
#: Missing PostgreSQL functions, defined as macros in the session's catalog database.
_MACROS = (
    "CREATE MACRO pg_get_userbyid(id) AS 'meshkit'",
    "CREATE MACRO pg_get_serial_sequence(t, c) AS NULL",
    "CREATE MACRO pg_get_indexdef(i, n := 0, p := false) AS NULL",
    "CREATE MACRO pg_get_constraintdef(c, p := false) AS NULL",
    "CREATE MACRO pg_relation_is_publishable(c) AS false",
    "CREATE MACRO pg_encoding_to_char(e) AS 'UTF8'",
    "CREATE MACRO pg_tablespace_location(t) AS ''",
    "CREATE MACRO pg_total_relation_size(r) AS 0",
    "CREATE MACRO pg_table_size(r) AS 0",
    "CREATE MACRO pg_relation_size(r) AS 0",
    "CREATE TABLE pg_collation (oid INTEGER, collname VARCHAR, collnamespace INTEGER)",
    "CREATE TABLE pg_sequence (seqrelid INTEGER, seqstart BIGINT, seqincrement BIGINT, seqmax BIGINT, "
    "seqmin BIGINT, seqcache BIGINT, seqcycle BOOLEAN)",
    "CREATE MACRO txid_current() AS 1",
    "CREATE MACRO pg_backend_pid() AS 1",
    # PostgreSQL's names for the types (DuckDB's format_type gives int8, varchar...)
    "CREATE MACRO mk_format_type(t, m) AS CASE format_type(t, m) WHEN 'int8' THEN 'bigint' "
    "WHEN 'int4' THEN 'integer' WHEN 'int2' THEN 'smallint' WHEN 'float8' THEN 'double precision' "
    "WHEN 'float4' THEN 'real' WHEN 'varchar' THEN 'text' WHEN 'bool' THEN 'boolean' "
    "WHEN 'timestamp' THEN 'timestamp without time zone' WHEN 'timestamptz' THEN 'timestamp with time zone' "
    "ELSE format_type(t, m) END",
    "CREATE MACRO to_regtype(n) AS CAST(NULL AS INTEGER)",
    "CREATE MACRO to_regclass(n) AS CAST(NULL AS INTEGER)",
    "CREATE MACRO set_config(n, v, l) AS v",
    "CREATE MACRO inet_server_addr() AS '127.0.0.1'",
    "CREATE MACRO inet_server_port() AS 0",
)


def is_catalog_query(tree: exp.Expression) -> bool:
    """Whether ``tree`` reads only the system catalog and session functions (and no dataset)."""
    tables = list(tree.find_all(exp.Table))
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    real = [t for t in tables if t.name not in ctes]
    if any(not _is_catalog_table(t) for t in real):
        return False
    if real:
        return True
    names = {
        (f.name if isinstance(f, exp.Anonymous) else f.sql_name()).lower() for f in tree.find_all(exp.Func)
    }
    names |= {c.name.lower() for c in tree.find_all(exp.Column) if isinstance(c.this, exp.Var)}
    return bool(names) and all(
        n in CATALOG_FUNCTIONS or n.startswith("pg_") or n in _SESSION_CONSTANTS for n in names
    )


#: Casts between object ids and names PostgreSQL has; here ids stay ids.
_OID_TYPES = {"regtype", "regclass", "regproc", "regprocedure", "regnamespace", "regrole", "oid"}
_OWN_TABLES = {"pg_collation", "pg_sequence"}
_SESSION_CONSTANTS = {"current_user", "session_user", "current_schema", "current_catalog", "user"}


def _is_catalog_table(table: exp.Table) -> bool:
    return table.db.lower() in CATALOG_SCHEMAS or (not table.db and table.name.lower().startswith("pg_"))


class SessionCatalog:
    """The catalog one session may browse, in an in-memory DuckDB database without data."""

    def __init__(self, governed: GovernedSQL, subject: Subject, purpose: str | None, database: str):
        self.governed = governed
        self.subject = subject
        self.purpose = purpose
        self.database = database
        self._engine: DuckDBEngine | None = None

    def visible(self) -> dict[str, dict[str, object]]:
        """``{store: {asset: arrow schema}}`` of what the subject may read for the purpose."""
        governor = self.governed.governor
        out: dict[str, dict[str, object]] = {}
        for dataset in governor.catalog.datasets():
            decision = governor.decide(
                self.subject, self.purpose, dataset, channel="pg-catalog", audit_log=False
            )
            if not decision.allowed:
                continue
            try:
                schema = self.governed.sources.resolve(dataset).schema
            except Exception:  # noqa: BLE001 - a dataset whose store is unreachable is not listed
                continue
            out.setdefault(dataset.store, {})[dataset.asset] = masked_schema(schema, decision)
        return out

    def connection(self):
        """The catalog's DuckDB connection: in memory, without files, network or extensions."""
        if self._engine is None:
            engine = DuckDBEngine(options={"config": {"enable_external_access": False,
                                                      "autoinstall_known_extensions": False,
                                                      "autoload_known_extensions": False}})  # fmt: skip
            conn = engine.conn
            for macro in _MACROS:
                conn.execute(macro)
            for store, assets in self.visible().items():
                conn.execute(f"CREATE SCHEMA {_quote(store)}")
                for asset, schema in assets.items():
                    empty = schema.empty_table()
                    conn.register("__mk_empty", empty)
                    conn.execute(f"CREATE TABLE {_quote(store)}.{_quote(asset)} AS SELECT * FROM __mk_empty")
                    conn.unregister("__mk_empty")
            conn.execute("SET lock_configuration = true")
            self._engine = engine
        return self._engine.conn

    def run(self, tree: exp.Expression):
        """Run a catalog query; returns an Arrow table."""
        check_functions(tree)
        sql = ""
        for _ in range(8):  # a replaced node's children are rewritten on the next pass
            tree = tree.transform(_unqualified).transform(self._constants)
            if sql == (sql := tree.sql(dialect="duckdb")):
                break
        try:
            return self.connection().execute(sql).to_arrow_table()
        except DuckDBEngine.ERRORS as exc:
            raise UserError(f"The catalog query failed: {str(exc).splitlines()[0]}") from None

    def _constants(self, node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Column) and node.args.get("db") and node.db.lower() == "pg_catalog":
            node.set("db", None)
            return node
        if isinstance(node, exp.Cast) and node.to.sql(dialect="postgres").lower() in _OID_TYPES:
            return node.this
        name = (
            (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if isinstance(node, exp.Func)
            else ""
        )
        if isinstance(node, exp.Column) and isinstance(node.this, exp.Var):
            name = node.name.lower()
        if name == "format_type":
            return exp.Anonymous(this="mk_format_type", expressions=node.expressions)
        if name == "json_build_object":
            return exp.Anonymous(this="json_object", expressions=node.expressions)
        if name == "version":
            return exp.Literal.string(VERSION)
        if name in ("current_database", "current_catalog"):
            return exp.Literal.string(self.database)
        if name in ("current_user", "session_user", "user"):
            return exp.Literal.string(self.subject.user or "")
        return node

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


def _unqualified(node: exp.Expression) -> exp.Expression:
    """``pg_catalog.f(...)`` as ``f(...)``; the catalog tables DuckDB lacks are the session's own."""
    if isinstance(node, exp.Table) and node.db.lower() == "pg_catalog" and node.name.lower() in _OWN_TABLES:
        node.set("db", None)
        return node
    if (
        isinstance(node, exp.Dot)
        and isinstance(node.expression, exp.Func)
        and node.this.name.lower() == "pg_catalog"
    ):
        return node.expression
    return node


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def catalog_dialect(sql: str) -> str:
    """``sql`` without the PostgreSQL-only spellings psql uses (``OPERATOR(pg_catalog.~)``, collations)."""
    sql = re.sub(r"OPERATOR\(pg_catalog\.([^)]+)\)", r"\1", sql)
    return re.sub(r"COLLATE\s+pg_catalog\.\w+", "", sql)


def parse_postgres(sql: str) -> exp.Expression | None:
    """``sql`` as one PostgreSQL statement, or ``None`` when it is not exactly one that parses."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="postgres") if s is not None]
    except sqlglot.errors.SqlglotError:
        return None
    return statements[0] if len(statements) == 1 else None
