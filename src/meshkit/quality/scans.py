"""Scans of one dataset on an engine, none of which holds the dataset whole in memory.

The engine reads the dataset where it lies (a DuckDB table in place, PostgreSQL through its scanner,
files, JDBC on Spark) and may read it again; a dataset it can only stream (an Arrow stream of the
store: MySQL, SQLite, S3 files on DuckDB) is read once per scan, each scan from a fresh read of the
store. Only a query that reads a streamed dataset twice in one statement (a self-join) needs it
copied into a table of the engine first, which DuckDB spills to disk past its memory limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.data.stores.base import Store
    from meshkit.engines.base import Engine


#: Where the dataset's relation goes in a query of its own (see :meth:`DatasetScans.values`).
RELATION = "__mk_relation__"


@contextlib.contextmanager
def bounded(meshkit: Meshkit, engine: Engine) -> Iterator[None]:
    """``engine`` holding at most ``check_memory_limit`` (DuckDB spills the rest to the scratch folder): a
    ``duplicate_percent`` or ``unique`` over millions of rows needs room for every distinct value."""
    with engine.settings(
        memory_limit=meshkit.config.get("check_memory_limit"), temp_dir=str(meshkit.scratch.folder)
    ):
        yield


class DatasetScans:
    """Relations over ``asset`` of ``store`` on ``engine``, one per scan; :meth:`close` releases them."""

    def __init__(self, engine: Engine, store: Store, asset: str):
        self.engine, self.store, self.asset = engine, store, asset
        self.first = engine.relation(store, asset)
        self._used = False

    @property
    def schema(self):
        """The dataset's Arrow schema."""
        return self.first.schema

    @property
    def relation(self) -> str:
        """The first relation, for what binds a query without reading it (``Engine.column_types``)."""
        return self.first.sql

    @contextlib.contextmanager
    def scan(self, reads: int = 1) -> Iterator[str]:
        """A relation to read ``reads`` times in one statement."""
        first = self.first
        if first.rescannable or reads == 0 or (not self._used and reads == 1):
            self._used = self._used or reads > 0
            yield first.sql
            return
        again = self.engine.relation(self.store, self.asset)
        table = None
        try:
            if reads == 1:
                yield again.sql
                return
            table = self.engine.temp_name("dataset")
            self.engine.create_table_as(table, f"SELECT * FROM {again.sql}")
            yield table
        finally:
            if table is not None:
                self.engine.execute(f"DROP TABLE IF EXISTS {table}")
            again.release()

    def values(self, aggregates: Sequence[str], queries: Sequence[tuple[str, int]] = ()) -> list[Any]:
        """The values of ``aggregates`` (DuckDB SQL over the dataset's rows) in one statement over one scan,
        then of ``queries`` (a DuckDB ``SELECT`` of one value reading :data:`RELATION`, and how many times it
        reads it) each on its own. A value that failed is its exception: when the one statement fails, each
        aggregate runs alone to find which."""
        values: list[Any] = []
        if aggregates:
            try:
                values += self._fetch(f"SELECT {', '.join(aggregates)} FROM {RELATION}", 1)
            except Exception:  # noqa: BLE001 - one is broken: find which
                values += [self._one(f"SELECT {a} FROM {RELATION}", 1) for a in aggregates]
        return values + [self._one(query, reads) for query, reads in queries]

    def _one(self, query: str, reads: int) -> Any:
        try:
            return self._fetch(query, reads)[0]
        except Exception as exc:  # noqa: BLE001 - the engine's error is this value's
            return exc

    def _fetch(self, query: str, reads: int) -> list[Any]:
        with self.scan(reads) as relation:
            row = self.engine.fetch_one(self.engine.transpile(query.replace(RELATION, relation)))
        # NOTE: Spark's fractions are decimals where DuckDB's are floats
        return [float(v) if isinstance(v, Decimal) else v for v in row or (None,)]

    def close(self) -> None:
        self.first.release()
