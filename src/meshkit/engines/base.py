"""The engine interface: where SQL runs.

An engine declares what it can do as class flags (its SQL dialect, merge, Python UDFs,
transactions, the store types and file formats it scans and writes natively) and offers the operations the
domains need: a relation over ``store/asset`` with projection and predicate pushdown, a query to
Arrow batches, create-table-as / insert / merge / swap, an Arrow stream registered as a relation,
and a Python function registered for SQL. Callers ask the flags, never ``if engine.type == ...``.

Expressions are sqlglot trees; an engine renders them in its own dialect with :meth:`Engine.sql`.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import pyarrow as pa
import sqlglot
from sqlglot import exp

from meshkit.data.stores.base import Store, WriteResult

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.data.transforms.base import Udf


#: What an exception an engine raised means (:meth:`Engine.error_kind`).
ErrorKind = Literal["auth", "connection", "memory", "data", "engine"]
#: Messages of a lost or refused connection (worth retrying), whichever library words them.
TRANSIENT = re.compile(r"connection refused|could not connect|timed out|timeout|connection reset|server closed|"
                       r"too many connections|could not receive|terminating connection|failed to connect", re.I)  # fmt: skip
#: Messages of a store refusing a login.
AUTH = re.compile(r"password authentication failed|access denied|authentication failed|no pg_hba.conf", re.I)


def text_kind(text: str) -> ErrorKind | None:
    """``auth`` or ``connection`` when an error's ``text`` says a store refused the login or a connection
    was lost, else ``None``."""
    if AUTH.search(text):
        return "auth"
    if TRANSIENT.search(text):
        return "connection"
    return None


def tables_read(tree: exp.Expression) -> list[exp.Table]:
    """The tables the statement ``tree`` reads: its table names, but those of its own CTEs."""
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    return [t for t in tree.find_all(exp.Table) if t.name and (t.db or t.name.lower() not in ctes)]


@dataclass
class Relation:
    """A relation an engine reads: SQL to put after ``FROM`` (in the engine's dialect), its schema, and how
    to release it."""

    sql: str
    schema: pa.Schema
    kind: str
    release: Callable[[], None] = lambda: None
    #: Whether rows have an order worth keeping (a file's); a database table's rows have none.
    ordered: bool = True
    #: Whether the relation can be read more than once (an Arrow stream cannot).
    rescannable: bool = True


class Sink(ABC):
    """Writes the rows of a ``SELECT`` into one asset of a store in one statement of the engine, all or nothing."""

    #: How the rows are written, for a transfer's plan (``parquet COPY``).
    kind: str = ""

    @abstractmethod
    def write(self, select: str, mode: str, keys: Sequence[str]) -> WriteResult:
        """Write ``select``'s rows in ``mode`` (``keys`` for a merge)."""


class Engine(ABC):
    """Base of every engine. Subclasses set ``type`` and the capability flags, and implement the operations."""

    #: The name used in ``[engines.NAME] type = ...``.
    type: ClassVar[str]
    #: The sqlglot dialect expressions are rendered in.
    DIALECT: ClassVar[str]
    #: ``MERGE``/upsert on keys in one statement.
    SUPPORTS_MERGE: ClassVar[bool] = False
    #: Python functions callable from SQL (the UDFs of Encrypt, Digest, Redact).
    SUPPORTS_PYTHON_UDFS: ClassVar[bool] = False
    #: Several statements commit or roll back together.
    SUPPORTS_TRANSACTIONS: ClassVar[bool] = False
    #: Runs on several processes or machines (a cluster), so it reads sources itself in parallel.
    DISTRIBUTED: ClassVar[bool] = False
    #: Store types whose assets the engine reads itself (others are read through the store as Arrow).
    SCANS_STORES: ClassVar[frozenset[str]] = frozenset()
    #: File formats the engine reads and writes itself.
    SCANS_FORMATS: ClassVar[frozenset[str]] = frozenset()
    #: Store types whose assets the engine writes itself in one statement (others take its rows as Arrow).
    WRITES_STORES: ClassVar[frozenset[str]] = frozenset()
    #: The exception classes the engine's own library raises (callers catch them without importing it).
    ERRORS: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self, name: str, options: Mapping[str, Any] | None = None, meshkit: Meshkit | None = None):
        self.name = name
        self.options = dict(options or {})
        self.meshkit = meshkit

    @classmethod
    def open(cls, name: str, options: Mapping[str, Any], meshkit: Meshkit | None,
             stores: Sequence[Store] = ()) -> Engine:  # fmt: skip
        """The engine for work touching ``stores`` (an engine may run inside one of them)."""
        return cls(name, options, meshkit)

    # ------------------------------------------------------------------ errors

    @classmethod
    def error_kind(cls, exc: BaseException) -> ErrorKind | None:
        """What ``exc`` means when the engine's library raised it: ``auth`` (a store refused the login),
        ``connection`` (a connection was lost: worth retrying), ``memory``, ``data`` (the statement or the
        data is wrong) or ``engine``; ``None`` for an exception the engine did not raise."""
        return None

    @staticmethod
    def is_connection(obj: object) -> bool:
        """Whether ``obj`` is a connection of the engine's library that runs statements itself, its
        ``cursor()`` being a separate connection with its own transaction (DuckDB's)."""
        return False

    # ------------------------------------------------------------------ capabilities

    def can_scan(self, store: Store) -> bool:
        """Whether the engine reads ``store``'s assets itself (else through ``store.read`` as Arrow)."""
        return store.type in self.SCANS_STORES

    def can_write(self, store: Store) -> bool:
        """Whether the engine may write ``store``'s assets itself (see :meth:`sink`)."""
        return store.type in self.WRITES_STORES

    def sql(self, expression: exp.Expression) -> str:
        """``expression`` rendered in the engine's dialect."""
        return expression.sql(dialect=self.DIALECT)

    def transpile(self, sql: str, read: str = "duckdb") -> str:
        """``sql`` written in dialect ``read``, rewritten in the engine's."""
        if read == self.DIALECT:
            return sql
        return ";\n".join(sqlglot.transpile(sql, read=read, write=self.DIALECT))

    # ------------------------------------------------------------------ reading

    @abstractmethod
    def relation(self, store: Store, asset: str, columns: Sequence[str] | None = None,
                 predicate: str | None = None) -> Relation:  # fmt: skip
        """``asset`` of ``store`` as a relation, reading only ``columns`` and the rows ``predicate`` keeps.

        ``predicate`` is SQL in the engine's dialect; engines push both into the scan where the store allows.
        """

    @abstractmethod
    def query(self, sql: str, batch_rows: int = 65_536) -> pa.RecordBatchReader:
        """The result of ``sql`` as a stream of Arrow batches."""

    def fetch(self, sql: str) -> pa.Table:
        """The whole result of ``sql`` (a small one: a test's, a macro's query) as an Arrow table."""
        return self.query(sql).read_all()

    def fetch_one(self, sql: str) -> tuple | None:
        """The first row of ``sql`` as a tuple (``None`` when it returns none)."""
        for batch in self.query(sql, batch_rows=1):
            if batch.num_rows:
                return tuple(column[0].as_py() for column in batch.columns)
        return None

    def column_types(self, relation: str) -> list[tuple[str, str]]:
        """``(name, type)`` of each column of ``relation``, types as the engine names them (upper case)."""
        return [(f.name, str(f.type).upper()) for f in self.query(f"SELECT * FROM {relation} LIMIT 0").schema]

    def arrow_type(self, sql_type: str) -> pa.DataType:
        """The Arrow type the engine gives values of ``sql_type`` (a type in its dialect)."""
        return self.query(f"SELECT CAST(NULL AS {sql_type}) AS x").schema.field(0).type

    @abstractmethod
    def register_arrow(self, reader: pa.RecordBatchReader, name: str | None = None) -> Relation:
        """An Arrow stream as a relation (scanned once unless the engine copies it)."""

    @abstractmethod
    def register_udf(self, udf: Udf) -> None:
        """A Python function callable from SQL by ``udf.name`` (engines with ``SUPPORTS_PYTHON_UDFS``)."""

    # ------------------------------------------------------------------ writing tables of the engine

    @abstractmethod
    def execute(self, sql: str) -> None:
        """Run a statement that returns nothing."""

    def create_table_as(self, table: str, select: str) -> int | None:
        """Create (or replace) ``table`` from ``select``; the rows written when the engine says."""
        self.execute(f"CREATE OR REPLACE TABLE {table} AS {select}")
        return None

    def insert(self, table: str, select: str, columns: Sequence[str] | None = None) -> int | None:
        """Append the rows of ``select`` to ``table`` (into ``columns`` when given); the rows written."""
        into = f" ({', '.join(self.quote(c) for c in columns)})" if columns else ""
        self.execute(f"INSERT INTO {table}{into} {select}")
        return None

    def merge(self, table: str, select: str, keys: Sequence[str], columns: Sequence[str] | None = None,
              update: Sequence[str] | None = None) -> int | None:  # fmt: skip
        """Upsert the rows of ``select`` into ``table`` on ``keys`` (writing ``columns``, default all); a matched
        row takes the values of ``update`` (default: every column written) and keeps its others."""
        on = " AND ".join(f"t.{self.quote(k)} = s.{self.quote(k)}" for k in keys)
        sets = "*" if not update else ", ".join(f"{self.quote(c)} = s.{self.quote(c)}" for c in update)
        self.execute(f"MERGE INTO {table} AS t USING ({select}) AS s ON {on} "
                     f"WHEN MATCHED THEN UPDATE SET {sets} WHEN NOT MATCHED THEN INSERT *")  # fmt: skip
        return None

    def overwrite(
        self, table: str, select: str, keys: Sequence[str], columns: Sequence[str] | None = None
    ) -> int | None:
        """Replace the rows of ``table`` matching a row of ``select`` on ``keys`` (all rows without keys) by
        ``select``'s rows: dbt's delete+insert, and insert_overwrite with ``keys`` its partition columns."""
        if keys:
            match = " AND ".join(f"s.{self.quote(k)} = t.{self.quote(k)}" for k in keys)
            self.execute(
                f"DELETE FROM {table} AS t WHERE EXISTS (SELECT 1 FROM ({select}) AS s WHERE {match})"
            )
        else:
            self.execute(f"DELETE FROM {table}")
        return self.insert(table, select if not columns else
                           f"SELECT {', '.join(self.quote(c) for c in columns)} FROM ({select}) AS s", columns)  # fmt: skip

    def swap(self, stage: str, table: str) -> None:
        """Replace ``table`` by ``stage`` in one step."""
        self.execute(f"DROP TABLE IF EXISTS {table}")
        self.execute(f"ALTER TABLE {stage} RENAME TO {table}")

    def drop(self, table: str, kind: str = "table") -> None:
        """Drop ``table`` (a ``table`` or a ``view``) if it exists."""
        self.execute(f"DROP {kind.upper()} IF EXISTS {table}")

    def create_view(self, view: str, select: str) -> None:
        """Create or replace the view ``view`` over ``select``."""
        self.execute(f"CREATE OR REPLACE VIEW {view} AS {select}")

    def add_column(self, table: str, column: str, data_type: str) -> None:
        """Add ``column`` of ``data_type`` (in the engine's type names) to ``table``."""
        self.execute(f"ALTER TABLE {table} ADD COLUMN {self.quote(column)} {data_type}")

    def ensure_schema(self, schema: str) -> None:
        """Create ``schema`` unless it exists."""
        self.execute(f"CREATE SCHEMA IF NOT EXISTS {self.quote(schema)}")

    def kind(self, table: str) -> str | None:
        """``"table"``, ``"view"`` or ``None``: what ``schema.name`` is among the relations the engine keeps."""
        raise NotImplementedError(f"Engine `{self.name}` does not keep tables of its own.")

    def relations(self) -> list[tuple[str, str, str]]:
        """``(schema, name, kind)`` of every relation the engine keeps."""
        raise NotImplementedError(f"Engine `{self.name}` does not keep tables of its own.")

    def declare(self, table: str) -> None:  # noqa: B027 - only engines that keep tables outside a database need it
        """Make ``table`` (``schema.name``), built by an earlier run, visible to this one's SQL."""

    # ------------------------------------------------------------------ writing stores

    def write(self, store: Store, asset: str, select: str, mode: str, keys: Sequence[str] = (),
              batch_rows: int = 65_536, count: Callable[[pa.RecordBatchReader], pa.RecordBatchReader] | None = None,
              ) -> WriteResult:  # fmt: skip
        """Write the rows of ``select`` to ``asset`` of ``store``, all or nothing.

        The default streams the result as Arrow batches into ``store.write`` (``count`` may wrap the stream);
        engines override it for the stores they write themselves.
        """
        reader = self.query(select, batch_rows)
        if count is not None:
            reader = count(reader)
        return store.write(asset, reader, mode, list(keys) or None)

    def sink(self, store: Store, asset: str, mode: str) -> Sink | None:
        """A one-statement writer of ``asset`` in ``mode``, or ``None``: the rows then go through :meth:`write`.

        Only engines with ``store.type`` in ``WRITES_STORES`` return one, for the assets and modes they
        write all or nothing themselves.
        """
        return None

    # ------------------------------------------------------------------ one piece of work

    @contextlib.contextmanager
    def settings(self, *, memory_limit: str | None = None, temp_dir: str | None = None,
                progress: bool = False, ordered: bool = True) -> Iterator[None]:  # fmt: skip
        """Settings for one piece of work, restored after it; engines ignore those they have no use for.

        ``memory_limit`` is the memory the engine may hold (it spills to ``temp_dir`` past it);
        ``progress`` turns on the measure :meth:`watch` reads; ``ordered=False`` says the rows' order
        need not be kept (a database table's rows have none), so scans write as they read.
        """
        yield

    @contextlib.contextmanager
    def watch(self, progress: Callable[..., None] | None, every: float = 0.2) -> Iterator[None]:
        """Call ``progress(0, fraction=f)`` with the share of the source a running statement has read, as it
        grows (engines that measure it; ``settings`` with ``progress`` on)."""
        yield

    # ------------------------------------------------------------------ helpers

    def quote(self, name: str) -> str:
        """An identifier in the engine's dialect."""
        return exp.to_identifier(name, quoted=True).sql(dialect=self.DIALECT)

    @staticmethod
    def temp_name(prefix: str = "mk") -> str:
        return f"__{prefix}_{secrets.token_hex(4)}"

    def describe(self) -> dict[str, Any]:
        """What the engine is and can do: its name, type and capability flags."""
        return {"name": self.name, "type": self.type, "dialect": self.DIALECT, "merge": self.SUPPORTS_MERGE,
                "python_udfs": self.SUPPORTS_PYTHON_UDFS, "transactions": self.SUPPORTS_TRANSACTIONS,
                "distributed": self.DISTRIBUTED, "scans": sorted(self.SCANS_STORES),
                "formats": sorted(self.SCANS_FORMATS), "writes": sorted(self.WRITES_STORES)}  # fmt: skip

    def close(self) -> None:  # noqa: B027 - optional for subclasses
        """Release what the engine holds."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
