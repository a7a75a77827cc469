"""Snapshots: type-2 slowly changing dimensions with dbt's columns and SQL semantics.

Each row gets ``dbt_scd_id`` (md5 of the key and the update time), ``dbt_updated_at``,
``dbt_valid_from`` and ``dbt_valid_to`` (null while current). The ``timestamp`` strategy compares
``updated_at``; ``check`` compares ``check_cols`` (or all columns) and stamps rows with the build
time. ``hard_deletes: invalidate`` closes rows whose key disappeared from the source.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp

from meshkit.engines.duckdb import DuckDBEngine
from meshkit.models.exceptions import ModelCompileError, ModelRunError, UnsupportedFeatureError
from meshkit.models.materialize import TMP_SUFFIX, BuildResult, _replace_kind
from meshkit.models.nodes import Node, quote
from meshkit.models.warehouse import Warehouse, run_error

if TYPE_CHECKING:
    from meshkit.models.project import Project

SNAPSHOT_COLUMNS = ("dbt_scd_id", "dbt_updated_at", "dbt_valid_from", "dbt_valid_to")


def _strategy(node: Node, wh: Warehouse, sql: str, exists: bool) -> dict[str, str]:
    c, where = node.config, node.yaml_where or node.original_file_path
    keys = c.get("unique_key")
    if not keys:
        raise ModelCompileError(f"Snapshot `{node.name}` needs `unique_key`.", where=where)
    keys = [keys] if isinstance(keys, str) else list(keys)
    hard = c.get("hard_deletes") or ("invalidate" if c.get("invalidate_hard_deletes") else "ignore")
    if hard not in ("ignore", "invalidate"):
        raise UnsupportedFeatureError(
            f"hard_deletes `{hard}` is not supported.", where=where, hint="Use ignore or invalidate."
        )
    strategy = c.get("strategy", "timestamp")
    if strategy == "timestamp":
        if not c.get("updated_at"):
            raise ModelCompileError(
                f"Snapshot `{node.name}` with the timestamp strategy needs `updated_at`.", where=where
            )
        updated_at = c["updated_at"]
        changed = f"(snapshotted_data.dbt_valid_from < source_data.{updated_at})"
    elif strategy == "check":
        updated_at = c.get("updated_at") or "now()::timestamp"
        check_cols = c.get("check_cols", "all")
        query_cols = [n for n, _ in wh.columns(sql)]
        if check_cols == "all":
            check_cols = query_cols
        elif not isinstance(check_cols, list) or not check_cols:
            raise ModelCompileError(
                f"Invalid check_cols `{check_cols}`.", where=where, hint="Use `all` or a list of columns."
            )
        existing = {n.lower() for n, _ in wh.columns(node.relation)} if exists else set()
        if exists and any(col.lower() not in existing for col in check_cols):
            changed = "TRUE"
        else:
            changed = (
                "("
                + " OR ".join(
                    f"snapshotted_data.{quote(col)} IS DISTINCT FROM source_data.{quote(col)}"
                    for col in check_cols
                )
                + ")"
            )
    else:
        raise ModelCompileError(
            f"Unknown snapshot strategy `{strategy}`.", where=where, hint="Use timestamp or check."
        )
    scd_args = [*keys, updated_at]
    scd_id = "md5(" + " || '|' || ".join(f"coalesce(cast({a} as varchar), '')" for a in scd_args) + ")"
    current = c.get("dbt_valid_to_current") or "null"
    return {
        "keys": keys,
        "updated_at": updated_at,
        "changed": changed,
        "scd_id": scd_id,
        "hard": hard,
        "current": current,
    }


def _key_fields(keys: list[str]) -> str:
    if len(keys) == 1:
        return f"{keys[0]} as dbt_unique_key"
    return ", ".join(f"{k} as dbt_unique_key_{i}" for i, k in enumerate(keys, 1))


def _key_join(keys: list[str], left: str, right: str) -> str:
    if len(keys) == 1:
        return f"{left}.dbt_unique_key = {right}.dbt_unique_key"
    return " and ".join(
        f"{left}.dbt_unique_key_{i} = {right}.dbt_unique_key_{i}" for i in range(1, len(keys) + 1)
    )


def _key_null(keys: list[str], alias: str) -> str:
    if len(keys) == 1:
        return f"{alias}.dbt_unique_key is null"
    return " and ".join(f"{alias}.dbt_unique_key_{i} is null" for i in range(1, len(keys) + 1))


def staging_sql(s: dict, source_sql: str, target: str) -> str:
    """dbt's snapshot staging query: the rows to insert and the rows whose validity ends (its branches have
    the same columns in the same order, so they union by position on every engine)."""
    valid_to = f"coalesce(nullif({s['updated_at']}, {s['updated_at']}), {s['current']})"
    current_filter = (
        "dbt_valid_to is null"
        if s["current"] == "null"
        else f"(dbt_valid_to = {s['current']} or dbt_valid_to is null)"
    )
    keys, kf = s["keys"], _key_fields(s["keys"])
    deletes = ""
    if s["hard"] == "invalidate":
        deletes = f"""
    union all
    select 'delete' as dbt_change_type, source_data.*, now()::timestamp as dbt_updated_at,
        now()::timestamp as dbt_valid_from, now()::timestamp as dbt_valid_to, snapshotted_data.dbt_scd_id
    from snapshotted_data
    left join (select *, {kf} from snapshot_query) as source_data on {_key_join(keys, "snapshotted_data", "source_data")}
    where {_key_null(keys, "source_data")}"""
    return f"""with snapshot_query as (
{source_sql}
),
snapshotted_data as (
    select *, {kf} from {target} where {current_filter}
),
insertions_source_data as (
    select *, {kf}, {s["updated_at"]} as dbt_updated_at, {s["updated_at"]} as dbt_valid_from,
        {valid_to} as dbt_valid_to, {s["scd_id"]} as dbt_scd_id
    from snapshot_query
),
updates_source_data as (
    select *, {kf}, {s["updated_at"]} as dbt_updated_at, {s["updated_at"]} as dbt_valid_from,
        {s["updated_at"]} as dbt_valid_to
    from snapshot_query
)
select 'insert' as dbt_change_type, source_data.*
from insertions_source_data as source_data
left outer join snapshotted_data on {_key_join(keys, "snapshotted_data", "source_data")}
where {_key_null(keys, "snapshotted_data")} or (not ({_key_null(keys, "snapshotted_data")}) and {s["changed"]})
union all
select 'update' as dbt_change_type, source_data.*, snapshotted_data.dbt_scd_id
from updates_source_data as source_data
join snapshotted_data on {_key_join(keys, "snapshotted_data", "source_data")}
where {s["changed"]}{deletes}"""


def build_snapshot(project: Project, wh: Warehouse, node: Node) -> BuildResult:
    """Create the snapshot table, or record the changes since the last snapshot."""
    wh.ensure_schema(node.relation)
    rel = node.relation
    exists = wh.kind(rel) == "table"
    sql = node.compiled
    try:
        s = _strategy(node, wh, sql, exists)
        if not exists:
            first = (f"select *, {s['scd_id']} as dbt_scd_id, {s['updated_at']} as dbt_updated_at, "
                     f"{s['updated_at']} as dbt_valid_from, coalesce(nullif({s['updated_at']}, {s['updated_at']}), "
                     f"{s['current']}) as dbt_valid_to from (\n{sql}\n) sbq")  # fmt: skip
            rows = _replace(wh, node, first)
            return BuildResult(rows, f"SNAPSHOT ({rows} rows)", wh.columns(rel), first)
        staging = staging_sql(s, sql, rel.render())
        if wh.in_store:
            rows = _apply_in_place(wh, rel, sql, staging)
        else:
            rows = _apply_by_rewrite(wh, node, sql, staging)
    except DuckDBEngine.ERRORS as exc:
        raise run_error(exc, node) from None
    return BuildResult(rows, f"SNAPSHOT ({rows} new rows)", wh.columns(rel), staging)


def _replace(wh: Warehouse, node: Node, select: str) -> int:
    """Build the snapshot table from ``select`` beside the old one and swap it in; the rows written."""
    rel = node.relation
    tmp = rel.with_identifier(rel.identifier + TMP_SUFFIX)
    with wh.building() as engine:
        engine.drop(wh.name(tmp))
        rows = engine.create_table_as(wh.name(tmp), wh.sql(select, node)) or 0
        _replace_kind(engine, wh, rel, "table")
        engine.swap(wh.name(tmp), wh.name(rel))
    wh.set_kind(rel, "table")
    return rows


def _apply_in_place(wh: Warehouse, rel, sql: str, staging: str) -> int:
    """Close the changed rows and insert the new ones, in one transaction (DuckDB's own tables)."""
    target_cols = wh.columns(rel)
    known = {n.lower() for n, _ in target_cols}
    with wh.transaction() as cur:
        for name, col_type in wh.columns(sql):
            if name.lower() not in known:
                cur.execute(f"ALTER TABLE {rel.render()} ADD COLUMN {quote(name)} {col_type}")
                target_cols.append((name, col_type))
        stage = f'"__mk_snap_{rel.identifier}"'
        cur.execute(f"CREATE OR REPLACE TEMP TABLE {stage} AS {staging}")
        cur.execute(f"UPDATE {rel.render()} AS t SET dbt_valid_to = s.dbt_valid_to FROM {stage} AS s "
                    "WHERE s.dbt_scd_id = t.dbt_scd_id AND s.dbt_change_type IN ('update', 'delete') "
                    "AND t.dbt_valid_to IS NULL")  # fmt: skip
        cols = ", ".join(quote(n) for n, _ in target_cols)
        rows = cur.execute(f"INSERT INTO {rel.render()} ({cols}) SELECT {cols} FROM {stage} "
                           "WHERE dbt_change_type = 'insert'").fetchone()[0]  # fmt: skip
        cur.execute(f"DROP TABLE {stage}")
    return rows


def _apply_by_rewrite(wh: Warehouse, node: Node, sql: str, staging: str) -> int:
    """The snapshot table rewritten (an engine's tables have no UPDATE): its rows, those the staging query
    closes with their new ``dbt_valid_to``, then the staging query's new rows."""
    rel = node.relation
    stage = rel.with_identifier(f"{rel.identifier}__mk_snap")
    # NOTE: names in the project's SQL (DuckDB's), which ``wh.sql`` renders in the engine's dialect
    table, staged = rel.render(), stage.render()
    target_cols = wh.columns(rel)
    known = {n.lower() for n, _ in target_cols}
    added = [(n, t) for n, t in wh.columns(sql) if n.lower() not in known]
    with wh.building() as engine:
        engine.create_table_as(wh.name(stage), wh.sql(staging, node))
    try:
        old = ", ".join(
            ["CASE WHEN s.dbt_scd_id IS NOT NULL THEN s.dbt_valid_to ELSE t.dbt_valid_to END AS dbt_valid_to"
             if n.lower() == "dbt_valid_to" else f"t.{quote(n)}" for n, _ in target_cols]
            + [f"CAST(NULL AS {_project_type(wh, t)}) AS {quote(n)}" for n, t in added])  # fmt: skip
        cols = ", ".join(quote(n) for n, _ in [*target_cols, *added])
        closing = (f"SELECT dbt_scd_id, dbt_valid_to FROM {staged} "
                   "WHERE dbt_change_type IN ('update', 'delete')")  # fmt: skip
        rows = wh.engine().fetch_one(
            f"SELECT count(*) FROM {wh.name(stage)} WHERE dbt_change_type = 'insert'"
        )[0]
        _replace(wh, node, f"SELECT {old} FROM {table} AS t LEFT JOIN ({closing}) AS s "
                           f"ON s.dbt_scd_id = t.dbt_scd_id AND t.dbt_valid_to IS NULL "
                           f"UNION ALL SELECT {cols} FROM {staged} WHERE dbt_change_type = 'insert'")  # fmt: skip
    finally:
        with wh.building() as engine:
            engine.drop(wh.name(stage))
    return rows


def _project_type(wh: Warehouse, engine_type: str) -> str:
    """A column type as the engine names it (Spark's ``TIMESTAMP_NTZ``), written in the project's SQL, which
    ``wh.sql`` renders back in the engine's dialect as the same type."""
    try:
        return exp.DataType.build(engine_type, dialect=wh.dialect).sql(wh.read)
    except sqlglot.errors.ParseError:
        raise ModelRunError(f"Cannot read the column type `{engine_type}` of engine `{wh.engine_name}`.",
                            hint="Cast the column in the snapshot's query to a plain SQL type.") from None  # fmt: skip
