"""Built-in plugin: the built-in stores' config keys at start, their classes (and engines) on first use.

Importing a store's module loads its engine (DuckDB, PyArrow, psycopg, ...): a command that opens
no store, such as an empty job's run, never pays for it.
"""

from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import deferred

#: Each built-in store type and its class, imported when a store of that type is first opened.
STORE_TYPES = {
    "duckdb": "meshkit.data.stores.duckdb:DuckDBStore",
    "sqlite": "meshkit.data.stores.sqlite:SQLiteStore",
    "postgres": "meshkit.data.stores.postgres:PostgreSQLStore",
    "mysql": "meshkit.data.stores.mysql:MySQLStore",
    "files": "meshkit.data.stores.files:FilesStore",
    "iceberg": "meshkit.data.stores.iceberg:IcebergStore",
    "nats": "meshkit.data.stores.nats:NatsStore",
    "kafka": "meshkit.data.stores.kafka:KafkaStore",
    "postgres_cdc": "meshkit.data.stores.postgres_cdc:PostgresCDCStore",
}


@hookimpl
def register_store_types():
    return {name: deferred(path) for name, path in STORE_TYPES.items()}


@hookimpl
def configure(config):
    config.add("nats_url", "nats://127.0.0.1:4222", "NATS server of `nats` stores that give no `url`.")
    config.add(
        "mysql_dsn",
        None,
        "MySQL/MariaDB URL (or env:/secret: reference) of the default `mysql` store.",
        secret=True,
    )
    config.add(
        "postgres_dsn",
        None,
        "PostgreSQL URL (or env:/secret: reference) of the default `postgres` store.",
        secret=True,
    )
    config.add("sqlite_file", ".meshkit/warehouse.sqlite", "SQLite file used when a job's `db_default_type` is sqlite.",
               bare_env=True)  # fmt: skip
    config.add("sqlite_ingest_auto_create_table_enabled", True,
               "Ingestion into a SQLite store creates a missing table (else it fails).", type=bool, bare_env=True)  # fmt: skip
    config.add("duckdb_file", ".meshkit/warehouse.duckdb", "DuckDB file of the workspace warehouse (the default store).",
               aliases=("duckdb_database",), bare_env=True)  # fmt: skip
    config.add("duckdb_ingest_auto_create_table_enabled", True,
               "Ingestion into a DuckDB store creates a missing table (else it fails).", type=bool, bare_env=True)  # fmt: skip
    config.add(
        "duckdb_lock_timeout",
        600.0,
        "Seconds to wait for a DuckDB file another process has open (one writing process per file).",
        type=float,
        bounds=(0, 86_400),
    )
