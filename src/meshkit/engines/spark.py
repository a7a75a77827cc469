"""The Spark engine (pyspark): in this process (``local[*]``), on a standalone cluster
(``spark://host:port``) or through Spark Connect (``sc://host:port``).

Configured in ``meshkit.toml``::

    [engines.cluster]
    type = "spark"
    master = "spark://127.0.0.1:7077"     # or remote = "sc://127.0.0.1:15002", default local[*]
    partitions = 8                        # parallel JDBC reads of a table (default: the cluster's cores)
    staging = "/shared/tmp"               # where results are staged as Parquet (default: .meshkit/tmp)
    warehouse = "/shared/warehouse"       # where built tables live (default: .meshkit/spark-warehouse)
    "spark.executor.memory" = "2g"        # any Spark setting

Spark reads PostgreSQL and MySQL/MariaDB itself through JDBC, in ``partitions`` parallel range
reads over an integer column, and local Parquet, CSV, JSON and ORC files; any other store is
staged as Parquet from its Arrow stream. Results leave Spark as Parquet in ``staging``, written
in parallel, and stream from there into the destination store, whose write is all or nothing.

Tables Spark builds itself (models) are Parquet folders ``warehouse/SCHEMA/TABLE``: a new table is
written beside the old one and renamed into place, so a failed build leaves the old one as it was;
views are kept as their SQL beside them. A table or view is declared in the session's catalog
when a build first names it (:meth:`SparkEngine.declare`), not all of them at start. ``warehouse`` must be
a folder the driver and every worker see (local disk on one machine, a shared mount on several).
Spark's errors become meshkit errors: their first line, without the Java stack trace.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import re
import secrets
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import sqlglot
from sqlglot import exp

from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, TransientError, UserError
from meshkit.data.stores.base import Store
from meshkit.engines.base import Engine, ErrorKind, Relation, tables_read, text_kind

#: Where Debian's ``libpostgresql-jdbc-java`` and ``libmariadb-java`` put the JDBC drivers.
JDBC_JARS = ("/usr/share/java/postgresql.jar", "/usr/share/java/mariadb-java-client.jar")
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")
_FORMATS = {"parquet": "parquet", "csv": "csv", "jsonl": "json", "orc": "orc"}
#: Spark's types of a UDF's declared result (pyspark.sql.types names; objects, not DDL strings: a classic UDF
#: parses a string through the JVM, which a Spark Connect client has not).
_SPARK_TYPES = {
    "VARCHAR": "StringType",
    "BIGINT": "LongType",
    "INTEGER": "IntegerType",
    "DOUBLE": "DoubleType",
    "BOOLEAN": "BooleanType",
}
_USER_ERRORS = ("AnalysisException", "ParseException", "IllegalArgumentException", "NumberFormatException",
                "ArithmeticException", "SparkDateTimeException", "SparkNumberFormatException")  # fmt: skip

_sessions: dict[tuple, Any] = {}
_lock = threading.Lock()


def _reachable(url: str, default_port: int) -> tuple[str, int] | None:
    """``None`` when ``host:port`` of ``url`` accepts a TCP connection, else the address tried."""
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or default_port
    try:
        with socket.create_connection((host, port), timeout=5):
            return None
    except OSError:
        return host, port


class SparkEngine(Engine):
    """Spark SQL through pyspark."""

    type = "spark"
    DIALECT = "spark"
    SUPPORTS_MERGE = False  # NOTE: MERGE INTO needs a table format such as Iceberg or Delta
    SUPPORTS_PYTHON_UDFS = True
    SUPPORTS_TRANSACTIONS = False
    DISTRIBUTED = True
    SCANS_STORES = frozenset({"postgres", "mysql", "files"})
    SCANS_FORMATS = frozenset(_FORMATS)
    #: NOTE: results are staged as Parquet and reach the store through ``Engine.write``.
    WRITES_STORES = frozenset()
    #: Options that are not Spark settings.
    OPTIONS: ClassVar[frozenset[str]] = frozenset(
        {"master", "remote", "partitions", "staging", "warehouse", "app_name", "jars"}
    )

    def __init__(self, name="spark", options=None, meshkit=None):
        super().__init__(name, options, meshkit)
        unknown = [k for k in self.options if k not in self.OPTIONS and not k.startswith("spark.")]
        if unknown:
            raise ConfigError(f"Unknown option(s) {', '.join(sorted(unknown))} of engine `{name}`.",
                              where=f"meshkit.toml [engines.{name}]",
                              hint=f"Options: {', '.join(sorted(self.OPTIONS))}, and Spark settings (`spark.*`).")  # fmt: skip
        self.remote = self.options.get("remote")
        self.master = self.options.get("master") or ("" if self.remote else "local[*]")
        self._views: list[str] = []
        self._staged: list[str] = []
        #: The warehouse tables this engine declared in the session (``(schema, name)``).
        self._declared: set[tuple[str, str]] = set()
        self.session = self._session()

    @property
    def url(self) -> str:
        """The master (or Spark Connect) URL, for messages."""
        return self.remote or self.master

    # ------------------------------------------------------------------ session

    def _settings(self) -> dict[str, str]:
        runtime = {
            "spark.sql.session.timeZone": "UTC",
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
        }
        given = {k: str(v) for k, v in self.options.items() if k.startswith("spark.")}
        if self.remote:  # NOTE: a Connect session sets only runtime SQL settings; the server owns the rest
            return {**runtime, **given}
        jars = self.options.get("jars") or [j for j in JDBC_JARS if os.path.exists(j)]
        settings = {
            "spark.app.name": self.options.get("app_name", "meshkit"),
            **runtime,
            # NOTE: Spark's own catalog folder, which it creates on start, stays out of the working directory
            "spark.sql.warehouse.dir": Path(self.warehouse, "_catalog").as_uri(),
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.pyspark.python": sys.executable,
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}",
            "spark.executor.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}",
        }
        if jars:
            settings["spark.jars"] = ",".join(jars)
            settings["spark.driver.extraClassPath"] = ":".join(jars)
        host = urlparse(self.master).hostname if self.master.startswith("spark://") else None
        if host in ("127.0.0.1", "localhost"):
            settings["spark.driver.host"] = settings["spark.driver.bindAddress"] = "127.0.0.1"
        settings.update(given)
        return settings

    def _session(self):
        try:
            from pyspark.sql import SparkSession
        except ImportError:
            raise ConfigError(
                f"Engine `{self.name}` needs pyspark.", hint="pip install 'meshkit[spark]'"
            ) from None
        if self.remote or self.master.startswith("spark://"):
            missing = _reachable(self.url, 15002 if self.remote else 7077)
            if missing:
                raise PlatformError(
                    f"Cannot reach the Spark {'Connect server' if self.remote else 'master'} of engine `{self.name}` "
                    f"at {self.url} (nothing listens on {missing[0]}:{missing[1]}).",
                    hint="Check that the cluster is running and the URL in meshkit.toml [engines."
                    f"{self.name}] is right (`master` for spark://, `remote` for sc://).",
                )
        settings = self._settings()
        key = (self.url, tuple(sorted(settings.items())))
        with _lock:
            session = _sessions.get(key)
            if session is None:
                os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
                if not self.remote and not self.master.startswith("spark://"):
                    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
                builder = (  # NOTE: Connect's own builder: the generic one refuses a classic session in the process
                    _connect_builder().remote(self.remote)
                    if self.remote
                    else SparkSession.builder.master(self.master)
                )
                for k, v in settings.items():
                    builder = builder.config(k, v)
                with self._errors():
                    session = builder.getOrCreate()
                if not self.remote:
                    session.sparkContext.setLogLevel("ERROR")
                _quiet_query_errors()
                _sessions[key] = session
        return session

    @contextlib.contextmanager
    def _errors(self, where: str | None = None) -> Iterator[None]:
        """Spark's and the JVM's exceptions as meshkit errors: the first line of the message, no Java stack."""
        try:
            yield
        except MeshkitError:
            raise
        except Exception as exc:
            raise self.error(exc, where) from None

    @classmethod
    def error_kind(cls, exc: BaseException) -> ErrorKind | None:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            return None
        text = _java_text(exc)
        kind = text_kind(text)
        if kind is not None:
            return kind
        if re.search(r"UNAVAILABLE|unresponsive|SparkConnectGrpcException", text):
            return "connection"
        if "OutOfMemoryError" in text:
            return "memory"
        if type(exc).__name__ in _USER_ERRORS or any(k in text for k in _USER_ERRORS):
            return "data"
        return "engine"

    def error(self, exc: BaseException, where: str | None = None) -> MeshkitError:
        """The meshkit error for an exception Spark raised, of the class the same failure has on any engine
        (:meth:`error_kind`)."""
        text = _java_text(exc)
        line = next((t for t in text.splitlines() if t.strip()), type(exc).__name__).strip()
        line = re.sub(r"^(org\.apache\.spark\.|java\.\w+\.)[\w.$]+:\s*", "", line)
        # NOTE: Spark's "line n pos m" is a place in the SQL sqlglot wrote, not in the user's
        line = re.sub(r";? line \d+ pos \d+;?", ";", line).rstrip(";")
        if self.meshkit is not None:
            line = self.meshkit.redactor.redact(line)
        kind = self.error_kind(exc) or "engine"
        if kind == "data":
            return UserError(f"Spark could not run the query: {line}", where=where,
                             hint="Nothing was written; fix the spec or the SQL.")  # fmt: skip
        if kind == "auth":
            return ConfigError(f"A store refused Spark's login: {line}", where=where,
                               hint="Check the user name and password (or their secret).")  # fmt: skip
        if kind == "connection":
            return TransientError(f"Lost a connection of Spark engine `{self.name}` at {self.url}: {line}", where=where,
                                  hint="Check that the cluster and the stores are running and reachable.")  # fmt: skip
        if kind == "memory":
            return PlatformError(f"Spark ran out of memory: {line}", where=where,
                                 hint="Raise `spark.executor.memory` / `spark.driver.memory`.")  # fmt: skip
        return PlatformError(f"Spark failed: {line}", where=where, hint="Run again with --debug for details.")

    @property
    def parallelism(self) -> int:
        if "partitions" in self.options:
            return max(1, int(self.options["partitions"]))
        with contextlib.suppress(Exception):
            if self.remote:  # NOTE: a Connect client has no SparkContext; the server may declare its cores
                return max(1, int(self.session.conf.get("spark.default.parallelism")))
            return max(1, int(self.session.sparkContext.defaultParallelism))
        return 4

    def staging_dir(self) -> str:
        """A new folder under ``staging`` (removed when the engine closes)."""
        base = self.options.get("staging")
        if base is None:
            base = (
                str(self.meshkit.scratch.folder)
                if self.meshkit is not None
                else str(Path.cwd() / ".meshkit" / "tmp")
            )
        path = os.path.join(base, self.temp_name("spark"))
        self._staged.append(path)
        return path

    def transpile(self, sql: str, read: str = "duckdb") -> str:
        """``sql`` in Spark's dialect, with DuckDB's functions Spark lacks rewritten to equivalents."""
        trees = [t.transform(_spark_function) for t in sqlglot.parse(sql, read=read) if t is not None]
        return ";\n".join(t.sql(dialect=self.DIALECT) for t in trees)

    def sql(self, expression: exp.Expression) -> str:
        """``expression`` in Spark's dialect, with DuckDB's functions Spark lacks rewritten (as ``transpile``)."""
        return expression.transform(_spark_function).sql(dialect=self.DIALECT)

    def column_types(self, relation: str) -> list[tuple[str, str]]:
        with self._errors():
            return [(n, t.upper()) for n, t in self.session.sql(f"SELECT * FROM {relation} LIMIT 0").dtypes]

    # ------------------------------------------------------------------ reading

    def can_scan(self, store: Store) -> bool:
        if store.type == "files":
            return not str(getattr(store, "base", "")).startswith("s3://")
        return super().can_scan(store)

    def _view(self, df, kind: str, ordered: bool = True, rescannable: bool = True) -> Relation:
        name = self.temp_name("view")
        df.createOrReplaceTempView(name)
        self._views.append(name)
        schema = self._arrow_schema(df)
        return Relation(name, schema, kind, lambda: self._drop_view(name), ordered, rescannable)

    def _drop_view(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.session.catalog.dropTempView(name)

    def _arrow_schema(self, df) -> pa.Schema:
        with self._errors():
            return df.limit(0).toArrow().schema if hasattr(df, "toArrow") else df.limit(0)._collect_as_arrow()

    def dataframe(self, store: Store, asset: str):
        """A Spark DataFrame over ``asset`` of ``store`` (read by Spark when it can, else staged from Arrow)."""
        with self._errors():
            if self.can_scan(store) and store.type in ("postgres", "mysql"):
                return self._jdbc(store, asset)
            if self.can_scan(store) and store.type == "files":
                df = self._files(store, asset)
                if df is not None:
                    return df
            return self._staged_arrow(store.read(asset))

    def relation(self, store, asset, columns=None, predicate=None) -> Relation:
        df = self.dataframe(store, asset)
        with self._errors():
            if columns:
                df = df.select(*[f"`{c}`" for c in columns])
            if predicate:
                df = df.where(predicate)
        kind = "spark jdbc" if store.type in ("postgres", "mysql") else f"spark {store.type}"
        return self._view(df, kind, ordered=store.type == "files")

    def _jdbc(self, store: Store, asset: str):
        url, properties = _jdbc_target(store)
        reader = self.session.read.format("jdbc").option("url", url).option("dbtable", asset)
        reader = reader.option("fetchsize", "10000").option("preferTimestampNTZ", "true")
        for key, value in properties.items():
            reader = reader.option(key, value)
        bounds = _partition_bounds(store, asset)
        partitions = self.parallelism
        if bounds is not None and partitions > 1 and bounds[2] > bounds[1]:
            column, low, high = bounds
            reader = (reader.option("partitionColumn", column).option("lowerBound", str(low))
                      .option("upperBound", str(high + 1)).option("numPartitions", str(partitions)))  # fmt: skip
        return reader.load()

    def _files(self, store: Store, asset: str):
        located = store._locate(asset)
        fmt = _FORMATS.get(located.fmt)
        if fmt is None or not located.exists:
            return None
        reader = self.session.read.format(fmt)
        if fmt == "csv":
            reader = reader.option("header", "true").option("inferSchema", "true")
        path = located.path
        schema = store._stored_schema(located) if hasattr(store, "_stored_schema") else None
        if located.is_dir and fmt == "parquet" and schema is None:
            reader = reader.option("recursiveFileLookup", "false")
        return reader.load(path)

    def _staged_arrow(self, reader: pa.RecordBatchReader):
        """``reader``'s batches written as Parquet to the staging folder (bounded memory), read by Spark."""
        folder = self.staging_dir()
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "part-00000.parquet")
        schema = _spark_safe(reader.schema)
        with pq.ParquetWriter(path, schema) as writer:
            for batch in reader:
                writer.write_batch(batch.cast(schema) if batch.schema != schema else batch)
        return self.session.read.parquet(folder)

    def register_arrow(self, reader: pa.RecordBatchReader, name: str | None = None) -> Relation:
        with self._errors():
            return self._view(self._staged_arrow(reader), "arrow stream (staged)")

    def query(self, sql: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """``sql`` run by Spark, written as Parquet to staging in parallel, streamed back in batches."""
        folder = self.staging_dir()
        with self._errors():
            self.session.sql(sql).write.mode("overwrite").parquet(folder)
        files = sorted(glob.glob(os.path.join(folder, "part-*.parquet")))
        dataset = pads.dataset(files, format="parquet")
        return _sans_field_metadata(dataset.scanner(batch_size=batch_rows).to_reader())

    def fetch(self, sql: str) -> pa.Table:
        """Collected through the driver (no staging): for small results only."""
        with self._errors():
            df = self.session.sql(sql)
            if hasattr(df, "toArrow"):
                return _sans_field_metadata(df.toArrow().to_reader()).read_all()
        return super().fetch(sql)

    def fetch_one(self, sql: str) -> tuple | None:
        with self._errors():
            row = self.session.sql(sql).first()
        return None if row is None else tuple(row)

    def register_udf(self, udf) -> None:
        from pyspark.sql import types
        from pyspark.sql.functions import pandas_udf

        func = udf.func

        def arrow(*series):
            return func(*[pa.Array.from_pandas(s) for s in series]).to_pandas()

        returns = getattr(types, _SPARK_TYPES.get(udf.returns.upper(), "StringType"))()
        wrapped = pandas_udf(arrow, returnType=returns)
        if udf.volatile:
            wrapped = wrapped.asNondeterministic()
        with self._errors():
            self.session.udf.register(udf.name, wrapped)

    def execute(self, sql: str) -> None:
        with self._errors():
            self.session.sql(sql)

    # ------------------------------------------------------------------ tables of the engine (models)

    @property
    def warehouse(self) -> str:
        """The folder of the tables Spark builds."""
        base = self.options.get("warehouse")
        if base is None:
            root = self.meshkit.workspace.root if self.meshkit is not None else Path.cwd()
            base = str(Path(root) / ".meshkit" / "spark-warehouse")
        return str(Path(base).resolve())

    def _parts(self, table: str) -> tuple[str, str]:
        t = exp.to_table(table, dialect=self.DIALECT)
        return (t.db or "default").lower(), t.name.lower()

    def table_path(self, table: str) -> str:
        """The Parquet folder of ``table`` (``schema.name``) in the warehouse."""
        schema, name = self._parts(table)
        return os.path.join(self.warehouse, schema, name)

    def _view_file(self, view: str) -> str:
        return self.table_path(view) + ".view.sql"

    def kind(self, table: str) -> str | None:
        """``"table"``, ``"view"`` or ``None``: what ``table`` is in the warehouse."""
        if os.path.isfile(self._view_file(table)):
            return "view"
        return "table" if os.path.isdir(self.table_path(table)) else None

    def ensure_schema(self, schema: str) -> None:
        folder = os.path.join(self.warehouse, schema.lower())
        os.makedirs(folder, exist_ok=True)
        self.execute(f"CREATE DATABASE IF NOT EXISTS {self.quote(schema.lower())} LOCATION '{folder}'")

    def _register(self, table: str) -> None:
        """(Re)declare ``table`` in the session's catalog over its folder."""
        schema, name = self._parts(table)
        self.ensure_schema(schema)
        qualified = f"{self.quote(schema)}.{self.quote(name)}"
        with self._errors():
            with contextlib.suppress(Exception):
                self.session.sql(f"DROP VIEW IF EXISTS {qualified}")
            with contextlib.suppress(Exception):
                self.session.sql(f"DROP TABLE IF EXISTS {qualified}")
            self.session.sql(f"CREATE TABLE {qualified} USING parquet LOCATION '{self.table_path(table)}'")
        self._declared.add((schema, name))

    def relations(self) -> list[tuple[str, str, str]]:
        """``(schema, name, kind)`` of every table and view in the warehouse folder (built by any run)."""
        found = []
        if not os.path.isdir(self.warehouse):
            return found
        for schema in sorted(os.listdir(self.warehouse)):
            folder = os.path.join(self.warehouse, schema)
            if schema.startswith("_") or not os.path.isdir(folder):  # `_catalog` is Spark's own
                continue
            for entry in sorted(os.listdir(folder)):
                if entry.endswith(".view.sql"):
                    found.append((schema, entry[: -len(".view.sql")], "view"))
                elif "." not in entry and os.path.isdir(os.path.join(folder, entry)):
                    found.append((schema, entry, "table"))
        return found

    def declare(self, table: str) -> None:
        """Declare ``table`` (``schema.name``, built by an earlier run) in the session, once per engine; a view
        with the tables it reads first. Nothing when the warehouse has no such table."""
        key = self._parts(table)
        if key in self._declared:
            return
        self._declared.add(key)
        kind = self.kind(table)
        if kind == "table":
            self._register(table)
        elif kind == "view":
            sql = Path(self._view_file(table)).read_text()
            for read in _tables_read(sql, self.DIALECT):
                self.declare(read)
            self.ensure_schema(key[0])
            with self._errors():
                self.session.sql(f"CREATE OR REPLACE VIEW {self._qualified(table)} AS {sql}")

    def _qualified(self, table: str) -> str:
        schema, name = self._parts(table)
        return f"{self.quote(schema)}.{self.quote(name)}"

    def _rows(self, table: str) -> int:
        path = self.table_path(table)
        files = glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True)
        return sum(pq.ParquetFile(f).metadata.num_rows for f in files)

    def _put(self, fresh: str, path: str) -> None:
        """Move the folder ``fresh`` to ``path``, the old one (if any) out of the way first and then deleted."""
        old = f"{path}.{secrets.token_hex(4)}.old"
        had = os.path.isdir(path)
        if had:
            os.rename(path, old)
        os.rename(fresh, path)
        if had:
            shutil.rmtree(old, ignore_errors=True)

    def create_table_as(self, table: str, select: str) -> int | None:
        path = self.table_path(table)
        fresh = f"{path}.{secrets.token_hex(4)}.new"
        self.ensure_schema(self._parts(table)[0])
        try:
            with self._errors():
                self.session.sql(select).write.parquet(fresh)
            self._put(fresh, path)
        finally:
            shutil.rmtree(fresh, ignore_errors=True)
        if os.path.isfile(self._view_file(table)):
            os.remove(self._view_file(table))
        self._register(table)
        return self._rows(table)

    def insert(self, table: str, select: str, columns=None) -> int | None:
        before = self._rows(table)
        into = f" ({', '.join(self.quote(c) for c in columns)})" if columns else ""
        self.execute(f"INSERT INTO {self._qualified(table)}{into} {select}")
        self.execute(f"REFRESH TABLE {self._qualified(table)}")
        return self._rows(table) - before

    def _rewrite(
        self, table: str, select: str, keys, columns, merge: bool = False, update=None
    ) -> int | None:
        """``table`` rewritten as its rows not matching ``select``'s on ``keys``, then ``select``'s rows.

        With ``merge`` a matched row takes ``select``'s values in ``update`` (default: the columns ``select``
        gives) and keeps its others, as ``MERGE ... WHEN MATCHED THEN UPDATE SET`` does. A new row has NULL
        in the columns ``select`` lacks.
        """
        target = self._qualified(table)
        names = [n for n, _ in self.column_types(target)]
        given = {c.lower() for c in (columns or [n for n, _ in self.column_types(f"({select})")])}
        old = ", ".join(self.quote(n) for n in names)
        new = ", ".join(
            f"s.{self.quote(n)}" if n.lower() in given else f"NULL AS {self.quote(n)}" for n in names
        )
        written = self.fetch_one(f"SELECT count(*) FROM ({select}) AS s")[0]
        if not keys:
            self.create_table_as(table, f"SELECT {new} FROM ({select}) AS s")
            return written
        match = " AND ".join(f"s.{self.quote(k)} = t.{self.quote(k)}" for k in keys)
        parts = [
            f"SELECT {old} FROM {target} AS t WHERE NOT EXISTS (SELECT 1 FROM ({select}) AS s WHERE {match})"
        ]
        if not merge:
            parts.append(f"SELECT {new} FROM ({select}) AS s")
        else:
            changed = {c.lower() for c in update} if update else given
            both = ", ".join(f"{'s' if n.lower() in changed else 't'}.{self.quote(n)}" for n in names)
            parts.append(f"SELECT {both} FROM {target} AS t JOIN ({select}) AS s ON {match}")
            parts.append(
                f"SELECT {new} FROM ({select}) AS s WHERE NOT EXISTS (SELECT 1 FROM {target} AS t WHERE {match})"
            )
        self.create_table_as(table, " UNION ALL ".join(parts))
        return written

    def merge(self, table: str, select: str, keys, columns=None, update=None) -> int | None:
        """Upsert by rewriting the table (Parquet tables have no MERGE): matched rows are updated."""
        if not keys:
            return self.insert(table, select, columns)
        return self._rewrite(table, select, keys, columns, merge=True, update=update)

    def overwrite(self, table: str, select: str, keys, columns=None) -> int | None:
        return self._rewrite(table, select, keys, columns)

    def swap(self, stage: str, table: str) -> None:
        self._put(self.table_path(stage), self.table_path(table))
        with contextlib.suppress(Exception):
            self.session.sql(f"DROP TABLE IF EXISTS {self._qualified(stage)}")
        self._register(table)

    def drop(self, table: str, kind: str = "table") -> None:
        qualified = self._qualified(table)
        if kind == "view":
            self.execute(f"DROP VIEW IF EXISTS {qualified}")
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._view_file(table))
            return
        self.execute(f"DROP TABLE IF EXISTS {qualified}")
        shutil.rmtree(self.table_path(table), ignore_errors=True)

    def add_column(self, table: str, column: str, data_type: str) -> None:
        self.execute(f"ALTER TABLE {self._qualified(table)} ADD COLUMNS ({self.quote(column)} {data_type})")

    def create_view(self, view: str, select: str) -> None:
        self.ensure_schema(self._parts(view)[0])
        self.execute(f"CREATE OR REPLACE VIEW {self._qualified(view)} AS {select}")
        Path(self._view_file(view)).write_text(select)
        self._declared.add(self._parts(view))

    def close(self) -> None:
        for name in self._views:
            self._drop_view(name)
        self._views.clear()
        for path in self._staged:
            shutil.rmtree(path, ignore_errors=True)
        self._staged.clear()


