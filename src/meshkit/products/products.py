"""Product lifecycle: lint, test, publish (refusing unannounced breaking changes), history.

Publishing records the version in the catalog, registers each output port as a catalog dataset
with the contract's column tags and classification (which policies read), and links input
ports to output ports in the lineage. Publishing and testing are runs like any other, so the
catalog and OpenLineage observe them through the run-event hooks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshkit.catalog.catalog import Catalog, ColumnInfo, Edge
from meshkit.catalog.classification import DECLARED, propagate
from meshkit.core.errors import ConfigError, UserError
from meshkit.core.lifecycle import recorded_run
from meshkit.core.lineage import Lineage
from meshkit.core.runs import RunRecord
from meshkit.products.diff import Change, breaking, diff_products
from meshkit.products.loader import validate_product
from meshkit.products.odcs import contract_problems, odcs_documents
from meshkit.products.spec import Product
from meshkit.products.verify import PortReport, check_port

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


@dataclass
class PublishResult:
    product: Product
    previous: str | None
    changes: list[Change] = field(default_factory=list)
    unchanged: bool = False


@contextlib.contextmanager
def product_run(meshkit: Meshkit, kind: str, product: Product) -> Iterator[RunRecord]:
    """A recorded run of a product operation."""
    with recorded_run(meshkit, kind, f"product.{product.name}", arguments={"version": product.version},
                      team=product.team) as run:  # fmt: skip
        run.details["product"] = product.name
        yield run


def lint(meshkit: Meshkit, product: Product) -> list[str]:
    """Problems validation alone does not catch: unknown stores, nullable keys, invalid ODCS exports..."""
    problems = []
    for port in product.outputPorts:
        store = port.dataset.partition("/")[0]
        try:
            meshkit.store(store)
        except ConfigError as exc:
            problems.append(f"output port `{port.name}`: {exc.message}")
        if not port.contract.schema_:
            problems.append(f"output port `{port.name}`: the contract declares no columns")
        for column in port.contract.schema_:
            if column.primaryKey and not column.required:
                problems.append(
                    f"output port `{port.name}`: key column `{column.name}` should be `required: true`"
                )
            if column.logicalType is None:
                problems.append(f"output port `{port.name}`: column `{column.name}` has no `logicalType`")
    try:
        contracts = odcs_documents(product)
    except ConfigError as exc:
        return [*problems, exc.message]
    for doc in contracts:
        problems += [
            f"contract `{doc['id']}` (ODCS {doc['apiVersion']}): {p}" for p in contract_problems(doc)
        ]
    return problems


def verify_product(meshkit: Meshkit, product: Product, *, record: bool = True) -> list[PortReport]:
    """Check every output port's live data against its contract; results go to the catalog."""
    with product_run(meshkit, "check", product) as run:
        reports = [check_port(meshkit, port) for port in product.outputPorts]
        run.details["quality"] = {r.dataset: [x.as_dict() for x in r.results] for r in reports}
        if record:
            catalog = Catalog(meshkit)
            for report in reports:
                catalog.record_quality(report.dataset, [r.as_dict() for r in report.results], product=product.name,
                                       run_id=run.id)  # fmt: skip
    return reports


def published(meshkit: Meshkit, name: str) -> Product | None:
    """The current published version of ``name``."""
    row = Catalog(meshkit).product(name)
    return validate_product(row["spec"], f"catalog product {name}") if row else None


def check_publishable(previous: Product | None, product: Product) -> list[Change]:
    """The changes since ``previous``; raises if they break consumers without a major version bump."""
    if previous is None:
        return []
    changes = diff_products(previous, product)
    broken = breaking(changes)
    if broken and product.major <= previous.major:
        listed = "; ".join(f"{c.port}{'.' + c.column if c.column else ''}: {c.message}" for c in broken)
        raise UserError(f"Product `{product.name}` {product.version} has {len(broken)} breaking change(s) "
                        f"since {previous.version}: {listed}.",
                        hint=f"Publish it as {previous.major + 1}.0.0, or keep the contract compatible.")  # fmt: skip
    if changes and _version_key(product.version) <= _version_key(previous.version):
        raise UserError(f"Product `{product.name}` changed but its version {product.version} is not above "
                        f"{previous.version}.", hint="Bump the version.")  # fmt: skip
    return changes


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("+")[0].split("-")[0].split("."))


def register_ports(meshkit: Meshkit, product: Product, run_id: str | None = None) -> None:
    """Make each output port a catalog dataset tagged from its contract; link inputs to outputs."""
    catalog = Catalog(meshkit)
    for port in product.outputPorts:
        columns = [ColumnInfo(name=c.name, type=c.logicalType, native_type=c.physicalType, nullable=not c.required,
                              tags=list(c.tags), classification=c.classification, description=c.description,
                              classified_by=DECLARED)
                   for c in port.contract.schema_]  # fmt: skip
        catalog.register_dataset(port.dataset, columns=columns, replace_tags=True, run_id=run_id,
                                 description=port.description or product.description, owner=product.owner or product.team,
                                 domain=product.domain, product=product.name, residency=product.residency,
                                 tags=[*product.tags, *port.tags])  # fmt: skip
    edges = []
    for source in product.inputPorts:
        upstream = source.dataset or _product_port_dataset(meshkit, source.product)
        if upstream:
            edges += [
                Edge(upstream, port.dataset, transformation=f"product {product.name}")
                for port in product.outputPorts
            ]
    catalog.add_lineage(edges, run_id=run_id, run_kind="publish")
    propagate(catalog, [port.dataset for port in product.outputPorts])


def _product_port_dataset(meshkit: Meshkit, reference: str | None) -> str | None:
    name, _, port_name = (reference or "").partition(".")
    upstream = published(meshkit, name)
    port = upstream.port(port_name) if upstream and port_name else None
    return port.dataset if port else None


def publish(meshkit: Meshkit, product: Product, *, published_by: str | None = None) -> PublishResult:
    """Record ``product`` as published, refusing a breaking change without a major version bump."""
    previous = published(meshkit, product.name)
    if previous is not None and previous.version == product.version and previous.dump() == product.dump():
        return PublishResult(product, previous.version, unchanged=True)
    changes = check_publishable(previous, product)
    if previous is not None and previous.version == product.version:
        raise UserError(f"Version {product.version} of `{product.name}` is already published with other content.",
                        hint="Bump the version.")  # fmt: skip
    with product_run(meshkit, "publish", product) as run:
        register_ports(meshkit, product, run.id)
        Catalog(meshkit).save_product(
            product.dump(), changes=[c.as_dict() for c in changes], published_by=published_by
        )
        run.lineage = Lineage(transformation="product", inputs=[p.dataset for p in product.inputPorts if p.dataset],
                              outputs=[p.dataset for p in product.outputPorts])  # fmt: skip
    return PublishResult(product, previous.version if previous else None, changes)


def history(meshkit: Meshkit, product: Product) -> dict[str, list[dict[str, Any]]]:
    """Snapshots of each output port whose store keeps them (Iceberg), newest first."""
    out = {}
    for port in product.outputPorts:
        store_name, _, asset = port.dataset.partition("/")
        store = meshkit.store(store_name)
        snapshots = getattr(store, "snapshots", None)
        out[port.name] = (
            sorted(snapshots(asset), key=lambda s: s.get("timestamp") or "", reverse=True)
            if snapshots
            else []
        )
    return out
