"""A governed workspace: customers with PII columns, a product tagging them, policies, purposes, subjects."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from meshkit.products.loader import load_product
from meshkit.products.products import publish

CUSTOMERS = pa.table({
    "id": pa.array([1, 2, 3, 4], pa.int64()),
    "name": ["Ann Lee", "Bob Ray", "Cy Doe", "Di Fox"],
    "email": ["ann@example.com", "bob@example.com", "cy@example.com", "di@example.com"],
    "region": ["EU", "US", "EU", "US"],
    "score": [1.5, 2.5, 3.5, 4.5],
})  # fmt: skip
CLEAR = {
    "Ann Lee",
    "Bob Ray",
    "Cy Doe",
    "Di Fox",
    "ann@example.com",
    "bob@example.com",
    "cy@example.com",
    "di@example.com",
}

PRODUCT = """\
name: customers
version: 1.0.0
status: active
domain: sales
owner: alice@example.com
team: crm
description: Customer master data.
residency: eu
inputPorts:
  - name: crm
    dataset: sqlite/crm_customers
outputPorts:
  - name: customers
    dataset: warehouse/customers
    description: One row per customer.
    contract:
      schema:
        - {name: id, logicalType: integer, physicalType: BIGINT, required: true, primaryKey: true}
        - {name: name, logicalType: string, classification: pii}
        - name: email
          logicalType: string
          classification: pii
          tags: [contact]
          logicalTypeOptions: {pattern: "^[^@]+@[^@]+$"}
          quality:
            - {metric: nullValues, mustBe: 0}
        - name: region
          logicalType: string
          quality:
            - {metric: invalidValues, arguments: {validValues: [EU, US]}, mustBe: 0}
        - {name: score, logicalType: number, tags: [sensitive]}
      quality:
        - {metric: rowCount, mustBeGreaterThan: 0}
        - {type: sql, query: "SELECT count(*) FROM ${table} WHERE score < 0", mustBe: 0}
"""

POLICY = """\
package meshkit.access
import rego.v1

# Stewards see everything; analysts see masked PII; marketers see EU rows with digested contacts.
allow if {
  some role in ["steward", "analyst", "marketer"]
  role == input.subject.role
}

deny contains "interns may not read customer data" if input.subject.role == "intern"

actions contains {"type": "RedactColumn", "column": c.name} if {
  input.subject.role == "analyst"
  some c in input.columns
  c.tags[_] == "pii"
}

actions contains {"type": "DigestColumn", "column": c.name} if {
  input.subject.role == "marketer"
  some c in input.columns
  c.tags[_] == "contact"
}

actions contains {"type": "RemoveColumn", "column": c.name} if {
  input.subject.role == "marketer"
  some c in input.columns
  c.name == "name"
}

actions contains {"type": "FilterRows", "predicate": "region = 'EU'"} if input.subject.role == "marketer"
"""

POLICY_TESTS = """\
package meshkit.access_test
import rego.v1

# NOTE: under `with ... as`, regopy needs literal values and `some x in`, not the `in` operator.
test_steward_allowed if {
  data.meshkit.access.allow with input as {"subject": {"role": "steward"}, "columns": []}
}

test_intern_denied if {
  count(data.meshkit.access.deny) > 0 with input as {"subject": {"role": "intern"}, "columns": []}
}

test_analyst_redacts_pii if {
  acts := data.meshkit.access.actions with input as {"subject": {"role": "analyst"}, "columns": [{"name": "email", "tags": ["pii"]}]}
  acts[_] == {"type": "RedactColumn", "column": "email"}
}
"""

# Every role reads for analytics (the default), marketers for ads too; the policies above decide per role.
PURPOSES = """\
{"purposes": {"analytics": {"roles": ["steward", "analyst", "marketer", "intern"], "default": true},
              "ads": {"roles": ["marketer"]}}}
"""

SUBJECTS = """
[governance.subjects.sam]
role = "steward"
team = "crm"
token = "env:MK_TEST_SAM_TOKEN"

[governance.subjects.ann]
role = "analyst"
team = "bi"
token = "env:MK_TEST_ANN_TOKEN"

[governance.subjects.mo]
role = "marketer"
team = "growth"
token = "env:MK_TEST_MO_TOKEN"

[governance.subjects.ian]
role = "intern"
token = "env:MK_TEST_IAN_TOKEN"
"""
TOKENS = {"sam": "sam-token-0001", "ann": "ann-token-0002", "mo": "mo-token-0003", "ian": "ian-token-0004"}


def make_governed(root):
    """A ``Meshkit`` on the workspace at ``root`` with the customers product published and the policies above."""
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace

    with (root / "meshkit.toml").open("a") as toml:
        toml.write(SUBJECTS)
    (root / "products").mkdir()
    (root / "products" / "customers.yaml").write_text(PRODUCT)
    (root / "policies").mkdir()
    (root / "policies" / "access.rego").write_text(POLICY)
    (root / "policies" / "access_test.rego").write_text(POLICY_TESTS)
    (root / "policies" / "purposes.json").write_text(PURPOSES)
    mk = Meshkit(Workspace.load(root))
    mk.store("warehouse").write("customers", CUSTOMERS, mode="overwrite")
    publish(mk, load_product(root / "products" / "customers.yaml"))
    return mk


@pytest.fixture
def governed(workspace, monkeypatch):
    """A fresh governed workspace (for tests that change it)."""
    for name, token in TOKENS.items():
        monkeypatch.setenv(f"MK_TEST_{name.upper()}_TOKEN", token)
    mk = make_governed(workspace.root)
    yield mk
    mk.close()


@pytest.fixture
def server(governed):
    """A Flight server over ``governed``, its address."""
    from meshkit.governance.flight import GovernedFlightServer

    srv = GovernedFlightServer(governed)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    yield f"grpc://127.0.0.1:{srv.port}"
    srv.shutdown()
    thread.join(5)


@pytest.fixture(scope="module")
def shared_governed(tmp_path_factory):
    """One governed workspace per module, for tests that only read."""
    from meshkit.core.workspace import init_workspace

    with pytest.MonkeyPatch.context() as patch:
        for name, token in TOKENS.items():
            patch.setenv(f"MK_TEST_{name.upper()}_TOKEN", token)
        mk = make_governed(init_workspace(tmp_path_factory.mktemp("governed") / "ws").root)
        yield mk
        mk.close()
