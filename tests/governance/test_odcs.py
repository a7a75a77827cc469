"""ODCS contracts survive import and export unchanged; meshkit's product features work on them.

Each ``odcs/*.odcs.yaml`` goes through ``meshkit product import`` (to products/NAME.yaml) and
``meshkit product export``, and must come back equal, validated against bitol's JSON Schema of its
own ``apiVersion``. Together the files use every field the ODCS v3.1.0 JSON Schema defines.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

import jsonschema
import pytest
import yaml

from meshkit.catalog.catalog import Catalog
from meshkit.core.errors import ConfigError
from meshkit.products.diff import breaking, diff_products
from meshkit.products.loader import JsonYamlLoader, load_product, parse_product
from meshkit.products.odcs import contract_problems, from_odcs, odcs_documents
from meshkit.products.products import lint, publish, verify_product

CONTRACTS = Path(__file__).parent / "odcs"
CASES = sorted(p.name for p in CONTRACTS.glob("*.odcs.yaml"))
SCHEMAS = files("meshkit.products") / "odcs_schemas"


def read(text: str) -> list:
    return list(yaml.load_all(text, Loader=JsonYamlLoader))


def bitol_errors(doc: dict) -> list[str]:
    """Errors of ``doc`` against bitol's JSON Schema of its ``apiVersion`` (read here, not through meshkit)."""
    schema = json.loads((SCHEMAS / f"odcs-json-schema-{doc['apiVersion']}.json").read_text())
    validator = jsonschema.Draft201909Validator(schema)
    return sorted(f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc))


def round_trip(cli, workspace, path: Path, name: str, *export_options: str) -> list[dict]:
    imported = cli("product", "import", str(path), "--name", name)
    assert imported.exit_code == 0, imported.output
    out = workspace.root / f"{name}.export.yaml"
    exported = cli("product", "export", name, "-o", str(out), *export_options)
    assert exported.exit_code == 0, exported.output
    return read(out.read_text())


@pytest.mark.parametrize("case", [c for c in CASES if c != "unknown-fields.odcs.yaml"])
def test_contract_comes_back_unchanged_and_valid(cli, workspace, case):
    original = read((CONTRACTS / case).read_text())
    assert [bitol_errors(d) for d in original] == [[] for _ in original]
    exported = round_trip(cli, workspace, CONTRACTS / case, "imported")
    assert exported == original
    assert [bitol_errors(d) for d in exported] == [[] for _ in original]


def test_unknown_and_extension_fields_are_kept(cli, workspace):
    path = CONTRACTS / "unknown-fields.odcs.yaml"
    original = read(path.read_text())
    expected = bitol_errors(original[0])
    assert any("x-lineage" in e for e in expected) and any("x-alert" in e for e in expected)
    refused = cli("product", "import", str(path), "--name", "events")
    assert refused.exit_code == 0 and "breaks the ODCS v3.1.0 JSON Schema" in refused.output
    linted = cli("product", "lint", "events")
    assert (
        linted.exit_code == 2 and "contract `events` (ODCS v3.1.0): $: Additional properties" in linted.output
    )
    blocked = cli("product", "export", "events")
    assert blocked.exit_code == 2 and "futureField" in blocked.output and "--no-validate" in blocked.output
    out = workspace.root / "events.odcs.yaml"
    assert cli("product", "export", "events", "--no-validate", "-o", str(out)).exit_code == 0
    exported = read(out.read_text())
    assert exported == original
    assert bitol_errors(exported[0]) == expected


def test_later_api_version_round_trips_unvalidated(cli, workspace):
    contract = read((CONTRACTS / "roles-only-v3.1.0.odcs.yaml").read_text())[0] | {"apiVersion": "v3.9.0"}
    (workspace.root / "future.yaml").write_text(yaml.safe_dump(contract))
    imported = cli("product", "import", str(workspace.root / "future.yaml"), "--name", "future")
    assert "no ODCS v3.9.0 JSON Schema" in imported.output
    assert round_trip(cli, workspace, workspace.root / "future.yaml", "future2") == [contract]


def _keys(value, found: set[str]) -> set[str]:
    if isinstance(value, dict):
        found.update(value)
        for item in value.values():
            _keys(item, found)
    elif isinstance(value, list):
        for item in value:
            _keys(item, found)
    return found


