"""The catalog: what datasets exist, who owns them, how they are tagged, where they come from.

Datasets are named ``store/asset`` (as in the ``dataset_written`` hook). Columns carry tags and a
classification (``pii``, ``confidential``...), which governance policies read. Lineage edges link
datasets, and optionally their columns, to the datasets they were made from.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from meshkit.catalog.tables import (
    datasets,
    lineage_edges,
    product_versions,
    products,
    profiles,
    quality_results,
)
from meshkit.core.errors import UserError
from meshkit.core.runs import now

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


@dataclass
class ColumnInfo:
    """One column of a catalog dataset."""

    name: str
    type: str | None = None
    native_type: str | None = None
    nullable: bool = True
    tags: list[str] = field(default_factory=list)
    classification: str | None = None
    description: str | None = None
    #: Tags propagated along column lineage: ``{"tag", "source": "store/asset.column", "via": "job NAME"}``.
    inherited: list[dict[str, str]] = field(default_factory=list)
    #: How its classification is known: ``declared`` (a contract or steward said so), ``lineage``
    #: (every column it is made from is classified) or ``None`` (unknown).
    classified_by: str | None = None

    @property
    def own_tags(self) -> list[str]:
        """Tags plus the classification, as declared on this column."""
        extra = [self.classification] if self.classification and self.classification not in self.tags else []
        return [*self.tags, *extra]

    @property
    def all_tags(self) -> list[str]:
        """Own and inherited tags, as policies see them."""
        own = self.own_tags
        return [*own, *dict.fromkeys(t["tag"] for t in self.inherited if t["tag"] not in own)]

    @property
    def inherited_labels(self) -> list[str]:
        """Each inherited tag with its origin: ``pii (from crm/customers.email via job copy)``."""
        return [f"{t['tag']} (from {t['source']} via {t['via']})" for t in self.inherited]


@dataclass
class Dataset:
    """A catalog entry."""

    id: str
    store: str
    asset: str
    kind: str | None = None
    description: str | None = None
    owner: str | None = None
    domain: str | None = None
    product: str | None = None
    residency: str | None = None
    tags: list[str] = field(default_factory=list)
    columns: list[ColumnInfo] = field(default_factory=list)
    rows: int | None = None
    last_run_id: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def classified(self) -> bool:
        """Whether the classification of every column is known (declared or derived by lineage)."""
        return bool(self.columns) and all(c.classified_by for c in self.columns)

    @property
    def classification(self) -> str:
        """The classification status, as the catalog shows it."""
        if self.classified:
            return "known"
        unknown = [c.name for c in self.columns if not c.classified_by]
        detail = f"columns {', '.join(unknown)}" if unknown else "no columns recorded"
        return f"unknown ({detail}): only the owner may read it unless a policy grants it"

    def column(self, name: str) -> ColumnInfo | None:
        lowered = name.lower()
        return next((c for c in self.columns if c.name.lower() == lowered), None)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("created_at", "updated_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return data


@dataclass(frozen=True)
class Edge:
    """A lineage edge; empty column names mean a table-level edge."""

    source: str
    target: str
    source_column: str = ""
    target_column: str = ""
    transformation: str | None = None


@dataclass
class LineageGraph:
    """Datasets around a focus and the edges between them (table level and column level)."""

    focus: str
    nodes: list[str]
    edges: list[Edge]

    @property
    def table_edges(self) -> list[Edge]:
        seen = {(e.source, e.target) for e in self.edges}
        return [Edge(s, t) for s, t in sorted(seen)]

    def upstream(self) -> list[str]:
        return self._walk(lambda e: (e.target, e.source))

    def downstream(self) -> list[str]:
        return self._walk(lambda e: (e.source, e.target))

    def _walk(self, direction) -> list[str]:
        found, frontier = [], [self.focus]
        while frontier:
            current = frontier.pop()
            for edge in self.table_edges:
                origin, other = direction(edge)
                if origin == current and other not in found and other != self.focus:
                    found.append(other)
                    frontier.append(other)
        return found


@dataclass
class SearchHit:
    kind: str
    name: str
    score: int
    matched: list[str]
    description: str | None = None


def _aware(value: datetime | None) -> datetime | None:
    # NOTE: SQLite returns naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _dataset(row) -> Dataset:
    data = dict(row)
    data["tags"] = list(data["tags"] or [])
    data["columns"] = [ColumnInfo(**c) for c in data["columns"] or []]
    data["created_at"], data["updated_at"] = _aware(data["created_at"]), _aware(data["updated_at"])
    return Dataset(**data)


def split_name(name: str) -> tuple[str, str]:
    """``store/asset`` -> ``(store, asset)``."""
    store, sep, asset = name.partition("/")
    if not sep or not store or not asset:
        raise UserError(
            f"`{name}` is not a dataset name of the form store/asset.", hint="Write e.g. warehouse/orders."
        )
    return store, asset


class Catalog:
    """Reads and writes the catalog tables of a workspace's metadata database."""

    def __init__(self, meshkit: Meshkit):
        self.meshkit = meshkit
        self.engine = meshkit.metadata.engine

    # ------------------------------------------------------------------ datasets

    def register_dataset(self, name: str, *, columns: Sequence[ColumnInfo] | None = None, replace_tags: bool = False,
                         run_id: str | None = None, rows: int | None = None, **attrs: Any) -> Dataset:  # fmt: skip
        """Create or update ``store/asset``.

        New ``columns`` replace the column list but keep the tags, classification and description
        known for a column of the same name, unless ``replace_tags``. ``attrs`` are dataset fields
        (description, owner, domain, product, residency, tags, kind); ``None`` keeps the old value.
        """
        return self.register_datasets([(name, {"columns": columns, "replace_tags": replace_tags,
                                               "run_id": run_id, "rows": rows, **attrs})])[0]  # fmt: skip

    def register_datasets(self, entries: Sequence[tuple[str, dict[str, Any]]]) -> list[Dataset]:
        """``register_dataset(name, **arguments)`` for each ``(name, arguments)``, in one transaction
        (one read of the entries there are, one insert and one update for all)."""
        stamp = now()
        with self.engine.begin() as conn:
            names = list(dict.fromkeys(name for name, _ in entries))
            stored = {r["id"]: _dataset(r) for i in range(0, len(names), 500)  # within SQLite's bound parameters
                      for r in conn.execute(sa.select(datasets).where(datasets.c.id.in_(names[i:i + 500]))).mappings()}  # fmt: skip
            merged: dict[str, Dataset] = {}
            done = []
            for name, arguments in entries:
                current = merged.get(name) or stored.get(name)
                if current is None:
                    store, asset = split_name(name)
                    current = Dataset(id=name, store=store, asset=asset, created_at=stamp)
                merged[name] = self._merged(current, stamp, **arguments)
                done.append(merged[name])
            rows = []
            for current in merged.values():
                values = current.as_dict()
                values["created_at"], values["updated_at"] = current.created_at, stamp
                rows.append(values)
            if inserts := [v for v in rows if v["id"] not in stored]:
                conn.execute(datasets.insert(), inserts)
            updates = [
                {"_key": v["id"], **{k: x for k, x in v.items() if k != "id"}}
                for v in rows
                if v["id"] in stored
            ]
            if updates:
                conn.execute(datasets.update().where(datasets.c.id == sa.bindparam("_key")), updates)
        return done

    def _merged(self, current: Dataset, stamp, *, columns: Sequence[ColumnInfo] | None = None, replace_tags: bool = False,
                run_id: str | None = None, rows: int | None = None, **attrs: Any) -> Dataset:  # fmt: skip
        current = replace(current)
        if columns is not None:
            current.columns = [self._merge_column(current.column(c.name), c, replace_tags) for c in columns]
        for key, value in attrs.items():
            if value is not None:
                setattr(current, key, list(value) if key == "tags" else value)
        current.rows = rows if rows is not None else current.rows
        current.last_run_id = run_id or current.last_run_id
        current.updated_at = stamp
        return current

    @staticmethod
    def _merge_column(old: ColumnInfo | None, new: ColumnInfo, replace_tags: bool) -> ColumnInfo:
        if old is None or replace_tags:
            return new
        return ColumnInfo(
            name=new.name, type=new.type or old.type, native_type=new.native_type or old.native_type,
            nullable=new.nullable, tags=new.tags or old.tags, classification=new.classification or old.classification,
            description=new.description or old.description, inherited=new.inherited or old.inherited,
            classified_by=new.classified_by or old.classified_by,
        )  # fmt: skip

    def datasets(self) -> list[Dataset]:
        with self.engine.connect() as conn:
            return [_dataset(r) for r in conn.execute(sa.select(datasets).order_by(datasets.c.id)).mappings()]

    def get(self, name: str) -> Dataset | None:
        return self.get_many([name]).get(name)

    def get_many(self, names: Iterable[str]) -> dict[str, Dataset]:
        """The datasets of ``names`` that exist, by name, in one query."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(datasets).where(datasets.c.id.in_(list(names)))).mappings()
            return {r["id"]: _dataset(r) for r in rows}

    def updated_at(self, name: str) -> datetime | None:
        """When ``name``'s entry last changed (``None`` if there is none): a cheap freshness check."""
        with self.engine.connect() as conn:
            return _aware(
                conn.execute(sa.select(datasets.c.updated_at).where(datasets.c.id == name)).scalar()
            )

    def find(self, name: str) -> Dataset:
        """The dataset called ``store/asset``, ``store.asset`` or just ``asset`` (when unique)."""
        if found := self.get(name):
            return found
        everything = self.datasets()
        dotted = [d for d in everything if f"{d.store}.{d.asset}".lower() == name.lower()]
        by_asset = [d for d in everything if d.asset.lower() == name.lower() or d.id.lower() == name.lower()]
        matches = dotted or by_asset
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            names = ", ".join(d.id for d in matches)
            raise UserError(
                f"`{name}` names several datasets: {names}.", hint="Qualify it with its store: STORE.ASSET."
            )
        close = difflib.get_close_matches(
            name, [d.id for d in everything] + [d.asset for d in everything], n=1
        )
        hint = (
            f"Did you mean `{close[0]}`?" if close else "Run `meshkit catalog search TEXT` to find datasets."
        )
        raise UserError(f"No dataset `{name}` in the catalog.", hint=hint)

    # ------------------------------------------------------------------ search

    def search(self, text: str, limit: int = 50) -> list[SearchHit]:
        """Datasets and products whose name, description, column or tag matches every word of ``text``."""
        words = [w.lower() for w in text.split() if w]
        hits = []
        for ds in self.datasets():
            fields = [("name", ds.id, 4), ("description", ds.description or "", 1), ("owner", ds.owner or "", 1),
                      ("product", ds.product or "", 2), *[("tag", t, 3) for t in ds.tags]]  # fmt: skip
            for col in ds.columns:
                fields += [("column", col.name, 2), *[("tag", f"{col.name}:{t}", 3) for t in col.all_tags]]
                fields += [("description", col.description or "", 1)]
            if hit := self._score("dataset", ds.id, ds.description, fields, words):
                hits.append(hit)
        for product in self.products():
            fields = [("name", product["name"], 4), ("description", product["description"] or "", 1),
                      ("domain", product["domain"] or "", 2), ("owner", product["owner"] or "", 1)]  # fmt: skip
            if hit := self._score("product", product["name"], product["description"], fields, words):
                hits.append(hit)
        return sorted(hits, key=lambda h: (-h.score, h.name))[:limit]

    @staticmethod
    def _score(kind, name, description, fields, words) -> SearchHit | None:
        score, matched = 0, []
        for word in words:
            found = [(label, value, weight) for label, value, weight in fields if word in value.lower()]
            if not found:
                return None
            ranked = [
                (weight + (2 if value.lower() == word else 0), label, value) for label, value, weight in found
            ]
            points, label, value = max(ranked)
            score += points
            matched.append(f"{label} {value}")
        return SearchHit(kind, name, score, matched, description)

    # ------------------------------------------------------------------ lineage

    def add_lineage(
        self, edges: Iterable[Edge], *, run_id: str | None = None, run_kind: str | None = None
    ) -> int:
        """Record ``edges`` (replacing the same edges recorded before); returns how many."""
        rows = {
            (e.source, e.target, e.source_column, e.target_column): e for e in edges if e.source != e.target
        }
        if not rows:
            return 0
        stamp = now()
        t = lineage_edges.c
        keys = [{"s": s, "t": tg, "sc": sc, "tc": tc} for s, tg, sc, tc in rows]
        same = ((t.source == sa.bindparam("s")) & (t.target == sa.bindparam("t"))
                & (t.source_column == sa.bindparam("sc")) & (t.target_column == sa.bindparam("tc")))  # fmt: skip
        with self.engine.begin() as conn:  # one statement each for all edges
            conn.execute(lineage_edges.delete().where(same), keys)
            conn.execute(lineage_edges.insert(), [
                {"source": e.source, "target": e.target, "source_column": e.source_column, "target_column": e.target_column,
                 "transformation": e.transformation, "run_id": run_id, "run_kind": run_kind, "updated_at": stamp}
                for e in rows.values()])  # fmt: skip
        return len(rows)

    def run_edges(self, run_kinds: Iterable[str]) -> list[tuple[Edge, str | None]]:
        """Table-level edges recorded by runs of ``run_kinds``, with the run that recorded each, oldest first."""
        t = lineage_edges.c
        query = (sa.select(lineage_edges).where(t.run_kind.in_(list(run_kinds)), t.source_column == "")
                 .order_by(t.updated_at, t.source, t.target))  # fmt: skip
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            (Edge(r["source"], r["target"], transformation=r["transformation"]), r["run_id"]) for r in rows
        ]

    def lineage(self, name: str, depth: int = 10) -> LineageGraph:
        """Every dataset upstream and downstream of ``name`` within ``depth`` hops."""
        t = lineage_edges.c
        nodes, edges = {name}, set()
        for column, other in ((t.target, "source"), (t.source, "target")):
            frontier = {name}
            for _ in range(depth):
                if not frontier:
                    break
                with self.engine.connect() as conn:
                    rows = conn.execute(sa.select(lineage_edges).where(column.in_(frontier))).mappings().all()
                found = set()
                for r in rows:
                    edges.add(
                        Edge(
                            r["source"],
                            r["target"],
                            r["source_column"],
                            r["target_column"],
                            r["transformation"],
                        )
                    )
                    if r[other] not in nodes:
                        found.add(r[other])
                nodes |= found
                frontier = found
        ordered = sorted(edges, key=lambda e: (e.source, e.target, e.source_column, e.target_column))
        return LineageGraph(name, sorted(nodes), ordered)

    def mesh(self) -> LineageGraph:
        """Every dataset that has lineage, and every edge: the whole workspace (no focus)."""
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(lineage_edges)).mappings().all()
        edges = sorted({Edge(r["source"], r["target"], r["source_column"], r["target_column"], r["transformation"])
                        for r in rows}, key=lambda e: (e.source, e.target, e.source_column, e.target_column))  # fmt: skip
        return LineageGraph("", sorted({e.source for e in edges} | {e.target for e in edges}), edges)

    def domains(self) -> dict[str, str]:
        """The domain of each catalog dataset: its ``domain``, else its owner (the team that wrote it)."""
        return {d.id: d.domain or d.owner or "unowned" for d in self.datasets()}

    # ------------------------------------------------------------------ profiles

    def save_profile(self, dataset: str, rows: int, columns: list[dict[str, Any]]) -> None:
        """Keep the latest column profile of ``dataset`` (``meshkit profile``)."""
        with self.engine.begin() as conn:
            conn.execute(profiles.delete().where(profiles.c.dataset == dataset))
            conn.execute(profiles.insert().values(dataset=dataset, rows=rows, columns=columns, at=now()))

    def profile(self, dataset: str) -> dict[str, Any] | None:
        """The latest profile of ``dataset``: ``{rows, columns, at}``, or ``None``."""
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(profiles).where(profiles.c.dataset == dataset)).mappings().first()
        return {**row, "at": _aware(row["at"])} if row else None

    # ------------------------------------------------------------------ quality

    def record_quality(self, dataset: str, results: Iterable[dict[str, Any]], *, product: str | None = None,
                       run_id: str | None = None) -> None:  # fmt: skip
        """Store check results: dicts with ``check``, ``passed``, ``observed`` and ``message``."""
        stamp = now()
        rows = [{"dataset": dataset, "check_name": r["check"], "passed": bool(r["passed"]), "observed": r.get("observed"),
                 "message": r.get("message"), "product": product, "run_id": run_id, "at": stamp} for r in results]  # fmt: skip
        if rows:
            with self.engine.begin() as conn:
                conn.execute(quality_results.insert(), rows)

    def quality(self, dataset: str, limit: int = 20) -> list[dict[str, Any]]:
        """The latest check results of ``dataset``, newest first."""
        c = quality_results.c
        query = (
            sa.select(quality_results)
            .where(c.dataset == dataset)
            .order_by(c.at.desc(), c.id.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    # ------------------------------------------------------------------ products

    def save_product(
        self, spec: dict[str, Any], *, changes: list[dict] | None = None, published_by: str | None = None
    ) -> None:
        """Record a published product version and make it the product's current version."""
        stamp = now()
        values = {"version": spec["version"], "domain": spec.get("domain"), "owner": spec.get("owner"),
                  "status": spec.get("status"), "description": spec.get("description"), "spec": spec, "published_at": stamp}  # fmt: skip
        with self.engine.begin() as conn:
            if (
                conn.execute(products.update().where(products.c.name == spec["name"]).values(values)).rowcount
                == 0
            ):
                conn.execute(products.insert().values(name=spec["name"], **values))
            key = (product_versions.c.name == spec["name"]) & (product_versions.c.version == spec["version"])
            conn.execute(product_versions.delete().where(key))
            conn.execute(product_versions.insert().values(name=spec["name"], version=spec["version"], spec=spec,
                                                          changes=changes, published_by=published_by, published_at=stamp))  # fmt: skip

    def products(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(products).order_by(products.c.name)).mappings()]

    def product(self, name: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(products).where(products.c.name == name)).mappings().first()
        return dict(row) if row else None

    def product_versions(self, name: str) -> list[dict[str, Any]]:
        """Published versions of ``name``, newest first."""
        c = product_versions.c
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(product_versions).where(c.name == name).order_by(c.published_at.desc())
            )
            return [dict(r) for r in rows.mappings()]
