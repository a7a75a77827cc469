"""The metadata database: runs, properties, secrets (and later catalog) tables.

SQLite under ``.meshkit/metadata.db`` by default, any SQLAlchemy URL (PostgreSQL) by the
``metadata_url`` key. The CLI and the control service share it. Alembic migrations are applied
on first use, and are skipped at once when the database is already at the head revision.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import re
from collections.abc import Iterator
from pathlib import Path

import sqlalchemy as sa

from meshkit.core.errors import ConfigError, PlatformError

metadata = sa.MetaData()

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.String(200), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("team", sa.String(200)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),
    sa.Column("error", sa.Text),
    sa.Column("log_path", sa.Text),
    sa.Column("arguments", sa.JSON),
    sa.Column("details", sa.JSON),
    sa.Column("parent_id", sa.String(200)),
    # The process running it (set by the process that starts it; see meshkit.core.processes).
    sa.Column("host", sa.String(200)),
    sa.Column("pid", sa.Integer),
    sa.Column("pid_start", sa.String(32)),
    sa.Index("ix_runs_name_created", "name", "created_at"),
    sa.Index("ix_runs_status", "status"),
)

run_steps = sa.Table(
    "run_steps",
    metadata,
    sa.Column("run_id", sa.String(200), sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(300), nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("rows_written", sa.BigInteger, nullable=False, default=0),
    sa.Column("error", sa.Text),
)

properties = sa.Table(
    "properties",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("value", sa.JSON),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True),
    sa.Column("key", sa.String(300), primary_key=True),
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)

MIGRATIONS = Path(__file__).parent / "migrations"
_REVISION = re.compile(r"^revision\s*=\s*[\"']([^\"']+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision\s*=\s*(.+)$", re.M)


@functools.cache
def migration_heads() -> frozenset[str]:
    """Revisions no other migration builds on, read from the migration files (as Alembic computes them)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text()
        if match := _REVISION.search(text):
            revisions.add(match.group(1))
        if match := _DOWN.search(text):
            parents.update(re.findall(r"[\"']([^\"']+)[\"']", match.group(1)))
    return frozenset(revisions - parents)


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


class MetadataDB:
    """A connection pool to the metadata database, migrated to the latest revision."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = sa.create_engine(url, future=True, pool_pre_ping=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(
                f"Invalid `metadata_url`: {exc}.", hint="Use e.g. postgresql+psycopg://host/db."
            ) from None
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.upgrade()

    def _alembic_config(self):
        from alembic.config import Config as AlembicConfig

        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        return cfg

    def _current_revisions(self, conn) -> set[str]:
        if not sa.inspect(conn).has_table("alembic_version"):
            return set()
        return {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}

    def upgrade(self) -> None:
        """Apply pending migrations (all heads: each domain may keep its own branch).

        A database already at the heads is recognised without loading Alembic, which keeps every
        command's start fast.
        """
        try:
            with self.engine.connect() as conn:
                if self._current_revisions(conn) == migration_heads():
                    return
            from alembic import command
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            cfg = self._alembic_config()
            heads = set(ScriptDirectory.from_config(cfg).get_heads())
            # NOTE: processes opening a fresh workspace at once must not migrate it twice.
            with self._migration_lock(), self.engine.begin() as conn:
                if self.engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7283910)"))
                if set(MigrationContext.configure(conn).get_current_heads()) != heads:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "heads")
        except sa.exc.OperationalError as exc:
            raise PlatformError(
                f"Cannot open the metadata database: {exc.orig}.",
                hint="Check `metadata_url` and that the server is up.",
            ) from None

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        """An exclusive file lock beside a SQLite database file (other databases lock in SQL)."""
        database = self.engine.url.database
        if self.engine.dialect.name != "sqlite" or not database or database == ":memory:":
            yield
            return
        with open(f"{database}.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def dispose(self) -> None:
        self.engine.dispose()
