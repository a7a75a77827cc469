"""MySQL and MariaDB store through PyMySQL.

MySQL commits DDL implicitly, so writes never rely on a transaction spanning DDL:
``overwrite`` loads a staging table and swaps it in with one atomic
``RENAME TABLE a TO old, stage TO a``; ``merge`` loads a staging table and then deletes and inserts in
one transaction; ``append`` to an existing table is one transaction, and a table created (or a
column added) for an append is dropped again if the insert fails. Writers that create or alter a
table hold the server's named lock (``GET_LOCK``) on its name, so concurrent writers queue. Tables use ``utf8mb4`` with a
binary collation, so unicode is kept and keys compare exactly. Time zones are stored as UTC in
``DATETIME(6)`` columns marked by the column comment ``meshkit:utc``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit

import pyarrow as pa
import pymysql
import pymysql.cursors

from meshkit.core.errors import ConfigError, MeshkitError, UserError
from meshkit.data.stores.base import (
    ColumnSchema,
    StoreConnectionError,
    first_line,
    missing_asset,
    with_retries,
)
from meshkit.data.stores.sql import SQLStore, added_fields, batch_rows

UTC_COMMENT = "meshkit:utc"
#: MySQL error codes retrying cannot fix: access denied (1044, 1045, 1698), unknown database (1049).
_FATAL_CODES = {1044, 1045, 1049, 1698}
#: Error codes worth retrying: cannot connect (2003), server gone (2006, 2013), too many connections (1040).
_TRANSIENT_CODES = {1040, 1205, 1213, 2002, 2003, 2006, 2013}
_UNKNOWN_HOST = 2005
#: How long a writer that creates or alters a table waits for another one doing the same.
_LOCK_WAIT_SECONDS = 600
_DECIMAL = re.compile(r"decimal\((\d+),(\d+)\)")

_NATIVE = {
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "mediumint": pa.int32(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "float": pa.float32(),
    "double": pa.float64(),
    "date": pa.date32(),
    "datetime": pa.timestamp("us"),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "time": pa.time64("us"),
    "year": pa.int16(),
}
_BINARY = ("blob", "tinyblob", "mediumblob", "longblob", "binary", "varbinary")


def native_to_arrow(column_type: str, comment: str = "") -> pa.DataType:
    """Arrow type of a MySQL ``COLUMN_TYPE`` (``tinyint(1)`` is boolean; ``meshkit:utc`` marks instants)."""
    text = column_type.lower()
    if text.startswith("tinyint(1)"):
        return pa.bool_()
    if m := _DECIMAL.match(text):
        return pa.decimal128(int(m.group(1)), int(m.group(2)))
    base = re.split(r"[ (]", text, maxsplit=1)[0]
    if base == "datetime" and comment == UTC_COMMENT:
        return pa.timestamp("us", tz="UTC")
    if base in _BINARY:
        return pa.binary()
    if base == "bigint" and "unsigned" in text:
        return pa.uint64()
    return _NATIVE.get(base, pa.string())


def _from_db(values: Sequence, arrow_type: pa.DataType) -> pa.Array:
    if pa.types.is_time(arrow_type):
        values = [None if v is None else (dt.datetime.min + v).time() for v in values]
    elif pa.types.is_boolean(arrow_type):
        values = [None if v is None else bool(v) for v in values]
    elif pa.types.is_timestamp(arrow_type) and arrow_type.tz:
        values = [None if v is None else v.replace(tzinfo=dt.UTC) for v in values]
    return pa.array(values, arrow_type)


class MySQLStore(SQLStore):
    """A MySQL or MariaDB database: ``dsn`` (URL or reference) or host/port/user/password/database."""

    type = "mysql"
    url_schemes = ("mysql", "mariadb")
    dialect = "mysql"
    placeholder = "%s"
    TRANSACTIONAL_DDL = False
    driver_errors = (pymysql.MySQLError,)

    @classmethod
    def from_url(cls, url: str) -> dict:
        return {"dsn": url}

    # ------------------------------------------------------------------ connecting

    def _params(self) -> dict:
        options = self.options
        dsn = self.resolve(options.get("dsn"))
        if (
            dsn is None
            and not any(k in options for k in ("host", "database", "user"))
            and self.meshkit is not None
        ):
            dsn = self.meshkit.config.get("mysql_dsn")  # NOTE: a secret key: resolved by the config
        params: dict = {}
        if dsn:
            url = urlsplit(dsn)
            params = {"host": url.hostname or "localhost", "port": url.port or 3306, "user": unquote(url.username or ""),
                      "password": unquote(url.password or ""), "database": url.path.lstrip("/") or None}  # fmt: skip
        elif not any(k in options for k in ("host", "database", "user")):
            raise ConfigError(f"Store `{self.name}` has no MySQL connection settings.",
                              hint="Set `mysql_dsn` (config or MESHKIT_MYSQL_DSN), or `dsn` in [stores.NAME].")  # fmt: skip
        for key in ("host", "port", "user", "password", "database"):
            if key in options:
                params[key] = self.resolve(options[key])
        params["port"] = int(params.get("port") or 3306)
        return params

    def connect(self, cursorclass=pymysql.cursors.Cursor) -> pymysql.Connection:
        """A new connection (utf8mb4, UTC session), retried with backoff on transient failures."""
        params = self._params()
        where = (
            f"{params.get('user', '')}@{params.get('host')}:{params['port']}/{params.get('database') or ''}"
        )

        def attempt():
            return pymysql.connect(**params, charset="utf8mb4", autocommit=False, init_command="SET time_zone = '+00:00'",
                                   cursorclass=cursorclass,
                                   connect_timeout=self.number_option("connect_timeout", 10, (1, 3_600)))  # fmt: skip

        try:
            return with_retries(attempt, is_transient=self._transient, retries=self.number_option("retries", 3, (0, 100)),
                                backoff=self.number_option("retry_backoff", 0.5, (0, 60), float), what=f"Connecting to {where}")  # fmt: skip
        except pymysql.MySQLError as exc:
            raise self._connect_error(exc, where) from None
        except StoreConnectionError as exc:
            raise StoreConnectionError(self.redact(exc.message), hint=exc.hint) from None

    @staticmethod
    def _code(exc: BaseException) -> int | None:
        args = getattr(exc, "args", ())
        return args[0] if args and isinstance(args[0], int) else None

    def _transient(self, exc: BaseException) -> bool:
        if not isinstance(exc, pymysql.OperationalError):
            return False
        code = self._code(exc)
        if code == 2003 and "Name or service not known" in str(exc) or "nodename nor servname" in str(exc):
            return False
        return code in _TRANSIENT_CODES

    def _connect_error(self, exc: pymysql.MySQLError, where: str) -> MeshkitError:
        code = self._code(exc)
        text = self.redact(str(exc.args[1]) if len(exc.args) > 1 else first_line(exc))
        if code in (1044, 1045, 1698):
            return ConfigError(f"MySQL refused the login of store `{self.name}` to {where}: {text}.",
                               hint="Check the user name and password (or the secret they reference).")  # fmt: skip
        if code == 1049:
            return ConfigError(
                f"Database of store `{self.name}` does not exist ({where}).",
                hint="Create it or fix the name.",
            )
        if code == _UNKNOWN_HOST or "Name or service not known" in text:
            return ConfigError(
                f"Cannot connect store `{self.name}` to {where}: unknown host.", hint="Check the host name."
            )
        return ConfigError(
            f"Cannot connect store `{self.name}` to {where}: {text}.", hint="Check the connection settings."
        )

    def translate_error(self, exc: BaseException, asset: str) -> MeshkitError:
        code = self._code(exc)
        text = self.redact(str(exc.args[1]) if len(getattr(exc, "args", ())) > 1 else first_line(exc))
        if self._transient(exc):
            return StoreConnectionError(f"Lost the connection of store `{self.name}` while writing `{asset}`: {text}.",
                                        hint="The target was left as it was; retry.")  # fmt: skip
        if code == 1146:
            return missing_asset(self, asset)
        if "can not be used with MySQL" in text:  # NaN and infinities
            return UserError(f"MySQL cannot store the float value written to `{asset}` in store `{self.name}`: {text}.",
                             hint="The target was left as it was; replace NaN and infinities (e.g. with NULL).")  # fmt: skip
        if isinstance(exc, pymysql.DataError | pymysql.IntegrityError) or code in (1292, 1366, 1406):
            return UserError(f"MySQL rejected the data written to `{asset}` in store `{self.name}`: {text}.",
                             hint="The target was left as it was; fix or Cast the data.")  # fmt: skip
        return super().translate_error(exc, asset)

    # ------------------------------------------------------------------ types and names

    def sql_type(self, arrow_type: pa.DataType) -> str:
        t = pa.types
        if isinstance(arrow_type, pa.ExtensionType):
            arrow_type = arrow_type.storage_type
        simple = [(t.is_boolean, "BOOLEAN"), (t.is_int8, "TINYINT"), (t.is_int16, "SMALLINT"), (t.is_int32, "INT"),
                  (t.is_int64, "BIGINT"), (t.is_uint8, "SMALLINT"), (t.is_uint16, "INT"), (t.is_uint32, "BIGINT"),
                  (t.is_uint64, "BIGINT UNSIGNED"), (t.is_float32, "FLOAT"), (t.is_float64, "DOUBLE"),
                  (t.is_date, "DATE"), (t.is_null, "LONGTEXT")]  # fmt: skip
        for test, name in simple:
            if test(arrow_type):
                return name
        if t.is_string(arrow_type) or t.is_large_string(arrow_type) or t.is_string_view(arrow_type):
            return "LONGTEXT"
        if t.is_binary(arrow_type) or t.is_large_binary(arrow_type) or t.is_fixed_size_binary(arrow_type):
            return "LONGBLOB"
        if t.is_decimal(arrow_type) and arrow_type.precision <= 65 and arrow_type.scale <= 30:
            return f"DECIMAL({arrow_type.precision}, {arrow_type.scale})"
        if t.is_timestamp(arrow_type):
            return f"DATETIME(6) COMMENT '{UTC_COMMENT}'" if arrow_type.tz else "DATETIME(6)"
        if t.is_time(arrow_type):
            return "TIME(6)"
        raise UserError(f"MySQL has no column type for {arrow_type}")

    def _split(self, conn, asset: str) -> tuple[str, str]:
        from sqlglot import exp

        table = exp.to_table(asset, dialect=self.dialect)
        if table.db:
            return table.db, table.name
        with conn.cursor() as cur:
            cur.execute("SELECT DATABASE()")
            database = cur.fetchone()[0]
        if database is None:
            raise ConfigError(f"Store `{self.name}` has no default database for asset `{asset}`.",
                              hint="Name assets `database.table` or give the store a database.")  # fmt: skip
        return database, table.name

    def _describe(self, conn, asset: str) -> list[ColumnSchema] | None:
        database, table = self._split(conn, asset)
        with conn.cursor() as cur:
            cur.execute(
                "SELECT column_name, column_type, is_nullable, column_comment FROM information_schema.columns "
                "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
                (database, table),
            )
            rows = cur.fetchall()
        return [ColumnSchema(n, native_to_arrow(t, c), t, nl == "YES") for n, t, nl, c in rows] or None

    def _columns(self, conn, asset: str) -> list[str] | None:
        described = self._describe(conn, asset)
        return None if described is None else [c.name for c in described]

    def _create(self, conn, asset: str, schema: pa.Schema) -> None:
        cols = ", ".join(f"{self.quote_column(f.name)} {self.sql_type(f.type)}" for f in schema)
        self._exec(
            conn, f"CREATE TABLE {self.quote(asset)} ({cols}) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        )

    def _added_columns(self, conn, asset: str, schema: pa.Schema, existing: list[str]) -> list[str]:
        added = [f.name for f in added_fields(schema, existing)]
        self._evolve(conn, asset, schema, existing)
        return added

    # ------------------------------------------------------------------ writing

    def _insert(self, conn, asset: str, reader: pa.RecordBatchReader) -> int:
        names = reader.schema.names
        utc = [i for i, f in enumerate(reader.schema) if pa.types.is_timestamp(f.type) and f.type.tz]
        sql = (f"INSERT INTO {self.quote(asset)} ({', '.join(self.quote_column(n) for n in names)}) "
               f"VALUES ({', '.join(['%s'] * len(names))})")  # fmt: skip
        rows = 0
        with conn.cursor() as cur:
            for batch in reader:
                for i in utc:  # instants are stored as UTC wall times
                    batch = batch.set_column(
                        i,
                        batch.schema.field(i).with_type(pa.timestamp("us")),
                        batch.column(i).cast(pa.timestamp("us", tz="UTC")).cast(pa.timestamp("us")),
                    )
                for start in range(0, batch.num_rows, self.insert_batch_rows):
                    part = batch.slice(start, self.insert_batch_rows)
                    cur.executemany(sql, batch_rows(part))
                    rows += part.num_rows
        return rows

    def _drop_quietly(self, conn, asset: str) -> None:
        with contextlib.suppress(pymysql.MySQLError):
            conn.rollback()
            self._exec(conn, f"DROP TABLE IF EXISTS {self.quote(asset)}")

    @contextlib.contextmanager
    def _table_lock(self, conn, asset: str):
        """Hold the server's named lock on ``asset``: writers that create or alter it queue."""
        database, table = self._split(conn, asset)
        name = "meshkit:" + hashlib.sha1(f"{database}.{table}".encode()).hexdigest()
        with conn.cursor() as cur:
            cur.execute("SELECT GET_LOCK(%s, %s)", (name, _LOCK_WAIT_SECONDS))
            if cur.fetchone()[0] != 1:
                raise StoreConnectionError(f"Store `{self.name}` waited {_LOCK_WAIT_SECONDS} s for another writer of `{asset}`.",
                                           hint="Nothing was written; retry when the other write is done.")  # fmt: skip
        try:
            yield
        finally:
            with contextlib.suppress(pymysql.MySQLError), conn.cursor() as cur:
                cur.execute("SELECT RELEASE_LOCK(%s)", (name,))

    def _undo_columns(self, conn, asset: str, added: list[str]) -> None:
        with contextlib.suppress(pymysql.MySQLError):
            conn.rollback()
            for name in added:
                self._exec(conn, f"ALTER TABLE {self.quote(asset)} DROP COLUMN {self.quote_column(name)}")

    def _write(self, conn, asset, reader, mode, keys, evolve) -> int:
        existing = self._columns(conn, asset)
        if existing is None and not evolve and mode != "overwrite":
            raise missing_asset(self, asset)
        if existing is not None and not evolve and mode != "overwrite":
            if added := [f.name for f in added_fields(reader.schema, existing)]:
                raise UserError(f"Column(s) {', '.join(added)} are not in table `{asset}` and schema evolution is off.",
                                hint="Drop the columns or allow evolution.")  # fmt: skip
        if mode == "append" and existing is not None:
            added = []
            if evolve and added_fields(reader.schema, existing):
                with self._table_lock(conn, asset):
                    added = self._added_columns(conn, asset, reader.schema, self._columns(conn, asset))
            try:
                return self._insert(conn, asset, reader)
            except BaseException:
                self._undo_columns(conn, asset, added)
                raise
        stage = self._staging_name(asset)
        self._create(conn, stage, reader.schema)
        try:
            rows = self._insert(conn, stage, reader)
            conn.commit()
            with self._table_lock(conn, asset):
                self._publish(conn, asset, stage, reader.schema, mode, keys, evolve)
            return rows
        finally:
            self._drop_quietly(conn, stage)

    def _publish(self, conn, asset: str, stage: str, schema: pa.Schema, mode, keys, evolve) -> None:
        """Move the loaded ``stage`` into ``asset`` as it is now (another writer may have created it meanwhile)."""
        existing = self._columns(conn, asset)
        if existing is None:
            self._exec(conn, f"RENAME TABLE {self.quote(stage)} TO {self.quote(asset)}")
        elif mode == "overwrite":
            old = self._staging_name(asset).replace("__mk_stage_", "__mk_old_")
            self._exec(
                conn,
                f"RENAME TABLE {self.quote(asset)} TO {self.quote(old)}, {self.quote(stage)} TO {self.quote(asset)}",
            )
            self._exec(conn, f"DROP TABLE {self.quote(old)}")
        else:
            added = self._added_columns(conn, asset, schema, existing) if evolve else []
            try:
                if mode == "merge":
                    self._merge(conn, asset, stage, schema.names, keys)
                else:
                    cols = ", ".join(self.quote_column(n) for n in schema.names)
                    self._exec(
                        conn,
                        f"INSERT INTO {self.quote(asset)} ({cols}) SELECT {cols} FROM {self.quote(stage)}",
                    )
                conn.commit()
            except BaseException:
                self._undo_columns(conn, asset, added)
                raise

    # ------------------------------------------------------------------ reading

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        schema = self.read_schema(asset, columns)
        sql = self.select_sql(asset, schema.names, filter)
        conn = self.connect(pymysql.cursors.SSCursor)
        cur = conn.cursor()
        try:
            cur.execute(sql)
        except pymysql.MySQLError as exc:
            conn.close()
            raise UserError(f"Cannot read `{asset}` from store `{self.name}`: {self.redact(first_line(exc))}.",
                            hint="Check the filter.") from None  # fmt: skip

        return self._cursor_reader(schema, cur, conn.close, _from_db)

    def list_assets(self) -> list[str]:
        conn = self.connect()
        try:
            with conn.cursor() as cur:
                cur.execute(
                    "SELECT table_schema, table_name, table_schema = DATABASE() FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') "
                    "AND (DATABASE() IS NULL OR table_schema = DATABASE()) "
                    "AND table_name NOT LIKE '%%\\_\\_mk\\_stage\\_%%' AND table_name NOT LIKE '%%\\_\\_mk\\_old\\_%%' "
                    "ORDER BY 1, 2"
                )
                rows = cur.fetchall()
        finally:
            conn.close()
        return [name if current else f"{database}.{name}" for database, name, current in rows]
