"""The demo's cross-domain lineage graph: datasets, the domain that owns each, and what moves data.

Edges come from the catalog: the lineage that transfers, jobs (their SQL statements and templates)
and model builds recorded when they ran; the transfer specs name the domain of what they copy. A
product's input port that nothing else connects (a folder of raw files a Python step reads) is linked to the
first datasets of that product's domain. Datasets outside the warehouse are the ``sources``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


def build_graph(mk, products: list, transfers: list) -> LineageGraph:
    """The graph of a workspace from its catalog: ``products`` and ``transfers`` as loaded give the domains."""
    from meshkit.catalog.catalog import Catalog

    graph = LineageGraph()
    for t in transfers:
        graph.add(f"{t.spec.source.store}/{t.spec.source.asset}", f"{t.spec.destination.store}/{t.spec.destination.asset}",
                  "transfer", t.metadata.labels.get("domain"))  # fmt: skip
    catalog = Catalog(mk)
    _add_jobs(graph, mk, catalog.run_edges(("job", "template")))
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


def _add_jobs(graph: LineageGraph, mk, edges: list) -> None:
    """Add the edges jobs and their templates recorded, job by job, each in the domain of its job's team.

    What a job wrote from nothing it read (ingested files) starts in its team's domain too.
    """
    runs = {run_id: mk.runs.get(run_id) for _, run_id in edges if run_id}
    runs = {run_id: run for run_id, run in runs.items() if run is not None}
    targets = {edge.target for edge, _ in edges}
    recorded = [(edge, runs[run_id]) for edge, run_id in edges if run_id in runs]
    order = {
        run_id: {pair: i for i, pair in enumerate(run.lineage.table_edges())} for run_id, run in runs.items()
    }
    recorded.sort(key=lambda item: (item[1].name.split("/")[0], item[1].created_at,
                                    order[item[1].id].get((item[0].source, item[0].target), len(order[item[1].id]))))  # fmt: skip
    seen: set[str] = set()
    for edge, run in recorded:
        if run.id not in seen:
            seen.add(run.id)
            for dataset in run.lineage.outputs:
                if dataset not in targets:
                    graph.nodes.setdefault(dataset, LineageNode(dataset, run.team or SOURCES))
        graph.add(edge.source, edge.target, "job", run.team)


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
