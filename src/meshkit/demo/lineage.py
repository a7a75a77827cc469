"""The demo's cross-domain lineage graph: datasets, the domain that owns each, and what moves data.

Edges come from three places: the transfer specs (source -> destination), the jobs' own code
(tables each SQL statement reads and writes, parsed with sqlglot; ``execute_template`` and
``ingest`` calls in Python steps), and the catalog's lineage of model builds. A product's input
port that nothing else connects (a folder of raw files a Python step reads) is linked to the
first datasets of that product's domain. Datasets outside the warehouse are the ``sources``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import sqlglot
from sqlglot import exp

SOURCES = "sources"


@dataclass
class LineageNode:
    id: str
    domain: str
    product: str | None = None
    port: str | None = None

    @property
    def label(self) -> str:
        return self.id.split("/", 1)[1] if "/" in self.id else self.id


@dataclass
class LineageGraph:
    nodes: dict[str, LineageNode] = field(default_factory=dict)
    #: ``(source, target, via)`` where ``via`` is ``transfer``, ``job``, ``model`` or ``product``.
    edges: list[tuple[str, str, str]] = field(default_factory=list)

    def add(self, source: str, target: str, via: str, domain: str | None) -> None:
        if source == target:
            return
        for name in (source, target):
            self.nodes.setdefault(name, LineageNode(name, SOURCES))
        if domain and self.nodes[target].domain == SOURCES and target.startswith("warehouse/"):
            self.nodes[target].domain = domain
        if (source, target, via) not in self.edges:
            self.edges.append((source, target, via))

    @property
    def domains(self) -> list[str]:
        order = [SOURCES]
        for node in self.nodes.values():
            if node.domain not in order:
                order.append(node.domain)
        return order


_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def sql_lineage(text: str) -> list[tuple[set[str], set[str]]]:
    """``(tables read, tables written)`` per statement of a SQL script (``{placeholders}`` allowed)."""
    text = _PLACEHOLDER.sub("2000-01-01", text)
    out = []
    for statement in sqlglot.parse(text, read="duckdb"):
        if statement is None:
            continue
        written: set[str] = set()
        if isinstance(statement, exp.Insert | exp.Create):
            target = (
                statement.this.find(exp.Table)
                if not isinstance(statement.this, exp.Table)
                else statement.this
            )
            if target is not None:
                written.add(target.name)
        if not written:
            continue
        ctes = {cte.alias for cte in statement.find_all(exp.CTE)}
        read = {t.name for t in statement.find_all(exp.Table) if t.name and t.name not in ctes} - written
        out.append((read, written))
    return out


def python_lineage(text: str) -> list[tuple[set[str], set[str]]]:
    """``(read, written)`` of the ``execute_template`` and ``ingest`` calls of a Python step."""
    out = []
    for node in ast.walk(ast.parse(text)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)) or len(node.args) < 2:
            continue
        if node.func.attr == "execute_template" and isinstance(node.args[1], ast.Dict):
            args = {k.value: v.value for k, v in zip(node.args[1].keys, node.args[1].values, strict=True)
                    if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)}  # fmt: skip
            if "source_view" in args and "target_table" in args:
                out.append(({args["source_view"]}, {args["target_table"]}))
        elif node.func.attr == "ingest" and isinstance(node.args[1], ast.Constant):
            out.append((set(), {node.args[1].value}))
    return out


def job_lineage(job_dir: Path) -> list[tuple[set[str], set[str]]]:
    """Reads and writes of every step of a job, in step order."""
    out = []
    for step in sorted(job_dir.iterdir()):
        if step.suffix == ".sql":
            out += sql_lineage(step.read_text())
        elif step.suffix == ".py":
            out += python_lineage(step.read_text())
    return out


def build_graph(mk, products: list, transfers: list, jobs: dict[str, str]) -> LineageGraph:
    """The graph of a workspace: ``products`` and ``transfers`` as loaded, ``jobs`` as ``{name: team}``."""
    from meshkit.catalog.catalog import Catalog

    graph = LineageGraph()
    for t in transfers:
        graph.add(f"{t.spec.source.store}/{t.spec.source.asset}", f"{t.spec.destination.store}/{t.spec.destination.asset}",
                  "transfer", t.metadata.labels.get("domain"))  # fmt: skip
    for name, team in jobs.items():
        for read, written in job_lineage(mk.workspace.find_job(name)):
            for target in written:
                if not read:
                    graph.nodes.setdefault(
                        f"warehouse/{target}", LineageNode(f"warehouse/{target}", team or SOURCES)
                    )
                for source in read:
                    graph.add(f"warehouse/{source}", f"warehouse/{target}", "job", team)
    catalog = Catalog(mk)
    by_port = {p.dataset: (product, p) for product in products for p in product.outputPorts}
    for dataset in by_port:
        for edge in catalog.lineage(dataset).edges:
            if edge.transformation == "build" and not edge.source_column:
                owner = by_port.get(edge.target, (None, None))[0]
                graph.add(edge.source, edge.target, "model", owner.domain if owner else None)
    for dataset, (product, port) in by_port.items():
        node = graph.nodes.setdefault(dataset, LineageNode(dataset, product.domain or SOURCES))
        node.domain, node.product, node.port = product.domain or node.domain, product.name, port.name
    _link_declared_inputs(graph, products)
    _settle_domains(graph)
    return graph


def _link_declared_inputs(graph: LineageGraph, products: list) -> None:
    """Connect product inputs that no edge reads to the first datasets of the product's domain."""
    read = {s for s, _, _ in graph.edges}
    entered = {t for _, t, _ in graph.edges}
    for product in products:
        firsts = [n.id for n in graph.nodes.values() if n.domain == product.domain and n.id not in entered]
        for port in product.inputPorts:
            if port.dataset and port.dataset not in read:
                for first in firsts:
                    graph.add(port.dataset, first, "product", None)


def _settle_domains(graph: LineageGraph) -> None:
    """Warehouse tables no writer claimed take the domain of the tables they feed."""
    for _ in range(len(graph.nodes)):
        changed = False
        for source, target, _via in graph.edges:
            node = graph.nodes[source]
            if (
                node.domain == SOURCES
                and source.startswith("warehouse/")
                and graph.nodes[target].domain != SOURCES
            ):
                node.domain, changed = graph.nodes[target].domain, True
        if not changed:
            return
