"""Open Data Contract Standard (v3) and Open Data Product Standard (v1.0) documents, both ways.

An imported ODCS contract is kept whole under the product's ``contracts``, but for its schema
objects: each becomes an output port (``contractId`` names the contract) whose ``contract`` holds
the object's columns, quality rules, other fields and the contract's ``slaProperties``. Export
puts the pieces back together, so every field comes back with its value: one contract out per
contract in, fields meshkit does not use and fields of later ODCS versions included.

An output port without ``contractId`` exports as a contract of its own (id ``PRODUCT.PORT``, one
schema object, the port's dataset in the custom property ``meshkitDataset``). The product itself
exports as an ODPS document whose output ports reference those contracts. Exports are checked
against bitol's JSON Schema of the contract's own ``apiVersion`` (shipped in ``odcs_schemas/``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema

from meshkit.core.errors import ConfigError
from meshkit.products.loader import validate_product
from meshkit.products.spec import ContractDocument, OutputPort, Product

ODCS_VERSION = "v3.1.0"
ODPS_VERSION = "v1.0.0"
DATASET_PROPERTY = "meshkitDataset"
#: Key order of an ODCS contract and of a schema object, as the standard lists them.
_CONTRACT_KEYS = ("version", "kind", "apiVersion", "id", "name", "tenant", "tags", "status", "servers", "dataProduct",
                  "description", "domain", "schema", "support", "price", "team", "roles", "slaDefaultElement",
                  "slaProperties", "authoritativeDefinitions", "customProperties", "contractCreatedTs")  # fmt: skip
_OBJECT_KEYS = ("id", "name", "physicalName", "physicalType", "description", "businessName", "authoritativeDefinitions",
                "tags", "customProperties", "logicalType", "dataGranularityDescription", "properties",
                "relationships", "quality")  # fmt: skip


@cache
def odcs_json_schema(api_version: str) -> dict[str, Any] | None:
    """Bitol's JSON Schema of an ODCS ``apiVersion`` (``v3.1.0``...), None if meshkit has none."""
    resource = files("meshkit.products") / "odcs_schemas" / f"odcs-json-schema-{api_version}.json"
    return (
        json.loads(resource.read_text())
        if re.fullmatch(r"v\d+\.\d+\.\d+", api_version) and resource.is_file()
        else None
    )


def contract_problems(doc: dict[str, Any]) -> list[str]:
    """Where ``doc`` breaks the JSON Schema of its own ``apiVersion`` (none if meshkit lacks that schema)."""
    schema = odcs_json_schema(str(doc.get("apiVersion")))
    if schema is None:
        return []
    kind = jsonschema.validators.validator_for(schema)
    validator = kind(schema, format_checker=kind.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(doc), key=lambda e: e.json_path)
    return list(dict.fromkeys(f"{e.json_path}: {e.message}" for e in errors))


def summary(problems: list[str], shown: int = 5) -> str:
    """The first ``shown`` problems, and how many more there are."""
    more = f" ({len(problems) - shown} more)" if len(problems) > shown else ""
    return "; ".join(problems[:shown]) + more


