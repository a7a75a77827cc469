"""Built-in plugin: the DuckDB and Spark engines, and the ``engine`` config key.

The engines' modules (and DuckDB or pyspark) are imported on first use only.
"""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def register_engines():
    from meshkit.engines.duckdb import DuckDBEngine
    from meshkit.engines.spark import SparkEngine

    return [DuckDBEngine, SparkEngine]


@hookimpl
def configure(config):
    config.add("engine", "duckdb", "Engine that runs transfers, checks and builds unless a spec or `--engine` names "
               "another: `duckdb` or an [engines.NAME] of meshkit.toml.")  # fmt: skip
