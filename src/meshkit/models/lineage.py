"""Table- and column-level lineage of a project, from the graph and from the compiled SQL (sqlglot).

Column lineage needs the columns of upstream relations to expand ``*``: they are read from the
warehouse in one query. Results are cached by the node's fingerprint and its inputs' columns, in
memory and in ``target/lineage_cache.json``, so a build only parses models that changed.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from meshkit.engines.duckdb import table_names

if TYPE_CHECKING:
    from meshkit.models.nodes import Node
    from meshkit.models.project import Project
    from meshkit.models.warehouse import Warehouse

CACHE_FILE = "lineage_cache.json"
_lock = threading.Lock()


@dataclass(frozen=True)
class ColumnEdge:
    """``source.source_column`` feeds ``target.target_column`` (unique ids of nodes or sources)."""

    source: str
    source_column: str
    target: str
    target_column: str

    def as_dict(self) -> dict[str, str]:
        return {
            "source": self.source,
            "source_column": self.source_column,
            "target": self.target,
            "target_column": self.target_column,
        }


def table_edges(project: Project) -> list[tuple[str, str]]:
    """``(upstream, downstream)`` unique ids for every model, seed and snapshot dependency."""
    edges = []
    for uid, node in project.nodes.items():
        if node.resource_type in ("model", "snapshot"):
            edges += [(dep, uid) for dep in node.depends_on]
    return edges


def warehouse_schema(wh: Warehouse | None) -> dict[str, dict[str, dict[str, dict[str, str]]]]:
    """``{database: {schema: {table: {column: type}}}}`` of the warehouse, for sqlglot."""
    schema: dict[str, Any] = {}
    if wh is None:
        return schema
    rows = wh.column_catalog()
    for db, sch, table, column, col_type in rows:
        schema.setdefault(db, {}).setdefault(sch, {}).setdefault(table, {})[column] = col_type
    return schema


class LineageIndex:
    """Column lineage of a project's models, computed on demand and cached."""

    def __init__(self, project: Project, wh: Warehouse | None = None):
        self.project = project
        self.schema = warehouse_schema(wh)
        self.by_relation = {}
        for uid, node in project.nodes.items():
            if node.relation is not None and node.is_relational:
                self.by_relation[
                    _key(node.relation.database, node.relation.schema, node.relation.identifier)
                ] = uid
        for uid, source in project.sources.items():
            rel = source.relation
            self.by_relation[_key(rel.database, rel.schema, rel.identifier)] = uid
        self.path = project.target_dir / CACHE_FILE
        self.cache = self._read_cache()
        self.dirty = False

    def _read_cache(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text()) if self.path.is_file() else {}
        except (OSError, ValueError):
            return {}

    def save(self) -> None:
        if self.dirty:
            from meshkit.models.artifacts import write_json

            with _lock:
                write_json(self.path, self.cache)
            self.dirty = False

    def _inputs_key(self, node: Node) -> str:
        parts = []
        for dep in node.depends_on:
            rel = self.project.relation_of(dep)
            if rel is not None:
                cols = self.schema.get(rel.database or "", {}).get(rel.schema, {}).get(rel.identifier, {})
                parts.append(f"{dep}:{sorted(cols.items())}")
        return hashlib.sha256(f"{node.fingerprint}|{'|'.join(parts)}".encode()).hexdigest()[:16]

    def columns(self, node: Node) -> list[ColumnEdge]:
        """Edges into the columns of ``node`` (empty when its SQL cannot be analysed)."""
        if node.resource_type not in ("model", "snapshot") or not node.compiled:
            return []
        key = self._inputs_key(node)
        cached = self.cache.get(node.unique_id)
        if cached and cached.get("key") == key:
            return [ColumnEdge(**e) for e in cached["edges"]]
        edges = self._compute(node)
        self.cache[node.unique_id] = {"key": key, "edges": [e.as_dict() for e in edges]}
        self.dirty = True
        return edges

    def _node_schema(self, node: Node) -> dict[str, Any]:
        """Only the relations ``node`` reads: normalizing the whole warehouse per model is quadratic."""
        schema: dict[str, Any] = {}
        for dep in node.depends_on:
            rel = (
                self.project.relation_of(dep)
                if dep in self.project.nodes or dep in self.project.sources
                else None
            )
            cols = (
                self.schema.get(rel.database or "", {}).get(rel.schema, {}).get(rel.identifier)
                if rel
                else None
            )
            if cols:
                schema.setdefault(rel.database or "", {}).setdefault(rel.schema, {})[rel.identifier] = cols
        return schema

    def _compute(self, node: Node) -> list[ColumnEdge]:
        import sqlglot  # loaded when there is SQL to analyse: a plain build does not pay for it
        from sqlglot import exp
        from sqlglot.lineage import lineage as sqlglot_lineage

        try:
            roots = sqlglot_lineage(None, node.compiled, self._node_schema(node), dialect="duckdb")
        except (sqlglot.errors.SqlglotError, KeyError, ValueError, AttributeError, TypeError, RecursionError):
            return []
        edges: set[ColumnEdge] = set()
        for column, root in roots.items():
            for item in root.walk():
                if isinstance(item.source, exp.Table) and not item.downstream:
                    table = item.source
                    uid = self.by_relation.get(_key(table.catalog, table.db, table.name))
                    if uid is None and not table.db:
                        uid = self.project.by_name.get(table.name)
                    if uid is not None:
                        edges.add(ColumnEdge(uid, item.name.split(".")[-1], node.unique_id, column))
        return sorted(edges, key=lambda e: (e.target_column, e.source, e.source_column))


