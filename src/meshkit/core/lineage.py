"""What a run read and wrote: the typed lineage on every run record.

Datasets are named ``store/asset``. A run's lineage has the datasets it read (``inputs``) and
wrote (``outputs``), table edges between them, and column edges, each with the kind of
transformation that made it. The catalog turns it into lineage edges when the run finishes;
OpenLineage sends it. Stored in the run's ``details["lineage"]`` in the shape of
``docs/schemas/lineage.schema.json``::

    {"transformation": "sql", "inputs": ["warehouse/raw"], "outputs": ["warehouse/wide"],
     "tables": [{"source_dataset": "warehouse/raw", "target_dataset": "warehouse/wide"}],
     "columns": {"warehouse/wide": {"id": [{"dataset": "warehouse/raw", "column": "id",
                                            "transformation": "IDENTITY"}]}}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TableEdge:
    """Data of ``source`` went into ``target``; ``source_node``/``target_node``: the model nodes, if any."""

    source: str
    target: str
    source_node: str | None = None
    target_node: str | None = None


@dataclass(frozen=True)
class ColumnEdge:
    """Column ``target_column`` of ``target`` was made from ``source_column`` of ``source`` by ``transformation``."""

    source: str
    source_column: str
    target: str
    target_column: str
    transformation: str | None = None


@dataclass
class Lineage:
    """What a run read and wrote; ``transformation``: the kind (``sql``, ``model``, ``transfer``, ``product``)."""

    transformation: str | None = None
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    tables: list[TableEdge] = field(default_factory=list)
    columns: list[ColumnEdge] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.inputs or self.outputs or self.tables or self.columns)

    def read(self, *datasets: str) -> None:
        """Record datasets read (once each, in order)."""
        self.inputs += [d for d in dict.fromkeys(datasets) if d not in self.inputs]

    def wrote(self, *datasets: str) -> None:
        """Record datasets written (once each, in order)."""
        self.outputs += [d for d in dict.fromkeys(datasets) if d not in self.outputs]

    def link(
        self, source: str, target: str, *, source_node: str | None = None, target_node: str | None = None
    ) -> None:
        """Record that data of ``source`` went into ``target`` (once)."""
        edge = TableEdge(source, target, source_node, target_node)
        if edge not in self.tables:
            self.tables.append(edge)

    def table_edges(self) -> list[tuple[str, str]]:
        """Every ``(source, target)`` the lineage declares or implies: each input to each output, the
        table edges, and the tables of each column edge."""
        pairs = [(i, o) for i in self.inputs for o in self.outputs]
        pairs += [(e.source, e.target) for e in self.tables]
        pairs += [(e.source, e.target) for e in self.columns]
        return [p for p in dict.fromkeys(pairs) if p[0] != p[1]]

    def as_dict(self) -> dict[str, Any]:
        """The stored shape (``docs/schemas/lineage.schema.json``)."""
        data: dict[str, Any] = {
            "inputs": list(self.inputs),
            "outputs": list(self.outputs),
            "tables": [],
            "columns": {},
        }
        if self.transformation:
            data["transformation"] = self.transformation
        for e in self.tables:
            table = {"source_dataset": e.source, "target_dataset": e.target}
            if e.source_node or e.target_node:
                table.update(source=e.source_node, target=e.target_node)
            data["tables"].append(table)
        for e in self.columns:
            source = {"dataset": e.source, "column": e.source_column}
            if e.transformation:
                source["transformation"] = e.transformation
            data["columns"].setdefault(e.target, {}).setdefault(e.target_column, []).append(source)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Lineage:
        """Read the stored shape back (inputs may be ``{"dataset": ...}`` dicts, as OpenLineage writes them)."""
        data = data or {}
        lineage = cls(transformation=data.get("transformation"))
        lineage.read(*_names(data.get("inputs")))
        lineage.wrote(*_names(data.get("outputs")))
        tables = [TableEdge(t["source_dataset"], t["target_dataset"], t.get("source"), t.get("target"))
                  for t in data.get("tables") or []
                  if isinstance(t.get("source_dataset"), str) and isinstance(t.get("target_dataset"), str)]  # fmt: skip
        lineage.tables = list(dict.fromkeys(tables))  # once each, as link() keeps them
        for target, columns in (data.get("columns") or {}).items():
            for target_column, sources in (columns or {}).items():
                for s in sources or []:
                    if isinstance(s, dict) and s.get("dataset") and s.get("column"):
                        lineage.columns.append(ColumnEdge(s["dataset"], s["column"], target, target_column,
                                                          s.get("transformation")))  # fmt: skip
        return lineage


def _names(items: Any) -> list[str]:
    out = []
    for item in items or []:
        name = item.get("dataset") if isinstance(item, dict) else item
        if isinstance(name, str) and "/" in name:
            out.append(name)
    return out
