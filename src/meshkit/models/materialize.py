"""Materializations: view, table, incremental (append, merge, delete+insert, insert_overwrite) and ephemeral.

Every build goes through the warehouse's engine (create-table-as, insert, merge, overwrite, swap)
and is atomic per model: it builds a new relation, checks the contract, and swaps the new relation
in place of the old. A failure leaves the previous relation as it was: on DuckDB the build is one
transaction; on Spark the new table is written beside the old one and renamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import MeshkitError
from meshkit.models.compile import compile_node
from meshkit.models.configuration import INCREMENTAL_STRATEGIES, ON_SCHEMA_CHANGE
from meshkit.models.exceptions import ContractError, ModelCompileError, ModelRunError
from meshkit.models.nodes import Node, Relation, quote
from meshkit.models.warehouse import Warehouse, run_error

if TYPE_CHECKING:
    from meshkit.engines.base import Engine
    from meshkit.models.project import Project

TMP_SUFFIX = "__mk_tmp"


@dataclass
class BuildResult:
    """What building one node did."""

    rows: int = 0
    message: str = ""
    columns: list[tuple[str, str]] = field(default_factory=list)
    sql: str = ""


def build_node(project: Project, wh: Warehouse, node: Node, *, full_refresh: bool = False) -> BuildResult:
    """Build ``node`` (model, seed or snapshot) into the warehouse; a model by its registered materialization."""
    from meshkit.models.seeds import build_seed
    from meshkit.models.snapshots import build_snapshot

    try:
        if node.resource_type == "seed":
            return build_seed(project, wh, node, full_refresh=full_refresh)
        if node.resource_type == "snapshot":
            return build_snapshot(project, wh, node)
        build = wh.materializations.get(node.materialized)
        if build is None:
            raise ModelCompileError(f"Unknown materialization `{node.materialized}`.", where=node.yaml_where or node.original_file_path,
                                    hint=f"Use one of: {', '.join(sorted(wh.materializations))} (plugins add others).")  # fmt: skip
        return build(project, wh, node, full_refresh)
    except wh.errors as exc:
        raise run_error(exc, node) from None
    except MeshkitError as exc:
        if exc.where is None:  # an engine's error: name the model (and the line it points at)
            exc.where = wh.locate(exc, node)
        raise


def compiled_sql(project: Project, wh: Warehouse, node: Node) -> str:
    """The node's SQL, compiled now when it needs the warehouse; its schema exists from here on."""
    wh.ensure_schema(node.relation)
    if node.needs_execute:
        node.compiled = compile_node(project, node, project.render(node, warehouse=wh))
    return node.compiled


def view(project: Project, wh: Warehouse, node: Node, full_refresh: bool) -> BuildResult:
    """``materialized: view``: replace the view."""
    compiled_sql(project, wh, node)
    return _view(project, wh, node)


def table(project: Project, wh: Warehouse, node: Node, full_refresh: bool) -> BuildResult:
    """``materialized: table``: build a new table and swap it in."""
    return _table(project, wh, node, compiled_sql(project, wh, node))


def incremental(project: Project, wh: Warehouse, node: Node, full_refresh: bool) -> BuildResult:
    """``materialized: incremental``: append, merge, delete+insert or insert_overwrite the new rows."""
    compiled_sql(project, wh, node)
    return _incremental(project, wh, node, full_refresh)


def ephemeral(project: Project, wh: Warehouse, node: Node, full_refresh: bool) -> BuildResult:
    """``materialized: ephemeral``: nothing to build; callers inline the model as a CTE."""
    return BuildResult(message="EPHEMERAL")


#: The built-in materializations, registered by :mod:`meshkit.models.settings`.
BUILTIN_MATERIALIZATIONS = {"view": view, "table": table, "incremental": incremental, "ephemeral": ephemeral}


def run_hooks(project: Project, wh: Warehouse, node: Node, cur, key: str) -> None:
    """Run the node's ``pre_hook``/``post_hook`` statements, rendered with ``execute`` true, on ``cur``
    (a cursor or an engine)."""
    for hook in node.config.get(key, []):
        text = hook.get("sql", "") if isinstance(hook, dict) else str(hook)
        if text.strip():
            sql = project.render_hook(node, text, wh)
            if sql.strip():
                cur.execute(wh.sql(sql))


def _drop(cur, wh: Warehouse, relation: Relation) -> None:
    kind = wh.kind(relation)
    if kind:
        cur.execute(f"DROP {kind.upper()} IF EXISTS {relation.render()}")


def _replace_kind(engine: Engine, wh: Warehouse, relation: Relation, keep: str) -> None:
    """Drop ``relation`` when it exists as another kind than ``keep``."""
    kind = wh.kind(relation)
    if kind and kind != keep:
        engine.drop(wh.name(relation), kind)


