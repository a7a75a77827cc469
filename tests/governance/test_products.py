"""Products: lint, contract tests on live data, diff, publish refusing breaking changes, ODCS/ODPS."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyarrow as pa
import pytest
import yaml

from conftest import PRODUCT
from meshkit.core.errors import ConfigError, UserError
from meshkit.products.diff import diff_products, is_widening
from meshkit.products.loader import load_product, parse_product
from meshkit.products.odcs import from_odcs, odcs_documents, to_odcs, to_odps
from meshkit.products.products import publish, verify_product
from meshkit.products.spec import product_json_schema

ROOT = Path(__file__).resolve().parents[2]


def edited(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new)


def test_contract_checks_pass_then_catch_bad_data(governed):
    product = load_product(governed.workspace.root / "products" / "customers.yaml")
    report = verify_product(governed, product)[0]
    assert report.passed, [r for r in report.results if not r.passed]
    bad = pa.table({"id": pa.array([1, 1], pa.int64()), "name": ["a", "b"], "email": ["nope", None],
                    "region": ["EU", "MARS"], "score": [1.0, -2.0]})  # fmt: skip
    governed.store("warehouse").write("customers", bad, mode="overwrite")
    failed = {r.check for r in verify_product(governed, product)[0].results if not r.passed}
    assert failed == {"id.unique", "email.pattern", "email.nullValues mustBe 0", "region.invalidValues mustBe 0",
                      "sql mustBe 0"}  # fmt: skip


def test_freshness_sla(governed):
    text = edited(PRODUCT, "      quality:\n        - {metric: rowCount",
                  "      slaProperties:\n        - {property: freshness, value: 2, unit: h, element: seen_at}\n"
                  "      quality:\n        - {metric: rowCount")  # fmt: skip
    product = parse_product(text, "customers.yaml")
    from datetime import UTC, datetime, timedelta

    for age, ok in ((timedelta(minutes=10), True), (timedelta(days=3), False)):
        table = pa.table(
            {"id": [1], "seen_at": pa.array([datetime.now(UTC) - age], pa.timestamp("us", "UTC"))}
        )
        governed.store("warehouse").write("customers", table, mode="overwrite")
        fresh = next(r for r in verify_product(governed, product)[0].results if r.check == "freshness")
        assert fresh.passed is ok


def test_breaking_change_is_caught_by_diff_and_blocks_publish(governed, cli):
    path = governed.workspace.root / "products" / "customers.yaml"
    path.write_text(edited(edited(PRODUCT, "version: 1.0.0", "version: 1.1.0"),
                           "{name: score, logicalType: number, tags: [sensitive]}", "{name: score, logicalType: string}"))  # fmt: skip
    diff = cli("product", "diff", "customers", "--json")
    assert diff.exit_code == 1
    changes = json.loads(diff.stdout)
    assert {"severity": "breaking", "kind": "column_retyped", "port": "customers", "column": "score",
            "message": "logical type number -> string"} in changes  # fmt: skip
    refused = cli("product", "publish", "customers")
    assert refused.exit_code == 1 and "breaking change" in refused.stderr and "2.0.0" in refused.stderr
    path.write_text(edited(path.read_text(), "version: 1.1.0", "version: 2.0.0"))
    assert cli("product", "publish", "customers").exit_code == 0
    history = cli("product", "history", "customers")
    assert "2.0.0" in history.stdout and "1.0.0" in history.stdout


@pytest.mark.parametrize(("old", "new", "kind", "severity"), [
    ("{name: name, logicalType: string, classification: pii}", "", "column_removed", "breaking"),
    ("{name: name, logicalType: string, classification: pii}", "{name: name, logicalType: string, classification: pii, required: true}",
     "constraint_tightened", "breaking"),
    ("{pattern: \"^[^@]+@[^@]+$\"}", "{pattern: \"^[^@]+@[^@]+$\", maxLength: 50}", "constraint_tightened", "breaking"),
    ("physicalType: BIGINT", "physicalType: INTEGER", "column_retyped", "breaking"),
    ("{name: score, logicalType: number, tags: [sensitive]}",
     "{name: score, logicalType: number, tags: [sensitive]}\n        - {name: note, logicalType: string}", "column_added", "compatible"),
])  # fmt: skip
def test_diff_classifies_changes(old, new, kind, severity):
    before = parse_product(PRODUCT, "v1")
    text = (
        PRODUCT.replace(f"        - {old}\n", f"        - {new}\n" if new else "")
        if old.startswith("{name")
        else PRODUCT.replace(old, new)
    )
    after = parse_product(text, "v2")
    assert (kind, severity) in {(c.kind, c.severity) for c in diff_products(before, after)}


def test_widening_types():
    assert (
        is_widening("INT", "BIGINT")
        and is_widening("VARCHAR(10)", "VARCHAR(20)")
        and is_widening("VARCHAR(5)", "TEXT")
    )
    assert not is_widening("BIGINT", "INT") and not is_widening("VARCHAR(20)", "VARCHAR(10)")


def test_odcs_export_validates_and_round_trips(specs_dir):
    product = parse_product(PRODUCT, "customers.yaml")
    odcs_schema = json.loads((specs_dir / "odcs" / "odcs-json-schema-v3.1.0.json").read_text())
    odps_schema = json.loads((specs_dir / "odps" / "odps-json-schema-v1.0.0.json").read_text())
    contract = to_odcs(product, product.outputPorts[0])
    jsonschema.validate(yaml.safe_load(yaml.safe_dump(contract)), odcs_schema)
    jsonschema.validate(to_odps(product), odps_schema)
    back = from_odcs([contract], where="contract.yaml")
    assert odcs_documents(back) == [contract]
    port, original = back.outputPorts[0], product.outputPorts[0]
    assert (port.name, port.dataset, port.contract.schema_, port.contract.quality) == (
        original.name, original.dataset, original.contract.schema_, original.contract.quality
    )  # fmt: skip
    assert (back.name, back.version, back.domain, back.owner) == (
        "customers",
        "1.0.0",
        "sales",
        "alice@example.com",
    )


def test_import_and_export_commands(governed, cli, specs_dir, tmp_path):
    exported = cli("product", "export", "customers", "--format", "odcs", "-o", str(tmp_path / "c.yaml"))
    assert exported.exit_code == 0
    contract = yaml.safe_load((tmp_path / "c.yaml").read_text())
    contract["id"], contract["customProperties"] = "orders-contract", []
    contract["schema"][0]["name"] = "orders"
    (tmp_path / "orders.yaml").write_text(yaml.safe_dump(contract))
    imported = cli("product", "import", str(tmp_path / "orders.yaml"), "--name", "orders")
    assert imported.exit_code == 0, imported.output
    product = load_product(governed.workspace.root / "products" / "orders.yaml")
    assert product.outputPorts[0].dataset == "warehouse/customers"
    assert product.outputPorts[0].contract.column("email").classification == "pii"


def test_descriptor_errors_name_file_field_and_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        parse_product(PRODUCT.replace("logicalType: integer", "logicalType: int"), "products/customers.yaml")
    assert err.value.where == "products/customers.yaml:18"
    assert "outputPorts.0.contract.schema.0.logicalType" in err.value.message
    with pytest.raises(ConfigError, match="semantic"):
        parse_product(PRODUCT.replace("version: 1.0.0", "version: one"), "p.yaml")


def test_published_json_schema_is_current():
    published = json.loads((ROOT / "docs" / "schemas" / "product.schema.json").read_text())
    assert published == product_json_schema()
    jsonschema.validate(yaml.safe_load(PRODUCT), published)


def test_publish_same_version_with_other_content_is_refused(governed):
    product = parse_product(PRODUCT.replace("Customer master data.", "Changed."), "p.yaml")
    with pytest.raises(UserError, match="not above|already published"):
        publish(governed, product)