def _key(database: str | None, schema: str | None, name: str) -> tuple[str, str, str]:
    return ((database or "").lower(), (schema or "").lower(), name.lower())


def project_lineage(project: Project, wh: Warehouse | None = None, *, columns: bool = True,
                    nodes: list[str] | None = None, dataset_prefix: str | None = None) -> dict[str, list[dict[str, str]]]:  # fmt: skip
    """Lineage as data for the catalog: ``{"tables": [...], "columns": [...]}``.

    Each edge names unique ids (``source``/``target``) and, when ``dataset_prefix`` (a store name)
    is given, the datasets as ``"store/asset"`` the way ``dataset_written`` names them.
    """

    def dataset(uid: str) -> str | None:
        rel = project.relation_of(uid)
        return f"{dataset_prefix}/{rel.asset}" if dataset_prefix and rel is not None else None

    wanted = set(nodes) if nodes is not None else None
    tables = [{"source": a, "target": b, "source_dataset": dataset(a), "target_dataset": dataset(b)}
              for a, b in table_edges(project) if wanted is None or b in wanted]  # fmt: skip
    out: dict[str, list[dict[str, Any]]] = {"tables": tables, "columns": []}
    if columns:
        index = LineageIndex(project, wh)
        for uid, node in project.nodes.items():
            if wanted is None or uid in wanted:
                out["columns"] += [{**e.as_dict(), "source_dataset": dataset(e.source), "target_dataset": dataset(e.target)}
                                   for e in index.columns(node)]  # fmt: skip
        index.save()
    return out


def known_relations(project: Project) -> set[tuple[str, str, str]]:
    """The relations of the project's nodes and sources, as :func:`direct_reads` compares them."""
    relations = (project.relation_of(uid) for uid in [*project.nodes, *project.sources])
    return {_key(r.database, r.schema, r.identifier) for r in relations if r is not None}


def direct_reads(project: Project, node: Node, schema: dict[str, Any],
                 known: set[tuple[str, str, str]] | None = None) -> list[tuple[str, str]]:  # fmt: skip
    """``(schema, table)`` of the warehouse tables ``node`` reads by name, not through ``ref()`` or ``source()``.

    A job or a transfer writes such tables; the build records their lineage all the same and says how
    to declare them. ``schema`` is :func:`warehouse_schema`'s shape; ``known`` is
    :func:`known_relations` (computed when not given).
    """
    if node.resource_type not in ("model", "snapshot") or not node.compiled:
        return []
    known = known_relations(project) if known is None else known
    if _reads_only(node.compiled, project, known):
        return []
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(node.compiled, read="duckdb")
    except sqlglot.errors.SqlglotError:
        return []
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    database, default_schema = project.profile.database, project.profile.schema
    found: list[tuple[str, str]] = []
    for table in tree.find_all(exp.Table):
        if not table.name or (not table.db and table.name.lower() in ctes):
            continue
        key = _key(table.catalog or database, table.db or default_schema, table.name)
        in_warehouse = {s.lower(): {t.lower() for t in tables}
                        for s, tables in schema.get(key[0] or database, {}).items()}  # fmt: skip
        if key not in known and key[2] in in_warehouse.get(key[1], set()) and key[1:] not in found:
            found.append(key[1:])
    return found


def _reads_only(sql: str, project: Project, known: set[tuple[str, str, str]]) -> bool:
    """Whether DuckDB's own parser finds only ``known`` relations in ``sql`` (a fraction of sqlglot's
    cost); ``False`` when it cannot tell, and sqlglot decides."""
    names = table_names(sql)
    if names is None:
        return False
    for name in names:
        name = name.split(" AS ", 1)[0]
        parts = name.split(".")
        if '"' in name or len(parts) > 3:
            return False
        database, schema, table = [None] * (3 - len(parts)) + parts
        if _key(database or project.profile.database, schema or project.profile.schema, table) not in known:
            return False
    return True