def _view(project: Project, wh: Warehouse, node: Node) -> BuildResult:
    columns = check_contract(wh, node, node.compiled)
    select = wh.sql(node.compiled, node)
    with wh.building() as engine:
        run_hooks(project, wh, node, engine, "pre_hook")
        _replace_kind(engine, wh, node.relation, "view")
        engine.create_view(wh.name(node.relation), f"(\n{select}\n)")
        run_hooks(project, wh, node, engine, "post_hook")
    wh.set_kind(node.relation, "view")
    return BuildResult(0, "CREATE VIEW", columns or wh.columns(node.relation), node.compiled)


def _create_table(wh: Warehouse, engine: Engine, node: Node, relation: Relation, sql: str) -> int | None:
    """Create ``relation`` from ``sql``; with an enforced contract, with its declared columns (and constraints
    where the engine enforces them)."""
    if not _enforced(node):
        return engine.create_table_as(wh.name(relation), wh.sql(sql, node))
    check_contract(wh, node, sql)
    if not wh.constraints:  # the declared types, by casting
        select = ", ".join(
            f"CAST({quote(n)} AS {spec.get('data_type')}) AS {quote(n)}" for n, spec in node.columns.items()
        )
        return engine.create_table_as(
            wh.name(relation), wh.sql(f"SELECT {select} FROM (\n{sql}\n) AS __mk_contract", node)
        )
    cols, names = [], []
    for name, spec in node.columns.items():
        parts = [quote(name), str(spec.get("data_type"))]
        for constraint in spec.get("constraints") or []:
            kind = constraint.get("type")
            if kind == "not_null":
                parts.append("NOT NULL")
            elif kind in ("primary_key", "unique"):
                parts.append("PRIMARY KEY" if kind == "primary_key" else "UNIQUE")
            elif kind == "check" and constraint.get("expression"):
                parts.append(f"CHECK ({constraint['expression']})")
        cols.append(" ".join(parts))
        names.append(name)
    engine.execute(f"CREATE TABLE {wh.name(relation)} ({', '.join(cols)})")
    select = ", ".join(quote(n) for n in names)
    return engine.insert(wh.name(relation), f"SELECT {select} FROM (\n{sql}\n) AS __mk_contract", names)


def _table(project: Project, wh: Warehouse, node: Node, sql: str) -> BuildResult:
    kind = wh.kind(node.relation)
    if (
        wh.in_store  # NOTE: DuckDB's own warehouse; another engine's tables go through its operations below
        and kind != "view"
        and not _enforced(node)
        and not node.config.get("pre_hook")
        and not node.config.get("post_hook")
    ):
        # one statement, atomic on its own: a failed query leaves the old table (or none) as it was
        verb = "CREATE OR REPLACE TABLE" if kind == "table" else "CREATE TABLE"
        rows = wh.cursor().execute(f"{verb} {node.relation.render()} AS (\n{sql}\n)").fetchone()[0]
        wh.set_kind(node.relation, "table")
        return BuildResult(rows, f"CREATE TABLE ({rows} rows)", wh.columns(node.relation), sql)
    tmp = node.relation.with_identifier(node.relation.identifier + TMP_SUFFIX)
    with wh.building() as engine:
        run_hooks(project, wh, node, engine, "pre_hook")
        engine.drop(wh.name(tmp))
        rows = _create_table(wh, engine, node, tmp, sql)
        _replace_kind(engine, wh, node.relation, "table")
        engine.swap(wh.name(tmp), wh.name(node.relation))
        run_hooks(project, wh, node, engine, "post_hook")
    wh.set_kind(node.relation, "table")
    rows = rows or 0
    return BuildResult(rows, f"CREATE TABLE ({rows} rows)", wh.columns(node.relation), sql)


# ---------------------------------------------------------------------------- incremental


def _keys(node: Node, key: str = "unique_key") -> list[str]:
    value = node.config.get(key)
    if not value:
        return []
    return [value] if isinstance(value, str) else list(value)


def _merge_updates(node: Node, columns: list[str]) -> list[str] | None:
    """The columns a merge updates in matched rows: ``merge_update_columns``, or all but
    ``merge_exclude_columns`` (``None``: every column written)."""
    wanted = node.config.get("merge_update_columns")
    excluded = {c.lower() for c in node.config.get("merge_exclude_columns") or []}
    if wanted:
        chosen = {c.lower() for c in wanted}
        return [c for c in columns if c.lower() in chosen]
    return [c for c in columns if c.lower() not in excluded] if excluded else None