def _schema_fields(node, found: set[str]) -> set[str]:
    """Every property name the JSON Schema defines, at any depth (``$defs`` included)."""
    if isinstance(node, dict):
        if isinstance(node.get("properties"), dict):
            found.update(node["properties"])
        for item in node.values():
            _schema_fields(item, found)
    elif isinstance(node, list):
        for item in node:
            _schema_fields(item, found)
    return found


def test_cases_exercise_every_field_of_the_v3_1_schema():
    schema = json.loads((SCHEMAS / "odcs-json-schema-v3.1.0.json").read_text())
    docs = [d for case in CASES for d in read((CONTRACTS / case).read_text())]
    v31 = [d for d in docs if d["apiVersion"] == "v3.1.0"]
    assert _schema_fields(schema, set()) - _keys(v31, set()) == set()
    server_types = set(schema["$defs"]["Server"]["properties"]["type"]["enum"])
    assert server_types - {s["type"] for d in v31 for s in d.get("servers", [])} == set()
    rules = [r for d in docs for o in d.get("schema", []) for r in [*o.get("quality", []),
             *(q for p in o.get("properties", []) for q in p.get("quality", []))]]  # fmt: skip
    assert {r.get("type", "library") for r in rules if "businessImpact" in r} == {
        "library",
        "sql",
        "text",
        "custom",
    }
    assert {d["status"] for d in docs} >= {"in review", "development"}
    assert any("schema" not in d and "roles" in d for d in docs) and any(
        "schema" not in d and "slaProperties" in d for d in docs
    )


def test_bundled_schema_is_bitols(specs_dir):
    bundled = json.loads((SCHEMAS / "odcs-json-schema-v3.1.0.json").read_text())
    assert bundled == json.loads((specs_dir / "odcs" / "odcs-json-schema-v3.1.0.json").read_text())


def test_stream_of_contracts_gives_one_contract_out_per_contract_in(cli, workspace):
    docs = [read((CONTRACTS / c).read_text())[0] for c in ("v3.0.0.odcs.yaml", "roles-only-v3.1.0.odcs.yaml")]
    (workspace.root / "two.yaml").write_text(yaml.safe_dump_all(docs, sort_keys=False))
    assert round_trip(cli, workspace, workspace.root / "two.yaml", "two") == docs
    product = load_product(workspace.root / "products" / "two.yaml")
    assert [(p.name, p.contractId, p.dataset) for p in product.outputPorts] == [
        ("tbl", "53581432-6c55-4ba2-a65f-72344a91553a", "warehouse/tbl_1")
    ]
    assert [c.id for c in product.contracts] == [d["id"] for d in docs]
    one = cli("product", "export", "two", "--port", "tbl")
    assert [d["id"] for d in read(one.output)] == [docs[0]["id"]]


CUSTOMERS_CONTRACT = """\
apiVersion: v3.1.0
kind: DataContract
id: customers-odcs
name: customers
version: 1.0.0
status: released
domain: sales
team: {name: crm, members: [{username: alice@example.com, role: owner}]}
schema:
  - name: customers
    physicalName: customers
    businessName: Customers
    relationships: [{from: customers.region, to: regions.code}]
    quality:
      - {metric: rowCount, mustBeGreaterThan: 0, businessImpact: operational}
      - {type: text, description: Every customer signed the terms.}
      - {type: custom, engine: soda, implementation: "row_count > 0"}
    properties:
      - {name: id, logicalType: integer, physicalType: BIGINT, required: true, primaryKey: true, criticalDataElement: true}
      - {name: name, logicalType: string, classification: pii, businessName: Full name}
      - {name: email, logicalType: string, classification: pii, tags: [contact],
         quality: [{metric: nullValues, mustBe: 0, businessImpact: regulatory}]}
      - {name: region, logicalType: string,
         quality: [{rule: validValues, metric: invalidValues, arguments: {validValues: [EU, US]}, mustBe: 0}]}
      - {name: score, logicalType: number}
slaProperties:
  - {property: retention, value: 1, unit: y}
"""


