"""Open Data Contract Standard (v3.1) and Open Data Product Standard (v1.0) documents, both ways.

Each output port is one ODCS contract (id ``PRODUCT.PORT``) with one schema object; the port's
dataset travels as the custom property ``meshkitDataset``. The product itself exports as an ODPS
document whose output ports reference those contracts.
"""

from __future__ import annotations

from typing import Any

from meshkit.core.errors import ConfigError
from meshkit.products.loader import validate_product
from meshkit.products.spec import Column, OutputPort, Product

ODCS_VERSION = "v3.1.0"
ODPS_VERSION = "v1.0.0"
DATASET_PROPERTY = "meshkitDataset"
_COLUMN_KEYS = ("logicalType", "physicalType", "description", "required", "unique", "primaryKey", "primaryKeyPosition",
                "classification", "tags", "logicalTypeOptions")  # fmt: skip


def _rules(rules) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json", exclude_none=True, exclude_defaults=False) for r in rules]


def _column(column: Column) -> dict[str, Any]:
    out: dict[str, Any] = {"name": column.name}
    for key in _COLUMN_KEYS:
        value = getattr(column, key)
        if value not in (None, [], False):
            out[key] = value
    if column.quality:
        out["quality"] = _rules(column.quality)
    return out


def _team(product: Product) -> dict[str, Any] | None:
    if not (product.team or product.owner):
        return None
    team: dict[str, Any] = {"name": product.team or product.owner}
    if product.owner:
        team["members"] = [{"username": product.owner, "role": "owner"}]
    return team


def contract_id(product: Product, port: OutputPort) -> str:
    return f"{product.name}.{port.name}"


def to_odcs(product: Product, port: OutputPort) -> dict[str, Any]:
    """The ODCS v3.1 contract of one output port."""
    store, _, asset = port.dataset.partition("/")
    schema_object: dict[str, Any] = {"name": port.name, "physicalName": asset, "logicalType": "object",
                                     "physicalType": "table"}  # fmt: skip
    if port.description:
        schema_object["description"] = port.description
    if port.tags:
        schema_object["tags"] = list(port.tags)
    schema_object["properties"] = [_column(c) for c in port.contract.schema_]
    if port.contract.quality:
        schema_object["quality"] = _rules(port.contract.quality)
    doc: dict[str, Any] = {
        "apiVersion": ODCS_VERSION, "kind": "DataContract", "id": contract_id(product, port), "name": port.name,
        "version": product.version, "status": product.status,
    }  # fmt: skip
    if product.domain:
        doc["domain"] = product.domain
    if product.description:
        doc["description"] = {"purpose": product.description}
    if product.tags:
        doc["tags"] = list(product.tags)
    if team := _team(product):
        doc["team"] = team
    doc["schema"] = [schema_object]
    if port.contract.slaProperties:
        doc["slaProperties"] = [
            s.model_dump(mode="json", exclude_none=True) for s in port.contract.slaProperties
        ]
    doc["customProperties"] = [{"property": DATASET_PROPERTY, "value": port.dataset},
                               {"property": "meshkitProduct", "value": product.name}]  # fmt: skip
    return doc


def to_odps(product: Product) -> dict[str, Any]:
    """The ODPS v1.0 document of a product."""
    doc: dict[str, Any] = {"apiVersion": ODPS_VERSION, "kind": "DataProduct", "id": product.name, "name": product.name,
                           "version": product.version, "status": product.status}  # fmt: skip
    if product.domain:
        doc["domain"] = product.domain
    if product.description:
        doc["description"] = {"purpose": product.description}
    if product.tags:
        doc["tags"] = list(product.tags)
    doc["inputPorts"] = [{"name": p.name, "version": product.version, "contractId": p.product or p.dataset}
                         for p in product.inputPorts]  # fmt: skip
    doc["outputPorts"] = [
        {"name": p.name, "version": product.version, "type": "tables", "contractId": contract_id(product, p),
         **({"description": p.description} if p.description else {})}
        for p in product.outputPorts
    ]  # fmt: skip
    if team := _team(product):
        doc["team"] = team
    return doc


def _custom(doc: dict[str, Any], name: str) -> Any:
    return next(
        (p.get("value") for p in doc.get("customProperties") or [] if p.get("property") == name), None
    )


def from_odcs(
    doc: dict[str, Any], *, where: str, store: str = "warehouse", name: str | None = None
) -> Product:
    """A product with one output port per schema object of an ODCS contract.

    The port's dataset comes from the ``meshkitDataset`` custom property, else ``STORE/physicalName``.
    """
    if doc.get("kind") != "DataContract" or not str(doc.get("apiVersion", "")).startswith("v3"):
        raise ConfigError("Not an ODCS v3 data contract (kind DataContract, apiVersion v3.x).", where=where)
    team = doc.get("team")
    members = team.get("members", []) if isinstance(team, dict) else team or []
    owner = next((m.get("username") for m in members if m.get("role") == "owner"), None)
    description = doc.get("description") or {}
    ports = []
    for obj in doc.get("schema") or []:
        dataset = _custom(doc, DATASET_PROPERTY) if len(doc["schema"]) == 1 else None
        columns = [{k: v for k, v in prop.items() if k in ("name", "quality", *_COLUMN_KEYS)}
                   for prop in obj.get("properties") or []]  # fmt: skip
        ports.append({"name": obj["name"], "dataset": dataset or f"{store}/{obj.get('physicalName') or obj['name']}",
                      "description": obj.get("description"), "tags": obj.get("tags") or [],
                      "contract": {"schema": columns, "quality": obj.get("quality") or [],
                                   "slaProperties": doc.get("slaProperties") or []}})  # fmt: skip
    data = {
        "name": name or _custom(doc, "meshkitProduct") or str(doc.get("name") or doc["id"]).replace(".", "_"),
        "version": doc.get("version"), "status": doc.get("status", "draft"), "domain": doc.get("domain"),
        "owner": owner, "team": team.get("name") if isinstance(team, dict) else None,
        "description": description.get("purpose") if isinstance(description, dict) else description,
        "tags": doc.get("tags") or [], "outputPorts": ports,
    }  # fmt: skip
    return validate_product({k: v for k, v in data.items() if v is not None}, where)


def merge_ports(product: Product, imported: Product) -> Product:
    """``product`` with the output ports of ``imported`` replacing (or adding) same-named ones."""
    ports = {p.name: p for p in product.outputPorts}
    for port in imported.outputPorts:
        ports[port.name] = port
    return product.model_copy(update={"outputPorts": list(ports.values())})
