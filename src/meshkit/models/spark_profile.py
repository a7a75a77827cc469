"""A dbt-spark target (``type: spark`` in profiles.yml) as the engine a project builds on.

dbt-spark's ``method: session`` runs Spark in the dbt process; here it runs meshkit's Spark engine:
locally (``local[*]``), or on the cluster or Spark Connect server the target names with ``master``
or ``remote`` (fields of meshkit's ``[engines.NAME]``), or on a meshkit.toml engine named by
``engine``. ``server_side_parameters`` are Spark settings, as in dbt-spark. The engine keeps the
tables, so runs and lineage name them ``spark:NAME/schema.table``, NAME the engine's: the ``engine``
named, else the target's (see :func:`dataset_store`). The ``thrift``, ``http``
and ``odbc`` methods talk to a Thrift server or a Databricks cluster, which meshkit does not::

    shop:
      target: dev
      outputs:
        dev:
          type: spark
          method: session
          schema: analytics
          master: spark://10.0.0.5:7077          # or remote: sc://10.0.0.5:15002, or engine: cluster
          server_side_parameters: {"spark.executor.memory": "2g"}
"""

from __future__ import annotations

from typing import Any

from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError

#: The target's fields that are the engine's options as they are.
_ENGINE_FIELDS = ("master", "remote", "partitions", "staging", "warehouse", "app_name", "jars")


def dataset_store(engine_type: str, engine_name: str) -> str:
    """The store part of the dataset names of tables an engine keeps itself (a ``spark`` target's):
    ``spark:NAME``.

    >>> dataset_store("spark", "dev")
    'spark:dev'
    """
    return f"{engine_type}:{engine_name}"


def spark_profile(output: dict[str, Any], target_name: str, profile_name: str, where: str):
    """The :class:`~meshkit.models.project.Profile` of a ``type: spark`` target ``output``."""
    from meshkit.models.project import Profile

    method = output.get("method", "session")
    if method != "session":
        raise UnsupportedFeatureError(
            f"Target `{target_name}` connects with `method: {method}`, which meshkit cannot run "
            "(it has no Thrift, HTTP or ODBC client).",
            where=where,
            hint="Use `method: session` with `master: spark://HOST:7077` (a standalone cluster), "
            "`remote: sc://HOST:15002` (Spark Connect) or `engine: NAME` (an [engines.NAME] of meshkit.toml).",
        )
    schema = output.get("schema")
    if not schema:
        raise ModelCompileError(f"Target `{target_name}` needs a `schema`.", where=where,
                                hint="dbt-spark builds into a schema (a Spark database): add `schema: NAME`.")  # fmt: skip
    database = output.get("database") or schema
    if database != schema:
        raise ModelCompileError(f"Target `{target_name}` has database `{database}` and schema `{schema}`.",
                                where=where, hint="On Spark a database is a schema: omit `database`.")  # fmt: skip
    engine = output.get("engine")
    options = None
    if engine is None:
        settings = output.get("server_side_parameters") or {}
        others = (
            [str(k) for k in settings if not str(k).startswith("spark.")]
            if isinstance(settings, dict)
            else None
        )
        if others is None or others:
            raise ModelCompileError(f"`server_side_parameters` must map Spark settings (`spark.*`) to values"
                                    f"{f'; not {others}' if others else ''}.", where=where,
                                    hint="Write them as `spark.executor.memory: 2g`; meshkit's engine options are "
                                         f"fields of the target: {', '.join(_ENGINE_FIELDS)}.")  # fmt: skip
        options = {"type": "spark", **{k: output[k] for k in _ENGINE_FIELDS if k in output},
                   **{str(k): str(v) for k, v in settings.items()}}  # fmt: skip
    return Profile(":memory:", str(schema), str(schema), int(output.get("threads", 0) or 0), target_name,
                   profile_name, "spark", engine, options)  # fmt: skip