def test_imported_contract_is_linted_verified_published_and_diffed(governed, cli):
    path = governed.workspace.root / "customers.odcs.yaml"
    path.write_text(CUSTOMERS_CONTRACT)
    assert cli("product", "import", str(path), "--name", "crm_customers").exit_code == 0
    product = load_product(governed.workspace.root / "products" / "crm_customers.yaml")
    assert product.status == "released" and lint(governed, product) == []
    results = {r.check: r for r in verify_product(governed, product)[0].results}
    assert all(r.passed for r in results.values()), results
    assert results["region.invalidValues mustBe 0"].observed == 0
    assert (
        "documentation only" in results["text"].message and "documentation only" in results["custom"].message
    )
    publish(governed, product)
    dataset = Catalog(governed).get("warehouse/customers")
    assert dataset.product == "crm_customers" and dataset.column("email").classification == "pii"
    changed = parse_product(
        (governed.workspace.root / "products" / "crm_customers.yaml").read_text()
        .replace("logicalType: number", "logicalType: string").replace("version: 1.0.0", "version: 1.1.0"), "p.yaml"
    )  # fmt: skip
    assert [c.column for c in breaking(diff_products(product, changed))] == ["score"]
    assert read(cli("product", "export", "crm_customers").output) == read(CUSTOMERS_CONTRACT)


def test_import_errors_name_the_contract_field(tmp_path):
    doc = read(CUSTOMERS_CONTRACT)[0]
    doc["schema"][0]["properties"][4]["logicalType"] = "float"
    with pytest.raises(ConfigError) as err:
        from_odcs([doc], where="c.yaml")
    assert "schema.0.properties.4.logicalType" in err.value.message and err.value.where == "c.yaml"
    with pytest.raises(ConfigError, match="Not an ODCS v3"):
        from_odcs([{"apiVersion": "v2.2.2", "kind": "DataContract", "id": "x"}], where="c.yaml")


def test_rules_meshkit_cannot_evaluate_are_documentation():
    product = from_odcs(read((CONTRACTS / "v3.0.0.odcs.yaml").read_text()), where="c.yaml")
    contract = product.outputPorts[0].contract
    rules = [*contract.quality, *(r for c in contract.schema_ for r in c.quality)]
    assert [(r.label(), r.checked) for r in rules] == [("countCheck", False), ("nullCheck", False)]


def test_ports_of_one_contract_must_share_its_sla(tmp_path):
    doc = read((CONTRACTS / "full-v3.1.0.odcs.yaml").read_text())[0]
    product = from_odcs([doc], where="c.yaml")
    port = product.outputPorts[1]
    edited = port.contract.model_copy(update={"slaProperties": []})
    product = product.model_copy(
        update={"outputPorts": [product.outputPorts[0], port.model_copy(update={"contract": edited})]}
    )
    with pytest.raises(ConfigError, match="different `slaProperties`"):
        odcs_documents(product)


def test_lint_reports_a_misspelt_contract_field(governed):
    text = (governed.workspace.root / "products" / "customers.yaml").read_text()
    product = parse_product(
        text.replace("required: true, primaryKey", "requird: true, required: true, primaryKey"), "p.yaml"
    )
    assert lint(governed, product) == [
        "contract `customers.customers` (ODCS v3.1.0): $.schema[0].properties[0]: "
        "Unevaluated properties are not allowed ('requird' was unexpected)"
    ]


def test_reimport_with_force_replaces_that_contract_and_its_ports(governed, cli):
    root = governed.workspace.root
    doc = read(CUSTOMERS_CONTRACT)[0]
    (root / "c.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli("product", "import", str(root / "c.yaml"), "--name", "customers", "--force").exit_code == 0
    doc["status"], doc["schema"][0]["name"] = "retired", "clients"
    (root / "c.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    assert cli("product", "import", str(root / "c.yaml"), "--name", "customers", "--force").exit_code == 0
    product = load_product(root / "products" / "customers.yaml")
    assert [(p.name, p.contractId) for p in product.outputPorts] == [("clients", "customers-odcs")]
    assert odcs_documents(product) == [doc]
    assert product.inputPorts[0].dataset == "sqlite/crm_customers"


def test_export_keeps_the_key_order_of_the_contract(cli, workspace):
    path = CONTRACTS / "v3.0.0.odcs.yaml"
    original = read(path.read_text())
    exported = round_trip(cli, workspace, path, "ordered")
    assert yaml.safe_dump_all(exported, sort_keys=False) == yaml.safe_dump_all(original, sort_keys=False)
    assert list(original[0])[-3:] == ["schema", "slaDefaultElement", "slaProperties"]


def test_contract_check_covers_formats():
    doc = read((CONTRACTS / "sla-only-v3.0.2.odcs.yaml").read_text())[0]
    doc["team"][0]["dateIn"] = "1 Feb 2024"
    assert contract_problems(doc) == ["$.team[0].dateIn: '1 Feb 2024' is not a 'date'"]
