"""PostgreSQL store through psycopg 3.

Writes stream Arrow batches as CSV into ``COPY ... FROM STDIN`` inside one transaction (staging
table then swap for ``overwrite`` and ``merge``: PostgreSQL's DDL is transactional). Writers that
create or alter a table first take a transaction-scoped advisory lock on its name, so two jobs
creating the same table queue instead of failing on ``pg_type``. Reads run on a
server-side cursor and turn each fetched block into an Arrow batch, so memory stays bounded.
Connecting retries transient failures (refused, timed out, server starting) with backoff; bad
credentials, unknown hosts and missing databases fail at once, and no message carries a password.
"""

from __future__ import annotations

import io
import re
import secrets
from collections.abc import Sequence

import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg.types.string import TextLoader

from meshkit.core.errors import ConfigError, MeshkitError, UserError
from meshkit.data.stores.base import (
    ColumnSchema,
    StoreConnectionError,
    first_line,
    missing_asset,
    with_retries,
)
from meshkit.data.stores.sql import SQLStore, arrow_to_sql_type

#: SQLSTATE classes that retrying cannot fix: bad credentials (28), unknown database (3D).
_FATAL_STATES = ("28", "3D")
#: SQLSTATEs worth retrying: too many connections, server starting or shutting down.
_TRANSIENT_STATES = ("53300", "57P01", "57P02", "57P03", "08000", "08001", "08003", "08006")
_UNKNOWN_HOST = re.compile(
    r"translate host name|resolve host|name or service not known|nodename nor servname", re.I
)
_BUSY = re.compile(r"starting up|shutting down|too many (clients|connections)|recovery mode", re.I)
_NUMERIC = re.compile(r"numeric\((\d+),(\d+)\)")

