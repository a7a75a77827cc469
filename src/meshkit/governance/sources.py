"""Where a catalog dataset's rows come from, as a relation in the governed DuckDB connection.

Tables and views of the warehouse are referenced in place by their fully qualified name (which a
user's CTE cannot shadow); a view's definition is returned too, so governed SQL can govern the
tables under it. Datasets in other stores are read through the store and registered as Arrow
data; a store that keeps snapshots (Iceberg) reads the one ``AS OF`` names.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from meshkit.catalog.catalog import Dataset
from meshkit.core.errors import UserError
from meshkit.data.stores.duckdb import DuckDBStore

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

#: Read the Parquet footers of at most this many files to learn which columns hold no nulls.
MAX_FOOTERS = 256


@dataclass(frozen=True)
class TimeTravel:
    """``AS OF``: a snapshot id (``kind='version'``) or a point in time (``kind='timestamp'``)."""

    kind: str
    value: str


@dataclass
class Source:
    """A dataset as the engine reads it."""

    relation: str
    schema: pa.Schema
    #: The ``SELECT`` of a warehouse view, to govern the tables it reads.
    view_sql: str | None = None
    #: Arrow data to register under ``relation`` before running (other stores).
    load: Callable[[], Any] | None = None
    #: The store and asset of an external dataset read as it is now (no ``AS OF``), which the
    #: engine may scan in place instead of loading it.
    store: Any = None
    asset: str | None = None


class Sources:
    """Resolves datasets to relations of the engine store's DuckDB connection, with a short cache."""

    def __init__(self, meshkit: Meshkit, engine: DuckDBStore, ttl: float):
        self.meshkit = meshkit
        self.engine = engine
        self.ttl = ttl
        self._cache: dict[tuple, tuple[float, Source]] = {}
        self._lock = threading.Lock()
        self._database: str | None = None

    def database(self) -> str:
        if self._database is None:
            self._database = self.engine.connect().execute("SELECT current_database()").fetchone()[0]
        return self._database

    def resolve(self, dataset: Dataset, as_of: TimeTravel | None = None) -> Source:
        key = (dataset.id, dataset.updated_at, as_of)
        with self._lock:
            hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        store = self.meshkit.store(dataset.store)
        if isinstance(store, DuckDBStore) and store.path == self.engine.path and store.path != ":memory:":
            if as_of is not None:
                raise UserError(
                    f"`{dataset.id}` is a DuckDB table, which keeps no snapshots; `AS OF` needs an Iceberg port."
                )
            source = self._warehouse(dataset)
        else:
            source = self._external(store, dataset, as_of)
        with self._lock:
            self._cache[key] = (time.monotonic() + self.ttl, source)
        return source

    def _warehouse(self, dataset: Dataset) -> Source:
        table = exp.to_table(dataset.asset, dialect="duckdb")
        schema_name, name = table.db or "main", table.name
        relation = exp.table_(name, db=schema_name, catalog=self.database(), quoted=True).sql("duckdb")
        conn = self.engine.connect()
        try:
            found = conn.execute(
                "SELECT sql FROM duckdb_views() WHERE database_name = current_database() AND schema_name = ? AND view_name = ?",
                [schema_name, name],
            ).fetchone()
            arrow = conn.execute(f"SELECT * FROM {relation} LIMIT 0").to_arrow_table().schema
            required = {row[0] for row in conn.execute(
                "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
                "AND schema_name = ? AND table_name = ? AND NOT is_nullable", [schema_name, name]).fetchall()}  # fmt: skip
        except Exception as exc:  # duckdb.CatalogException and friends
            raise UserError(f"Dataset `{dataset.id}` is in the catalog but not in the warehouse: {exc}.".splitlines()[0],
                            hint="Run the job or transfer that writes it.") from None  # fmt: skip
        finally:
            conn.close()
        arrow = pa.schema([f.with_nullable(f.name not in required) for f in arrow])
        return Source(relation, arrow, view_sql=found[0] if found else None)

    def _external(self, store, dataset: Dataset, as_of: TimeTravel | None) -> Source:
        relation = f'"__mk_src_{abs(hash((dataset.id, as_of))) % 10**12}"'
        snapshot_id = self._snapshot(store, dataset, as_of) if as_of is not None else None

        def load():
            if snapshot_id is None:
                return store.read(dataset.asset).read_all()
            return store.read(dataset.asset, snapshot_id=snapshot_id).read_all()

        schema = pa.schema([pa.field(c.name, c.arrow_type, c.nullable) for c in store.schema(dataset.asset)])
        if snapshot_id is None:
            return Source(relation, schema, load=load, store=store, asset=dataset.asset)
        return Source(relation, schema, load=load)

    @staticmethod
    def _snapshot(store, dataset: Dataset, as_of: TimeTravel) -> int:
        """The snapshot id ``AS OF`` names: given, or the newest taken at or before the time."""
        if not hasattr(store, "snapshots"):
            raise UserError(
                f"Store `{store.name}` ({store.type}) keeps no snapshots; `AS OF` is for Iceberg ports."
            )
        if as_of.kind == "version":
            try:
                return int(as_of.value)
            except ValueError:
                raise UserError(f"`AS OF VERSION` takes a snapshot id, not `{as_of.value}`.") from None
        try:
            moment = datetime.fromisoformat(as_of.value)
        except ValueError:
            raise UserError(f"`AS OF TIMESTAMP` takes an ISO time, not `{as_of.value}`.") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        taken = [s for s in store.snapshots(dataset.asset) if s["timestamp"] <= moment]
        if not taken:
            raise UserError(
                f"`{dataset.id}` has no snapshot at or before {moment.isoformat()}.",
                hint="See `meshkit product history` for its snapshots.",
            )
        return taken[-1]["snapshot_id"]


def null_free_columns(store, asset: str) -> set[str]:
    """Columns of a Parquet asset in a files store whose footers count no null in any row group.

    Empty when unknown (another store or format, missing statistics, too many files).
    """
    if getattr(store, "type", None) != "files":
        return set()
    import pyarrow.dataset as ds

    fs, root = store.filesystem
    free: dict[str, bool] = {}
    try:
        fragments = list(
            ds.dataset(f"{root}/{asset.strip('/')}", filesystem=fs, format="parquet").get_fragments()
        )
        if not fragments or len(fragments) > MAX_FOOTERS:
            return set()
        for fragment in fragments:
            meta = fragment.metadata
            for group in (meta.row_group(i) for i in range(meta.num_row_groups)):
                for column in (group.column(j) for j in range(group.num_columns)):
                    stats = column.statistics
                    none = stats is not None and stats.has_null_count and stats.null_count == 0
                    free[column.path_in_schema] = free.get(column.path_in_schema, True) and none
    except (pa.ArrowInvalid, OSError):
        return set()
    return {name for name, none in free.items() if none}