def _ordered(doc: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    rank = {k: i for i, k in enumerate(keys)}
    return dict(sorted(doc.items(), key=lambda item: rank.get(item[0], len(keys))))


def _placed(doc: dict[str, Any], key: str, value: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """``doc`` with ``key`` where the fewest keys stand against the standard's order ``keys``."""
    items = list(doc.items())
    rank = {k: i for i, k in enumerate(keys)}
    mine = rank[key]

    def misplaced(at: int) -> int:
        return sum(rank[k] > mine for k, _ in items[:at] if k in rank) + sum(
            rank[k] < mine for k, _ in items[at:] if k in rank
        )

    at = min(range(len(items) + 1), key=misplaced)
    return dict([*items[:at], (key, value), *items[at:]])


def _dump(model) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _schema_object(port: OutputPort) -> dict[str, Any]:
    """The ODCS schema object of a port (its contract's ``slaProperties`` left out)."""
    fields = {
        "properties" if k == "schema" else k: v
        for k, v in _dump(port.contract).items()
        if k != "slaProperties"
    }
    obj = _placed(fields, "name", port.name, _OBJECT_KEYS)
    if "description" in port.model_fields_set:
        obj = _placed(obj, "description", port.description, _OBJECT_KEYS)
    if "tags" in port.model_fields_set:
        obj = _placed(obj, "tags", list(port.tags), _OBJECT_KEYS)
    return obj


def _team(product: Product) -> dict[str, Any] | None:
    if not (product.team or product.owner):
        return None
    team: dict[str, Any] = {"name": product.team or product.owner}
    if product.owner:
        team["members"] = [{"username": product.owner, "role": "owner"}]
    return team


def contract_id(product: Product, port: OutputPort) -> str:
    """The id of the ODCS contract a port exports in."""
    return port.contractId or f"{product.name}.{port.name}"


def to_odcs(product: Product, port: OutputPort) -> dict[str, Any]:
    """The ODCS v3.1 contract of an output port that has no imported contract."""
    store, _, asset = port.dataset.partition("/")
    schema_object = {
        "physicalName": asset,
        "logicalType": "object",
        "physicalType": "table",
        **_schema_object(port),
    }
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
    doc["schema"] = [_ordered(schema_object, _OBJECT_KEYS)]
    if port.contract.slaProperties:
        doc["slaProperties"] = _dump(port.contract)["slaProperties"]
    doc["customProperties"] = [{"property": DATASET_PROPERTY, "value": port.dataset},
                               {"property": "meshkitProduct", "value": product.name}]  # fmt: skip
    return doc


def _imported(product: Product, contract: ContractDocument) -> dict[str, Any]:
    doc = _dump(contract)
    ports = [p for p in product.outputPorts if p.contractId == contract.id]
    if ports:
        doc = _placed(doc, "schema", [_schema_object(p) for p in ports], _CONTRACT_KEYS)
    slas = [
        _dump(p.contract)["slaProperties"] for p in ports if "slaProperties" in p.contract.model_fields_set
    ]
    if any(sla != slas[0] for sla in slas):
        raise ConfigError(f"The output ports of contract `{contract.id}` have different `slaProperties`.",
                          hint="ODCS has one list per contract: give its ports the same one.")  # fmt: skip
    return _placed(doc, "slaProperties", slas[0], _CONTRACT_KEYS) if slas else doc


def odcs_documents(product: Product) -> list[dict[str, Any]]:
    """Every ODCS contract of a product: the imported ones, then one per other output port."""
    return [_imported(product, c) for c in product.contracts] + [
        to_odcs(product, p) for p in product.outputPorts if p.contractId is None
    ]


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
    properties = doc.get("customProperties")
    return next((p.get("value") for p in properties if isinstance(p, dict) and p.get("property") == name), None) \
        if isinstance(properties, list) else None  # fmt: skip


def _product_name(doc: dict[str, Any]) -> str:
    name = re.sub(r"[^\w-]+", "_", str(doc.get("name") or doc["id"])).strip("_")
    return name if name[:1].isalpha() else f"contract_{name}"


def _ports(doc: dict[str, Any], envelope: dict[str, Any], store: str) -> list[dict[str, Any]]:
    """Output ports of a contract's schema objects, taking them (and ``slaProperties``) out of ``envelope``."""
    objects = envelope.pop("schema")
    sla = {"slaProperties": envelope.pop("slaProperties")} if "slaProperties" in envelope else {}
    ports = []
    for obj in objects:
        obj = obj if isinstance(obj, dict) else {}
        dataset = _custom(doc, DATASET_PROPERTY) if len(objects) == 1 else None
        port = {"name": obj.get("name"), "contractId": doc["id"],
                "dataset": dataset or f"{store}/{obj.get('physicalName') or obj.get('name')}"}  # fmt: skip
        port.update({k: obj[k] for k in ("description", "tags") if k in obj})
        contract = {"schema" if k == "properties" else k: v for k, v in obj.items()
                    if k not in ("name", "description", "tags")}  # fmt: skip
        port["contract"] = {**contract, **sla}
        ports.append(port)
    return ports


def _source_field(loc: tuple, origins: list[tuple[int, int]], documents: int) -> str:
    """Where a product validation error sits in the imported contract(s)."""
    parts, document = [str(p) for p in loc], None
    if loc[:1] == ("outputPorts",) and len(loc) > 1:
        document, index = origins[loc[1]]
        rest = parts[2:]
        if rest[:2] == ["contract", "slaProperties"]:
            parts = rest[1:]
        elif rest[:2] == ["contract", "schema"]:
            parts = ["schema", str(index), "properties", *rest[2:]]
        else:
            parts = ["schema", str(index), *(rest[1:] if rest[:1] == ["contract"] else rest)]
    elif loc[:1] == ("contracts",) and len(loc) > 1:
        document, parts = loc[1], parts[2:]
    at = f"document {document + 1}: " if document is not None and documents > 1 else ""
    return at + ".".join(parts)


def from_odcs(
    documents: list[dict[str, Any]], *, where: str, store: str = "warehouse", name: str | None = None
) -> Product:
    """A product holding ODCS v3 contracts: each schema object becomes an output port.

    A port's dataset comes from the ``meshkitDataset`` custom property, else ``STORE/physicalName``.
    The product's name, version, status, domain, owner, team, description and tags come from the
    first contract.
    """
    contracts, ports, origins = [], [], []
    for number, doc in enumerate(documents):
        at = f"{where} (document {number + 1})" if len(documents) > 1 else where
        if not isinstance(doc, dict) or doc.get("kind") != "DataContract" or not doc.get("id") \
                or not str(doc.get("apiVersion", "")).startswith("v3."):  # fmt: skip
            raise ConfigError(
                "Not an ODCS v3 data contract (kind DataContract, apiVersion v3.x, an id).", where=at
            )
        envelope = dict(doc)
        if isinstance(doc.get("schema"), list) and doc["schema"]:
            found = _ports(doc, envelope, store)
            ports += found
            origins += [(number, i) for i in range(len(found))]
        contracts.append(envelope)
    first = documents[0]
    team = first.get("team")
    members = team.get("members", []) if isinstance(team, dict) else team if isinstance(team, list) else []
    owner = next(
        (m.get("username") for m in members if isinstance(m, dict) and m.get("role") == "owner"), None
    )
    description = first.get("description")
    data = {
        "name": name or _custom(first, "meshkitProduct") or _product_name(first), "version": first.get("version"),
        "status": first.get("status"), "domain": first.get("domain"), "owner": owner,
        "team": team.get("name") if isinstance(team, dict) else None,
        "description": description.get("purpose") if isinstance(description, dict) else description,
        "tags": first.get("tags"), "outputPorts": ports, "contracts": contracts,
    }  # fmt: skip
    return validate_product({k: v for k, v in data.items() if v is not None}, where,
                            field_name=lambda loc: _source_field(loc, origins, len(documents)))  # fmt: skip


def merge_ports(product: Product, imported: Product) -> Product:
    """``product`` with the contracts and output ports of ``imported`` replacing (or adding) same-named ones."""
    contracts = {c.id: c for c in product.contracts}
    replaced = {c.id for c in imported.contracts}
    contracts.update({c.id: c for c in imported.contracts})
    ports = {p.name: p for p in product.outputPorts if p.contractId not in replaced}
    for port in imported.outputPorts:
        ports[port.name] = port
    return product.model_copy(
        update={"outputPorts": list(ports.values()), "contracts": list(contracts.values())}
    )
