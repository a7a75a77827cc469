"""Catalog search, show and lineage (CLI, SVG, REST, UI); policy eval and unit tests."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from meshkit.catalog.catalog import Catalog, Edge
from meshkit.catalog.svg import render_svg
from meshkit.core.errors import ConfigError
from meshkit.governance import Subject


def test_search_by_name_column_tag_and_description(governed):
    catalog = Catalog(governed)
    assert {(h.kind, h.name) for h in catalog.search("customers")} == {
        ("dataset", "warehouse/customers"),
        ("product", "customers"),
    }
    assert catalog.search("email")[0].matched == ["column email"]
    assert catalog.search("contact")[0].matched == ["tag email:contact"]
    assert catalog.search("one row per")[0].name == "warehouse/customers"
    assert catalog.search("no-such-thing") == []


def test_lineage_graph_and_svg(governed, cli, tmp_path):
    catalog = Catalog(governed)
    catalog.add_lineage(
        [Edge("warehouse/customers", "warehouse/segments"), Edge("warehouse/segments", "warehouse/mailing")]
    )
    graph = catalog.lineage("warehouse/segments")
    assert graph.upstream() == ["warehouse/customers", "sqlite/crm_customers"]
    assert graph.downstream() == ["warehouse/mailing"]
    svg = ET.fromstring(render_svg(graph, link="/ui/catalog/datasets/{}"))
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert {g.get("data-dataset") for g in svg.iterfind(".//s:g[@data-dataset]", ns)} == set(graph.nodes)
    assert {a.get("href") for a in svg.iterfind(".//s:a", ns)} == {
        f"/ui/catalog/datasets/{n}" for n in graph.nodes
    }
    assert len([p for p in svg.iterfind(".//s:path", ns) if p.get("class", "").startswith("edge")]) == 3
    result = cli("catalog", "lineage", "warehouse/segments", "--svg", str(tmp_path / "l.svg"))
    assert result.exit_code == 0, result.output
    assert "warehouse/mailing" in result.stdout and (tmp_path / "l.svg").read_text().startswith("<svg")
    shown = cli("catalog", "show", "customers")
    assert (
        "email" in shown.stdout and "contact, pii" in shown.stdout and "sqlite/crm_customers" in shown.stdout
    )


def test_rest_endpoints_and_pages(governed):
    httpx = pytest.importorskip("httpx")
    pytest.importorskip("fastapi")
    from meshkit.service.app import create_app
    from meshkit.service.auth import create_token

    app = create_app(governed, worker=False)
    token = create_token(
        app.state.service.engine, name="t", subject="viewer@example.com", roles={"*": "viewer"}
    )[1]

    async def calls():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://mk.test",
                                     headers={"authorization": f"Bearer {token}"}) as client:  # fmt: skip
            return (await client.get("/api/v1/catalog/search", params={"q": "email"}),
                    await client.get("/api/v1/catalog/datasets/warehouse/customers"),
                    await client.get("/api/v1/catalog/lineage/warehouse/customers", params={"format": "svg"}),
                    await client.get("/api/v1/catalog/datasets/nope"),
                    await client.get("/ui/catalog/datasets/warehouse/customers"),
                    await client.get("/ui/catalog", params={"q": "pii"}))  # fmt: skip

    import asyncio

    search, dataset, svg, missing, page, index = asyncio.run(calls())
    assert search.status_code == 200 and search.json()[0]["name"] == "warehouse/customers"
    assert dataset.json()["upstream"] == ["sqlite/crm_customers"] and dataset.json()["product"] == "customers"
    assert svg.headers["content-type"].startswith("image/svg+xml")
    assert missing.status_code == 404
    assert page.status_code == 200 and "<svg" in page.text and "contact, pii" in page.text
    assert index.status_code == 200 and "warehouse/customers" in index.text


def test_policy_unit_tests_and_eval(governed, cli):
    result = cli("policy", "test")
    assert result.exit_code == 0, result.output
    assert "3 passed, 0 failed" in result.stdout
    tests = governed.workspace.root / "policies" / "access_test.rego"
    tests.write_text(tests.read_text().replace('"role": "steward"', '"role": "nobody"'))
    failing = cli("policy", "test")
    assert failing.exit_code == 1 and "FAIL" in failing.stdout and "test_steward_allowed" in failing.stdout
    explained = cli("policy", "eval", "customers", "--role", "marketer", "--purpose", "ads")
    assert explained.exit_code == 0
    assert (
        "DigestColumn" in explained.stdout
        and "RemoveColumn" in explained.stdout
        and "region = 'EU'" in explained.stdout
    )


def test_policy_errors_name_the_file_and_line(governed):
    from meshkit.governance.governor import Governor

    (governed.workspace.root / "policies" / "broken.rego").write_text(
        "package meshkit.access\nimport rego.v1\n\nallow if {\n"
    )
    governor = Governor(governed)
    with pytest.raises(ConfigError) as err:
        governor.engine.interpreter()
    assert err.value.where.startswith("policies/broken.rego:")
    (governed.workspace.root / "policies" / "broken.rego").write_text(
        'package meshkit.access\nimport rego.v1\nactions contains {"type": "Shred", "column": "x"} if true\n'
    )
    with pytest.raises(ConfigError, match="invalid action"):
        governor.decide(Subject("x", "steward"), None, governor.dataset("customers"))


DECISION_TESTS = """\
- name: analysts see pii redacted
  input: &analyst
    subject: {role: analyst}
    purpose: analytics
    columns: [{name: email, tags: [pii]}, {name: region, tags: []}]
  expect:
    allowed: true
    actions: [{type: RedactColumn, column: email}]
- name: marketers see EU rows
  input: {subject: {role: marketer}, columns: [{name: email, tags: [contact]}]}
  expect:
    allowed: true
    includes: [{type: FilterRows, predicate: "region = 'EU'"}, {type: DigestColumn, column: email}]
    excludes: [{type: RedactColumn, column: email}]
- name: interns are denied
  input: {subject: {role: intern}, columns: []}
  expect: {allowed: false, reason: interns may not}
"""


def test_decision_tests_in_yaml(governed, cli):
    cases = governed.workspace.root / "policies" / "access_test.yaml"
    cases.write_text(DECISION_TESTS)
    result = cli("policy", "test")
    assert result.exit_code == 0, result.output
    assert "PASS policies/access_test.yaml::interns are denied" in result.stdout
    assert "6 passed, 0 failed" in result.stdout  # the three Rego test rules too
    assert "1 passed" in cli("policy", "test", "--match", "marketers").stdout

    cases.write_text(DECISION_TESTS.replace("role: intern", "role: analyst").replace("excludes: [{type: RedactColumn", "excludes: [{type: DigestColumn"))  # fmt: skip
    failing = cli("policy", "test", "--match", "e")
    assert failing.exit_code == 1, failing.output
    assert "expected deny, got allow" in failing.stdout
    assert "unexpected DigestColumn(email)" in failing.stdout

    cases.write_text("- name: broken\n  input: {subject: {role: analyst}\n")
    bad = cli("policy", "test")
    assert bad.exit_code == 2 and "policies/access_test.yaml:" in bad.stderr and "Invalid YAML" in bad.stderr
    cases.write_text("- name: typo\n  input: {}\n  expect: {allow: true}\n")
    bad = cli("policy", "test")
    assert bad.exit_code == 2 and "Case 1 (typo): `expect.allow`" in bad.stderr