def _java_text(exc: BaseException) -> str:
    """An exception's message (the Java exception's, when there is one), without the JVM stack trace."""
    text = str(exc).strip()
    java = getattr(exc, "java_exception", None)
    if java is not None:
        with contextlib.suppress(Exception):
            text = str(java.toString())
    return re.sub(r"\s*JVM stacktrace:.*", "", text, flags=re.S)


def _connect_builder():
    """A Spark Connect session builder that works beside a classic session of this process.

    ``SparkSession.builder.remote`` refuses one when a classic session runs (``SESSION_ALREADY_EXIST``)
    and, when none runs, switches the whole process to Connect mode, so a classic engine opened
    after it fails; Connect's own builder does neither.
    """
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    return ConnectSession.builder


def _quiet_query_errors() -> None:
    """Keep pyspark from logging each failed query with its Java stack trace: the error reaches the user."""
    try:
        from pyspark.logger import PySparkLogger
    except ImportError:  # pyspark before 4 does not log them
        return
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)


def _spark_function(node: exp.Expression) -> exp.Expression:
    """DuckDB functions Spark has no twin of, as Spark expressions giving the same values."""
    if isinstance(node, exp.RegexpFullMatch):
        pattern = exp.func("concat", exp.Literal.string("^(?:"), node.expression, exp.Literal.string(")$"))
        return exp.RegexpLike(this=node.this, expression=pattern)
    if isinstance(node, exp.Left) and isinstance(node.expression, exp.Neg):
        # NOTE: DuckDB's left(x, -n) drops the last n characters; Spark's gives an empty string.
        kept = exp.Sub(this=exp.Length(this=node.this.copy()), expression=node.expression.this.copy())
        return exp.Substring(this=node.this, start=exp.Literal.number(1), length=kept)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "md5_number_upper":
        # NOTE: DuckDB reads the first 8 bytes of the MD5 digest as a little-endian unsigned integer.
        digest = exp.func("md5", node.expressions[0])
        pairs = [
            exp.func("substr", digest.copy(), exp.Literal.number(i), exp.Literal.number(2))
            for i in range(15, 0, -2)
        ]
        number = exp.func("conv", exp.func("concat", *pairs), exp.Literal.number(16), exp.Literal.number(10))
        return exp.cast(number, exp.DataType.build("DECIMAL(20, 0)"))
    return node


