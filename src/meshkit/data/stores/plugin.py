"""Built-in plugin: the built-in stores' config keys at start, their classes (and engines) on first use.

Importing a store's module loads its engine (DuckDB, PyArrow, psycopg, ...): a command that opens
no store, such as an empty job's run, never pays for it.
"""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def register_store_types():
    from meshkit.data.stores.duckdb import DuckDBStore
    from meshkit.data.stores.files import FilesStore
    from meshkit.data.stores.iceberg import IcebergStore
    from meshkit.data.stores.kafka import KafkaStore
    from meshkit.data.stores.mysql import MySQLStore
    from meshkit.data.stores.nats import NatsStore
    from meshkit.data.stores.postgres import PostgreSQLStore
    from meshkit.data.stores.postgres_cdc import PostgresCDCStore
    from meshkit.data.stores.sqlite import SQLiteStore

    return [
        DuckDBStore,
        SQLiteStore,
        PostgreSQLStore,
        MySQLStore,
        FilesStore,
        IcebergStore,
        NatsStore,
        KafkaStore,
        PostgresCDCStore,
    ]


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
