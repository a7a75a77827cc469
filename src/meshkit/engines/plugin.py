"""Built-in plugin: the DuckDB and Spark engines, and the ``engine`` config key.

The engines' modules (and DuckDB or pyspark) are imported when an engine is first used.
"""

from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import deferred


@hookimpl
def register_engines():
    return {
        "duckdb": deferred("meshkit.engines.duckdb:DuckDBEngine"),
        "spark": deferred("meshkit.engines.spark:SparkEngine"),
    }


@hookimpl
def configure(config):
    config.add("engine", "duckdb", "Engine that runs transfers, checks and builds unless a spec or `--engine` names "
               "another: `duckdb` or an [engines.NAME] of meshkit.toml.")  # fmt: skip