def _tables_read(sql: str, dialect: str) -> list[str]:
    """``schema.name`` of each table ``sql`` reads."""
    trees = [t for t in sqlglot.parse(sql, read=dialect) if t is not None]
    return [f"{table.db or 'default'}.{table.name}" for tree in trees for table in tables_read(tree)]


def _spark_safe(schema: pa.Schema) -> pa.Schema:
    """``schema`` with the types Spark cannot read from Parquet replaced (unsigned integers widened...)."""
    fields = []
    for f in schema:
        t = f.type
        if pa.types.is_unsigned_integer(t):
            t = pa.int64() if t.bit_width < 64 else pa.decimal128(20, 0)
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            t = pa.string()
        elif pa.types.is_time(t):
            t = pa.string()
        elif pa.types.is_timestamp(t) and t.unit == "ns":
            t = pa.timestamp("us", t.tz)
        fields.append(pa.field(f.name, t, f.nullable))
    return pa.schema(fields)


def _sans_field_metadata(reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    schema = pa.schema([f.remove_metadata() for f in reader.schema])
    if schema.equals(reader.schema, check_metadata=True):
        return reader
    return pa.RecordBatchReader.from_batches(schema, (b.cast(schema) for b in reader))


def _jdbc_target(store: Store) -> tuple[str, dict[str, str]]:
    """The JDBC URL and connection properties (user, password, driver) of a PostgreSQL or MySQL store."""
    if store.type == "postgres":
        import psycopg

        dsn, params = store._conninfo()
        info = psycopg.conninfo.conninfo_to_dict(dsn, **params)
        host, port, db = info.get("host", "localhost"), info.get("port", 5432), info.get("dbname", "")
        props = {"driver": "org.postgresql.Driver", "user": str(info.get("user", ""))}
        if info.get("password"):
            props["password"] = str(info["password"])
        return f"jdbc:postgresql://{host}:{port}/{db}", props
    params = store._params()
    props = {"driver": "org.mariadb.jdbc.Driver", "user": str(params.get("user", ""))}
    if params.get("password"):
        props["password"] = str(params["password"])
    return (
        f"jdbc:mysql://{params.get('host', 'localhost')}:{params.get('port', 3306)}/{params.get('database') or ''}",
        props,
    )


def _partition_bounds(store: Store, asset: str) -> tuple[str, int, int] | None:
    """``(column, min, max)`` of the integer column to split a JDBC read on (the first one), or ``None``."""
    column = next((c.name for c in store.schema(asset) if pa.types.is_integer(c.arrow_type)), None)
    if column is None:
        return None
    c = store.quote_column(column)
    conn = store.connect()
    try:
        cursor = conn.cursor()
        cursor.execute(f"SELECT min({c}), max({c}) FROM {store.quote(asset)}")
        low, high = cursor.fetchone()
    finally:
        conn.close()
    return None if low is None else (column, int(low), int(high))
