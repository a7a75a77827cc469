"""Classification follows the data: tags propagate along lineage to what jobs, transfers and models derive."""

from __future__ import annotations

import asyncio
import threading

import pytest
from derived_helpers import make_derived

from conftest import CLEAR, TOKENS
from meshkit.catalog.catalog import Catalog
from meshkit.core.errors import UserError
from meshkit.governance import Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.flight import GovernedFlightServer, fetch
from meshkit.governance.query import GovernedSQL
from meshkit.governance.transfers import transforms_for_purpose
from meshkit.products.loader import load_product
from meshkit.products.products import publish
from meshkit.testing import run_cli

ANALYST, MARKETER = Subject("ann", "analyst", "bi"), Subject("mo", "marketer", "growth")
STEWARD = Subject("sam", "steward", "crm")
EMAIL_PII = {"tag": "pii", "source": "warehouse/customers.email", "via": "transfer copy-customers"}


@pytest.fixture(scope="module")
def derived(shared_governed):
    make_derived(shared_governed)
    return shared_governed


@pytest.fixture
def fresh(governed):
    make_derived(governed)
    return governed


def read(mk, sql: str, subject: Subject) -> list[dict]:
    return sorted(GovernedSQL(mk).execute(sql, subject, "analytics").to_pylist(), key=lambda r: r["id"])


def test_tags_follow_column_lineage_with_their_origin(derived):
    catalog = Catalog(derived)
    transferred = catalog.get("warehouse/customers_by_transfer")
    assert transferred.classified
    assert EMAIL_PII in transferred.column("contact_email").inherited  # renamed by the transfer, tags follow
    assert transferred.column("region").all_tags == [] and transferred.column("score").all_tags == [
        "sensitive"
    ]
    modelled = catalog.get("warehouse/customer_contacts")
    assert set(modelled.column("email").all_tags) == {"pii", "contact"}
    assert modelled.column("id").all_tags == [] and modelled.column("name").all_tags == ["pii"]
    computed = catalog.get("warehouse/email_facts")
    assert "pii" in computed.column("domain").all_tags and "pii" in computed.column("email_length").all_tags
    assert computed.column("area").all_tags == []
    two_hops = catalog.get("warehouse/transferred_contacts").column("contact_email")
    assert {"tag": "pii", "source": "warehouse/customers.email", "via": "build ws"} in two_hops.inherited
    assert all(c.classified_by == "lineage" for c in modelled.columns + transferred.columns)


def test_a_job_without_column_lineage_passes_every_input_tag_to_every_column(derived):
    by_job = Catalog(derived).get("warehouse/customers_by_job")
    assert by_job.classified and by_job.owner == "crm"
    for column in by_job.columns:
        assert {"pii", "contact", "sensitive"} <= set(column.all_tags), column.name
    assert {t["via"] for t in by_job.column("region").inherited} == {"job copy_customers"}


