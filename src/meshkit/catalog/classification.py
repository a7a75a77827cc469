"""Classification follows the data: column tags propagate along lineage to every derived dataset.

A column's tags are its own (declared by a product contract or on the catalog entry) plus the
tags of every column it is made from, by column lineage, transitively; each propagated tag keeps
where it was declared and the run that carried it (``pii`` from ``crm/customers.email`` via
``job copy``). A column without column lineage in a dataset nobody declared inherits every tag
of every input dataset (conservative). A column's classification is known when it is declared,
or when every column it is made from is known; a dataset with an unknown column is unclassified,
and governance lets only its owner read it unless a policy grants it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

import sqlalchemy as sa

from meshkit.catalog.catalog import ColumnInfo, Dataset
from meshkit.catalog.tables import lineage_edges
from meshkit.core.metadata import runs

if TYPE_CHECKING:
    from meshkit.catalog.catalog import Catalog

DECLARED = "declared"
LINEAGE = "lineage"


class _Lineage:
    """The lineage edges of the catalog, indexed for propagation (read once per propagation)."""

    def __init__(self, catalog: Catalog):
        t, r = lineage_edges.c, runs.c
        query = sa.select(t.source, t.target, t.source_column, t.target_column, t.run_kind, r.kind, r.name).select_from(
            lineage_edges.outerjoin(runs, r.id == t.run_id))  # fmt: skip
        self.inputs: dict[str, dict[str, str]] = defaultdict(dict)
        #: ``{target: {target column (lower): [(source, source column, via)]}}``
        self.columns: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
        self.downstream: dict[str, set[str]] = defaultdict(set)
        with catalog.engine.connect() as conn:
            for source, target, scol, tcol, run_kind, kind, name in conn.execute(query):
                via = f"{kind or run_kind or 'run'} {name}" if name else (run_kind or "lineage")
                self.inputs[target].setdefault(source, via)
                self.downstream[source].add(target)
                if scol and tcol:
                    self.columns[target][tcol.lower()].append((source, scol, via))

    def closure(self, roots: Iterable[str]) -> list[str]:
        """``roots`` and every dataset downstream of them, upstream ones first (as far as cycles allow)."""
        frontier = list(roots)
        found = set(frontier)
        while frontier:
            for target in self.downstream.get(frontier.pop(), ()):
                if target not in found:
                    found.add(target)
                    frontier.append(target)
        waiting = {name: {s for s in self.inputs.get(name, {}) if s in found} for name in found}
        order: list[str] = []
        while waiting:
            # NOTE: in a cycle nothing is ready; start it anywhere, propagation passes again.
            ready = sorted(n for n, sources in waiting.items() if not sources) or [min(waiting)]
            for name in ready:
                order.append(name)
                del waiting[name]
            for sources in waiting.values():
                sources.difference_update(ready)
        return order


def _inherit(upstream: ColumnInfo | None, source: str, via: str) -> tuple[list[dict[str, str]], bool]:
    """The tags ``upstream`` passes on, and whether its classification is known."""
    if upstream is None:
        return [], False
    own = [{"tag": tag, "source": f"{source}.{upstream.name}", "via": via} for tag in upstream.own_tags]
    carried = [{**t, "via": via} for t in upstream.inherited]
    return own + carried, upstream.classified_by is not None


def _columns(dataset: Dataset | None) -> list[ColumnInfo]:
    return dataset.columns if dataset else []


def _derive(dataset: Dataset, lineage: _Lineage, known: dict[str, Dataset | None]) -> list[ColumnInfo]:
    """``dataset``'s columns with their inherited tags and classification recomputed from upstream."""
    inputs = lineage.inputs.get(dataset.id, {})
    by_column = lineage.columns.get(dataset.id, {})
    columns = []
    for column in dataset.columns:
        declared = column.classified_by == DECLARED
        sources = by_column.get(column.name.lower())
        if sources is None and not declared:
            # NOTE: without column lineage, any column of any input may have reached it.
            sources = [(s, c.name, via) for s, via in inputs.items() for c in _columns(known[s])]
            sources += [(s, "", via) for s, via in inputs.items() if not _columns(known[s])]
        inherited, classified = [], bool(sources)
        for source, name, via in sources or []:
            upstream = known[source].column(name) if known.get(source) and name else None
            tags, ok = _inherit(upstream, source, via)
            inherited += tags
            classified = classified and ok
        unique = {(t["tag"], t["source"], t["via"]): t for t in inherited}
        columns.append(replace(column, inherited=[unique[k] for k in sorted(unique)],
                               classified_by=DECLARED if declared else LINEAGE if classified else None))  # fmt: skip
    return columns


def propagate(catalog: Catalog, roots: Iterable[str]) -> list[str]:
    """Recompute the inherited tags of ``roots`` and of every dataset downstream; returns those changed."""
    lineage = _Lineage(catalog)
    order = lineage.closure(roots)
    wanted = {*order, *(s for name in order for s in lineage.inputs.get(name, {}))}
    found = catalog.get_many(wanted)
    known: dict[str, Dataset | None] = {name: found.get(name) for name in wanted}

    def dataset(name: str) -> Dataset | None:
        if name not in known:
            known[name] = catalog.get(name)
        return known[name]

    changed: list[str] = []
    for _ in range(len(order) + 1):  # a second pass settles what a lineage cycle left behind
        settled = True
        for name in order:
            current = dataset(name)
            if current is None:
                continue
            for source in lineage.inputs.get(name, {}):
                dataset(source)
            columns = _derive(current, lineage, known)
            if columns != current.columns:
                known[name] = catalog.register_dataset(name, columns=columns, replace_tags=True)
                changed.append(name)
                settled = False
        if settled:
            break
    return list(dict.fromkeys(changed))
