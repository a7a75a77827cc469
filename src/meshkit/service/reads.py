"""The API's read path: a connection pool for short read-only queries on the metadata database.

The shared engine pings each connection it hands out and wraps every query in BEGIN ... ROLLBACK,
three extra round trips per request. On a server database (PostgreSQL) the read pool runs in
autocommit mode without the ping: a connection that died while idle makes the pool recycle
itself, and :func:`read` runs the query once more on a fresh connection. SQLite keeps the shared
engine (its connections are local files).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

T = TypeVar("T")

#: Connections kept open per server process; bursts open up to ``READ_POOL_OVERFLOW`` more.
READ_POOL_SIZE = 10
READ_POOL_OVERFLOW = 20


def read_engine(engine: sa.Engine) -> sa.Engine:
    """The engine for the API's read-only queries on ``engine``'s database."""
    if engine.dialect.name == "sqlite":
        return engine
    return sa.create_engine(engine.url, isolation_level="AUTOCOMMIT", pool_size=READ_POOL_SIZE,
                            max_overflow=READ_POOL_OVERFLOW, pool_recycle=3600, pool_use_lifo=True)  # fmt: skip


def read(engine: sa.Engine, query: Callable[[sa.Connection], T]) -> T:
    """``query(conn)`` on a pooled connection, once more on a fresh one if the first was dead."""
    try:
        with engine.connect() as conn:
            return query(conn)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    with engine.connect() as conn:
        return query(conn)