#: Native type name (``format_type``) -> Arrow type, for types with one obvious match.
_NATIVE = {
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double precision": pa.float64(),
    "boolean": pa.bool_(),
    "text": pa.string(),
    "bytea": pa.binary(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
    "time without time zone": pa.time64("us"),
    "json": pa.string(),
    "jsonb": pa.string(),
    "uuid": pa.string(),
}


def native_to_arrow(native: str) -> pa.DataType:
    """Arrow type for a PostgreSQL type name as ``format_type`` spells it (unknown types read as text)."""
    if native.endswith("[]"):
        return pa.list_(native_to_arrow(native[:-2]))
    if m := _NUMERIC.fullmatch(native):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    base = re.sub(r"\(\d+\)", "", native)
    return _NATIVE.get(base, pa.string())


def _pg_array(values: list | None) -> str | None:
    """A PostgreSQL array literal (``{1,2,NULL}``) for a Python list."""
    if values is None:
        return None
    items = []
    for v in values:
        if v is None:
            items.append("NULL")
        elif isinstance(v, list):
            items.append(_pg_array(v))
        else:
            text = str(v).lower() if isinstance(v, bool) else str(v)
            items.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(items) + "}"


def _csv_ready(batch: pa.RecordBatch) -> pa.RecordBatch:
    """``batch`` with the columns CSV cannot spell as PostgreSQL reads them turned into text."""
    t = pa.types
    columns = []
    for col in batch.columns:
        typ = col.type
        if isinstance(typ, pa.ExtensionType):
            col, typ = col.storage, col.storage.type
        if t.is_binary(typ) or t.is_large_binary(typ) or t.is_fixed_size_binary(typ):
            col = pa.array([None if v is None else "\\x" + v.hex() for v in col.to_pylist()], pa.string())
        elif t.is_list(typ) or t.is_large_list(typ):
            col = pa.array([_pg_array(v) for v in col.to_pylist()], pa.string())
        elif t.is_timestamp(typ) and typ.unit == "ns":
            col = col.cast(pa.timestamp("us", tz=typ.tz))  # safe cast: fails rather than drop nanoseconds
        elif t.is_time64(typ) and typ.unit == "ns":
            col = col.cast(pa.time64("us"))
        columns.append(col)
    return pa.record_batch(columns, names=batch.schema.names)


class PostgreSQLStore(SQLStore):
    """A PostgreSQL database: ``dsn`` (a URL or reference such as ``env:PG_DSN``) or host/port/user/password/dbname."""

    type = "postgres"
    url_schemes = ("postgresql", "postgres")
    dialect = "postgres"
    placeholder = "%s"
    driver_errors = (psycopg.Error,)
    STEP_TRANSACTIONS = True

    @classmethod
    def from_url(cls, url: str) -> dict:
        return {"dsn": url}

    # ------------------------------------------------------------------ connecting

    def _conninfo(self) -> tuple[str, dict]:
        options = self.options
        dsn = self.resolve(options.get("dsn"))
        if (
            dsn is None
            and not any(k in options for k in ("host", "dbname", "user"))
            and self.meshkit is not None
        ):
            dsn = self.meshkit.config.get("postgres_dsn")  # NOTE: a secret key: resolved by the config
        params = {
            k: self.resolve(options[k])
            for k in ("host", "port", "user", "password", "dbname")
            if k in options
        }
        if dsn is None and not params:
            raise ConfigError(f"Store `{self.name}` has no PostgreSQL connection settings.",
                              hint="Set `postgres_dsn` (config or MESHKIT_POSTGRES_DSN), or `dsn` in [stores.NAME].")  # fmt: skip
        dsn = dsn or ""
        if dsn.startswith("postgres://"):
            dsn = "postgresql://" + dsn[len("postgres://") :]
        params["connect_timeout"] = self.number_option("connect_timeout", 10, (1, 3_600))
        return dsn, params

    def _where(self, dsn: str, params: dict) -> str:
        """``user@host:port/dbname`` for messages, never with a password."""
        try:
            info = psycopg.conninfo.conninfo_to_dict(dsn, **params)
        except psycopg.ProgrammingError:
            return "PostgreSQL"
        return f"{info.get('user', '')}@{info.get('host', 'localhost')}:{info.get('port', 5432)}/{info.get('dbname', '')}"

    def connect(self) -> psycopg.Connection:
        """A new connection (session time zone UTC), retried with backoff on transient failures."""
        dsn, params = self._conninfo()
        where = self._where(dsn, params)

        def attempt():
            try:
                conn = psycopg.connect(dsn, **params)
            except psycopg.ProgrammingError as exc:
                raise ConfigError(f"Invalid PostgreSQL connection settings for store `{self.name}`: {self.redact(first_line(exc))}.",
                                  hint="Check the `dsn` option or `postgres_dsn`.") from None  # fmt: skip
            conn.execute("SET TIME ZONE 'UTC'")
            conn.commit()
            for name in ("json", "jsonb", "uuid"):
                conn.adapters.register_loader(name, TextLoader)
            return conn

        try:
            return with_retries(attempt, is_transient=self._transient, retries=self.number_option("retries", 3, (0, 100)),
                                backoff=self.number_option("retry_backoff", 0.5, (0, 60), float), what=f"Connecting to {where}")  # fmt: skip
        except psycopg.OperationalError as exc:
            raise self._connect_error(exc, where) from None
        except StoreConnectionError as exc:
            raise StoreConnectionError(self.redact(exc.message), hint=exc.hint) from None

    @staticmethod
    def _transient(exc: BaseException) -> bool:
        if not isinstance(exc, psycopg.OperationalError):
            return False
        state, text = exc.sqlstate or "", str(exc)
        if state.startswith(_FATAL_STATES) or _UNKNOWN_HOST.search(text):
            return False
        if "FATAL:" in text:  # the server answered and refused: only its busy states are worth a retry
            return bool(_BUSY.search(text))
        return not state or state in _TRANSIENT_STATES

    def _connect_error(self, exc: psycopg.OperationalError, where: str) -> MeshkitError:
        text = self.redact(first_line(exc))
        if _UNKNOWN_HOST.search(str(exc)):
            return ConfigError(
                f"Cannot connect store `{self.name}` to {where}: unknown host.", hint="Check the host name."
            )
        if (exc.sqlstate or "").startswith("28") or re.search(
            r"authentication failed|role .* does not exist|pg_hba", text
        ):
            return ConfigError(f"PostgreSQL refused the login of store `{self.name}` to {where}: {text}.",
                               hint="Check the user name and password (or the secret they reference).")  # fmt: skip
        return ConfigError(
            f"Cannot connect store `{self.name}` to {where}: {text}.", hint="Check the connection settings."
        )

    def translate_error(self, exc: BaseException, asset: str) -> MeshkitError:
        if isinstance(exc, psycopg.OperationalError) and self._transient(exc):
            return StoreConnectionError(f"Lost the connection of store `{self.name}` while writing `{asset}`: "
                                        f"{self.redact(first_line(exc))}.", hint="Nothing was written; retry.")  # fmt: skip
        if isinstance(exc, psycopg.errors.UndefinedTable):
            return missing_asset(self, asset)
        if isinstance(exc, psycopg.DataError | psycopg.IntegrityError | psycopg.errors.DatatypeMismatch):
            return UserError(f"PostgreSQL rejected the data written to `{asset}` in store `{self.name}`: "
                             f"{self.redact(first_line(exc))}.", hint="Nothing was written; fix or Cast the data.")  # fmt: skip
        return super().translate_error(exc, asset)

    # ------------------------------------------------------------------ types and names

    def sql_type(self, arrow_type: pa.DataType) -> str:
        t = pa.types
        if isinstance(arrow_type, pa.ExtensionType):
            arrow_type = arrow_type.storage_type
        if t.is_int8(arrow_type):
            return "SMALLINT"
        if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
            return "BYTEA"
        if t.is_struct(arrow_type) or t.is_map(arrow_type) or t.is_uint64(arrow_type):
            raise UserError(f"PostgreSQL has no column type for {arrow_type}")
        if t.is_list(arrow_type) or t.is_large_list(arrow_type):
            return self.sql_type(arrow_type.value_type) + "[]"
        return arrow_to_sql_type(arrow_type).sql("postgres")

    def _table_parts(self, conn, asset: str) -> tuple[str, str]:
        from sqlglot import exp

        table = exp.to_table(asset, dialect=self.dialect)
        schema = table.db or conn.execute("SELECT current_schema()").fetchone()[0]
        return schema, table.name

    def _lock_table(self, conn, asset: str) -> None:
        schema, table = self._table_parts(conn, asset)
        conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"meshkit.table:{schema}.{table}",)
        )

    def _columns(self, conn, asset: str) -> list[str] | None:
        described = self._describe(conn, asset)
        return None if described is None else [c.name for c in described]

    def _describe(self, conn, asset: str) -> list[ColumnSchema] | None:
        schema, table = self._table_parts(conn, asset)
        rows = conn.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            (schema, table),
        ).fetchall()
        return [
            ColumnSchema(name, native_to_arrow(native), native, nullable) for name, native, nullable in rows
        ] or None

    # ------------------------------------------------------------------ writing

    def _insert(self, conn, asset: str, reader: pa.RecordBatchReader) -> int:
        cols = ", ".join(self.quote_column(n) for n in reader.schema.names)
        options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
        rows = 0
        with (
            conn.cursor() as cur,
            cur.copy(f"COPY {self.quote(asset)} ({cols}) FROM STDIN (FORMAT csv)") as copy,
        ):
            for batch in reader:
                if batch.num_rows:
                    buf = io.BytesIO()
                    pacsv.write_csv(_csv_ready(batch), buf, options)
                    copy.write(buf.getbuffer())
                    rows += batch.num_rows
        return rows

    # ------------------------------------------------------------------ reading

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        schema = self.read_schema(asset, columns)
        sql = self.select_sql(asset, schema.names, filter)
        conn = self.connect()
        try:
            cur = conn.cursor(name=f"mk_read_{secrets.token_hex(4)}")
            cur.execute(sql)
        except psycopg.Error as exc:
            conn.close()
            raise UserError(f"Cannot read `{asset}` from store `{self.name}`: {self.redact(first_line(exc))}.",
                            hint="Check the filter.") from None  # fmt: skip

        return self._cursor_reader(schema, cur, conn.close)

    def list_assets(self) -> list[str]:
        conn = self.connect()
        try:
            rows = conn.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_name NOT LIKE '%%__mk_stage_%%' "
                "ORDER BY 1, 2"
            ).fetchall()
            current = conn.execute("SELECT current_schema()").fetchone()[0]
        finally:
            conn.close()
        return [name if schema == current else f"{schema}.{name}" for schema, name in rows]