def _incremental(project: Project, wh: Warehouse, node: Node, full_refresh: bool) -> BuildResult:
    where = node.yaml_where or node.original_file_path
    strategy = node.config.get("incremental_strategy") or ("delete+insert" if _keys(node) else "append")
    if strategy not in INCREMENTAL_STRATEGIES or strategy not in wh.strategies:
        raise ModelCompileError(f"Unknown incremental_strategy `{strategy}`"
                                f"{'' if strategy not in INCREMENTAL_STRATEGIES else f' on engine `{wh.engine_name}`'}.",
                                where=where, hint=f"Use one of: {', '.join(wh.strategies)}.")  # fmt: skip
    on_change = node.config.get("on_schema_change") or "ignore"
    if on_change not in ON_SCHEMA_CHANGE:
        raise ModelCompileError(f"Unknown on_schema_change `{on_change}`.", where=where,
                                hint=f"Use one of: {', '.join(ON_SCHEMA_CHANGE)}.")  # fmt: skip
    if full_refresh or node.config.get("full_refresh") or wh.kind(node.relation) != "table":
        return _table(project, wh, node, node.compiled)
    sql = compile_node(project, node, project.render(node, is_incremental=True, warehouse=wh))
    stage = node.relation.with_identifier(f"{node.relation.identifier}__mk_incr")
    target = wh.name(node.relation)
    with wh.building() as engine:
        run_hooks(project, wh, node, engine, "pre_hook")
        engine.create_table_as(wh.name(stage), wh.sql(sql, node))
        try:
            new_cols = wh.columns(stage)
            old_cols = wh.columns(node.relation)
            columns = [c for c, _ in _schema_change(engine, node, target, on_change, new_cols, old_cols)]
            select = f"SELECT {', '.join(engine.quote(c) for c in columns)} FROM {wh.name(stage)}"
            if strategy == "merge":
                rows = engine.merge(target, select, _keys(node), columns, _merge_updates(node, columns))
            elif strategy == "append" or (strategy == "delete+insert" and not _keys(node)):
                rows = engine.insert(target, select, columns)
            else:  # delete+insert on the unique key; insert_overwrite on the partition columns (all rows without)
                keys = _keys(node) if strategy == "delete+insert" else _keys(node, "partition_by")
                rows = engine.overwrite(target, select, keys, columns)
        finally:
            engine.drop(wh.name(stage))
        run_hooks(project, wh, node, engine, "post_hook")
    rows = rows or 0
    return BuildResult(rows, f"{strategy.upper()} ({rows} rows)", wh.columns(node.relation), sql)


def _schema_change(engine: Engine, node: Node, rel: str, on_change: str, new, old) -> list[tuple[str, str]]:
    """The columns to write after applying ``on_schema_change``."""
    old_names = {c.lower() for c, _ in old}
    new_names = {c.lower() for c, _ in new}
    added = [(c, t) for c, t in new if c.lower() not in old_names]
    removed = [(c, t) for c, t in old if c.lower() not in new_names]
    if not added and not removed:
        return new
    if on_change == "fail":
        raise ModelRunError(f"The columns changed (added: {[c for c, _ in added]}, removed: {[c for c, _ in removed]}) "
                            "and on_schema_change is `fail`.", where=node.original_file_path,
                            hint="Run with --full-refresh, or set on_schema_change.")  # fmt: skip
    if on_change == "ignore":
        return [(c, t) for c, t in old if c.lower() in new_names]
    for col, col_type in added:
        engine.add_column(rel, col, col_type)
    if on_change == "sync_all_columns":
        for col, _ in removed:
            engine.execute(f"ALTER TABLE {rel} DROP COLUMN {engine.quote(col)}")
        return new
    return [(c, t) for c, t in [*old, *added] if c.lower() in new_names]


# ---------------------------------------------------------------------------- contracts


def _enforced(node: Node) -> bool:
    contract = node.config.get("contract") or {}
    return bool(contract.get("enforced")) if isinstance(contract, dict) else False


def check_contract(wh: Warehouse, node: Node, sql: str) -> list[tuple[str, str]] | None:
    """Compare the query's columns with the contract; raise ContractError naming each mismatch."""
    if not _enforced(node):
        return None
    where = node.yaml_where or node.original_file_path
    declared = {name: spec.get("data_type") for name, spec in node.columns.items()}
    missing_type = [n for n, t in declared.items() if not t]
    if not declared or missing_type:
        raise ContractError(f"The enforced contract of `{node.name}` needs a data_type for every column "
                            f"(missing: {', '.join(missing_type) or 'all'}).", where=where,
                            hint="Add `data_type:` to each column in the properties YAML.")  # fmt: skip
    try:
        actual = wh.columns(sql)
        wanted = wh.columns(
            "SELECT " + ", ".join(f"CAST(NULL AS {t}) AS {quote(n)}" for n, t in declared.items())
        )
    except wh.errors as exc:
        raise run_error(exc, node) from None
    have = {n.lower(): t for n, t in actual}
    want = {n.lower(): t for n, t in wanted}
    problems = []
    for name, wanted_type in wanted:
        if name.lower() not in have:
            problems.append(f"column `{name}` is missing from the model")
        elif have[name.lower()] != wanted_type:
            problems.append(f"column `{name}` is {have[name.lower()]}, the contract says {wanted_type}")
    problems += [f"column `{n}` is not in the contract" for n, _ in actual if n.lower() not in want]
    if problems:
        raise ContractError(f"Contract of `{node.name}` violated: {'; '.join(problems)}.", where=where,
                            hint="Change the model's SQL or its contract; the existing relation was kept.")  # fmt: skip
    return actual


def adapter_response(result: BuildResult) -> dict[str, Any]:
    return {"_message": result.message, "code": result.message.split(" (")[0], "rows_affected": result.rows}