@pytest.mark.parametrize(
    ("derived_sql", "columns"),
    [
        ("SELECT * FROM customers_by_transfer", {"id": "id", "name": "name", "contact_email": "email", "region": "region", "score": "score"}),
        ("SELECT * FROM customer_contacts", {"id": "id", "name": "name", "email": "email", "region": "region"}),
        ("SELECT * FROM transferred_contacts", {"id": "id", "contact_email": "email", "score": "score"}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("subject", [ANALYST, MARKETER, STEWARD], ids=lambda s: s.role)
def test_derived_columns_are_masked_exactly_as_on_the_source(derived, derived_sql, columns, subject):
    """What a reader sees of a derived dataset is what they see of the source's columns it copies."""
    source = GovernedSQL(derived).execute("SELECT * FROM customers", subject, "analytics").to_pylist()
    expected = [{new: row[old] for new, old in columns.items() if old in row} for row in source]
    if subject is MARKETER and "region" not in columns:  # the marketer's row filter needs `region`
        with pytest.raises(UserError, match="region"):
            GovernedSQL(derived).execute(derived_sql, subject, "analytics")
        return
    seen = GovernedSQL(derived).execute(derived_sql, subject, "analytics").to_pylist()
    assert sorted(seen, key=lambda r: r["id"]) == sorted(expected, key=lambda r: r["id"])
    if subject is not STEWARD:
        assert not any(clear in repr(seen) for clear in CLEAR)


def test_a_model_view_is_governed_by_its_own_inherited_tags_and_by_its_tables(derived):
    """A view's masks apply over those of the tables under it: redaction reads the same, a digest is digested again."""
    assert read(derived, "SELECT * FROM contact_view", ANALYST) == read(
        derived, "SELECT id, email, region FROM customers", ANALYST
    )
    marketer = read(derived, "SELECT * FROM contact_view", MARKETER)
    assert [r["id"] for r in marketer] == [1, 3] and all(len(r["email"]) == 64 for r in marketer)
    assert not any(clear in repr(marketer) for clear in CLEAR)


def test_a_job_output_is_masked_at_least_as_the_source(derived):
    rows = read(derived, "SELECT * FROM customers_by_job", ANALYST)
    assert [r["id"] for r in rows] == ["***"] * 4 and {r["email"] for r in rows} == {"***"}
    assert read(derived, "SELECT * FROM customers_by_job", STEWARD)[0]["email"] == "ann@example.com"


def test_unclassified_dataset_is_read_by_its_owner_or_by_policy_grant_only(fresh):
    sql = "SELECT email FROM crm_raw_copy"
    assert not Catalog(fresh).get("warehouse/crm_raw_copy").classified
    assert {r["email"] for r in GovernedSQL(fresh).execute(sql, ANALYST, "analytics").to_pylist()} >= {
        "ann@example.com"
    }  # the bi team's job wrote it from a source nobody classified: bi reads it
    for subject in (STEWARD, MARKETER, Subject("al", "analyst", "growth"), Subject("al", "analyst")):
        with pytest.raises(AccessDeniedError, match="classification of `warehouse/crm_raw_copy` is unknown"):
            GovernedSQL(fresh).execute(sql, subject, "analytics")
    with pytest.raises(
        AccessDeniedError, match="crm_raw_copy"
    ):  # one unclassified dataset in a join is enough
        GovernedSQL(fresh).execute(
            "SELECT c.id FROM customers c JOIN crm_raw_copy r ON c.id = r.id", STEWARD, "analytics"
        )
    grant = (
        'package meshkit.access\nimport rego.v1\n\nallow_unclassified if input.subject.role == "steward"\n'
    )
    (fresh.workspace.root / "policies" / "unclassified.rego").write_text(grant)
    assert len(GovernedSQL(fresh).execute(sql, STEWARD, "analytics")) == 4
    with pytest.raises(AccessDeniedError, match="classification"):
        GovernedSQL(fresh).execute(sql, MARKETER, "analytics")


def test_republishing_the_source_recomputes_every_derived_dataset(fresh):
    path = fresh.workspace.root / "products" / "customers.yaml"
    text = path.read_text().replace("version: 1.0.0", "version: 1.1.0")
    path.write_text(text.replace("- name: region\n", "- name: region\n          tags: [location]\n"))
    publish(fresh, load_product(path))
    catalog = Catalog(fresh)
    assert "location" in catalog.get("warehouse/customers_by_transfer").column("region").all_tags
    assert "location" in catalog.get("warehouse/customer_contacts").column("region").all_tags
    assert "location" in catalog.get("warehouse/customers_by_job").column("id").all_tags


def test_a_reader_sees_new_tags_at_once_despite_the_decision_cache(fresh):
    governed = GovernedSQL(fresh)
    assert {
        r["region"]
        for r in governed.execute(
            "SELECT region FROM customers_by_transfer", ANALYST, "analytics"
        ).to_pylist()
    } == {"EU", "US"}
    path = fresh.workspace.root / "products" / "customers.yaml"
    text = path.read_text().replace("version: 1.0.0", "version: 1.1.0")
    path.write_text(text.replace("- name: region\n", "- name: region\n          classification: pii\n"))
    publish(fresh, load_product(path))
    assert {
        r["region"]
        for r in governed.execute(
            "SELECT region FROM customers_by_transfer", ANALYST, "analytics"
        ).to_pylist()
    } == {"***"}


def test_catalog_cli_and_pages_show_inherited_tags_with_their_origin(derived):
    root = derived.workspace.root
    shown = run_cli(["catalog", "show", "customers_by_transfer"], workspace=root)
    assert shown.exit_code == 0, shown.output
    assert "contact_email: pii (from warehouse/customers.email via transfer copy-customers)" in shown.stdout
    assert "classification: known" in shown.stdout
    unknown = run_cli(["catalog", "show", "crm_raw_copy"], workspace=root)
    assert "classification: unknown (columns id, name, email, region, score)" in unknown.stdout
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from meshkit.service.app import create_app
    from meshkit.service.auth import create_token

    app = create_app(derived, worker=False)
    token = create_token(app.state.service.engine, name="t", subject="v@example.com", roles={"*": "viewer"})[
        1
    ]

    async def get(*paths):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mk.test",
                                     headers={"authorization": f"Bearer {token}"}) as client:  # fmt: skip
            return [await client.get(p) for p in paths]

    page, api = asyncio.run(get("/ui/catalog/datasets/warehouse/customers_by_transfer",
                                "/api/v1/catalog/datasets/warehouse/crm_raw_copy"))  # fmt: skip
    assert page.status_code == 200
    assert "pii (from warehouse/customers.email via transfer copy-customers)" in page.text
    assert api.json()["classified"] is False


CONTACTS_PRODUCT = """\
name: contacts
version: 1.0.0
status: active
domain: sales
owner: bi
description: Contacts copied from the customers; the contract forgets their classification.
outputPorts:
  - name: contacts
    dataset: warehouse/customers_by_transfer
    contract:
      schema:
        - {name: id, logicalType: integer}
        - {name: name, logicalType: string}
        - {name: contact_email, logicalType: string}
        - {name: region, logicalType: string}
        - {name: score, logicalType: number}
"""


def test_a_port_whose_contract_forgets_the_tags_is_served_masked_over_flight(fresh):
    path = fresh.workspace.root / "products" / "contacts.yaml"
    path.write_text(CONTACTS_PRODUCT)
    publish(fresh, load_product(path))
    assert "pii" in Catalog(fresh).get("warehouse/customers_by_transfer").column("contact_email").all_tags
    srv = GovernedFlightServer(fresh)
    thread = threading.Thread(target=srv.serve, daemon=True)
    thread.start()
    try:
        rows = fetch(
            f"grpc://127.0.0.1:{srv.port}", TOKENS["ann"], "warehouse/customers_by_transfer", "analytics"
        )
    finally:
        srv.shutdown()
        thread.join(5)
    assert {r["contact_email"] for r in rows.to_pylist()} == {"***"}
    assert not any(clear in repr(rows.to_pylist()) for clear in CLEAR)


def test_transfers_for_a_purpose_apply_the_same_classification(derived):
    masks = transforms_for_purpose(derived, "warehouse/customers_by_transfer", "analytics", ANALYST)
    assert {c for t in masks for c in t.columns} >= {"name", "contact_email"}
    with pytest.raises(AccessDeniedError, match="classification"):
        transforms_for_purpose(derived, "warehouse/crm_raw_copy", "analytics", STEWARD)
