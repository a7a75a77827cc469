"""The catalog, products and transfers in the browser: the workspace lineage page, clicking through
it to column lineage and dataset pages and back, sources outside the catalog, search, products and
transfers."""

from __future__ import annotations

import pytest
from ui_helpers import SHOTS, sign_in


@pytest.fixture(scope="module")
def browser_page(mesh_server, chromium):
    url, tokens, _ = mesh_server
    page = sign_in(chromium, url, tokens["admin"])
    yield url, page
    page.close()


def test_workspace_lineage_page_clicks_through_to_columns_and_pages(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.goto(f"{url}/ui/catalog/lineage")
    mesh = page.locator("#mesh svg")
    expect(mesh.locator(".lane")).to_have_count(2)  # the team's domain, and the sources
    expect(mesh.locator('.lane[data-domain="sources"]')).to_have_count(1)
    for dataset in ("files/cities.csv", "warehouse/cities", "warehouse/country_population",
                    "warehouse/greetings", "warehouse/greeting_count"):  # fmt: skip
        expect(mesh.locator(f'a .node[data-dataset="{dataset}"]')).to_have_count(1)
    expect(page.locator(".legend")).to_contain_text("published as a product port")
    publish = mesh.locator(
        '.edge.publish[data-source="files/cities.csv"]'
    )  # the product's input port: dashed
    expect(publish).to_have_attribute("data-target", "warehouse/country_population")
    expect(mesh.locator(".edge.flow")).to_have_count(3)
    page.screenshot(path=SHOTS / "catalog-lineage.png", full_page=True)

    page.locator('.node[data-dataset="warehouse/country_population"]').click()
    panel = page.locator("#columns")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("warehouse/country_population")
    expect(panel.locator("tbody")).to_contain_text("warehouse/cities")
    expect(panel.locator("tbody")).to_contain_text("population")
    expect(mesh.locator(".edge.dim").first).to_be_attached()
    page.screenshot(path=SHOTS / "catalog-lineage-columns.png", full_page=True)
    panel.locator("#columns-open").click()
    expect(page.locator("h1")).to_have_text("warehouse/country_population")
    expect(page.locator("table.columns").last).to_contain_text("warehouse/cities")
    page.screenshot(path=SHOTS / "catalog-dataset.png", full_page=True)
    page.go_back()  # node -> dataset page -> back to the lineage
    expect(page.locator("h1")).to_have_text("Lineage of the workspace")
    expect(page.locator('#mesh .node[data-dataset="warehouse/greetings"]')).to_be_visible()

    # every node of a dataset page's drawing is a page too, sources outside the catalog included
    page.goto(f"{url}/ui/catalog/datasets/warehouse/cities")
    profile = page.locator("table.profile")  # `meshkit profile` results
    expect(profile).to_contain_text("population")
    expect(profile).to_contain_text("Lisbon")
    page.screenshot(path=SHOTS / "catalog-dataset-profile.png", full_page=True)
    page.locator('.lineage a:has(.node[data-dataset="files/cities.csv"])').click()
    expect(page.locator("h1")).to_have_text("files/cities.csv")
    expect(page.locator("main")).to_contain_text("A source outside the catalog")
    page.screenshot(path=SHOTS / "catalog-source.png", full_page=True)
    page.go_back()
    expect(page.locator("h1")).to_have_text("warehouse/cities")


def test_every_lineage_node_has_a_page(browser_page):
    url, page = browser_page
    page.goto(f"{url}/ui/catalog/lineage")
    links = page.locator("#mesh svg a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(links) >= 5
    for href in links:
        assert page.goto(f"{url}{href}").status == 200, href


def test_catalog_page_searches_and_is_styled_like_the_rest(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.goto(f"{url}/ui/catalog")
    expect(page.locator("header.topbar nav")).to_contain_text("Lineage")
    page.screenshot(path=SHOTS / "catalog.png", full_page=True)
    page.fill("input[name=q]", "population")
    page.click("form.search button")
    results = page.locator("table.results")
    expect(results).to_contain_text("warehouse/country_population")
    page.screenshot(path=SHOTS / "catalog-search.png", full_page=True)
    results.locator("a", has_text="warehouse/country_population").first.click()
    expect(page.locator("h1")).to_have_text("warehouse/country_population")


def test_product_page_shows_contract_ports_quality_versions_and_consumers(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.goto(f"{url}/ui/catalog")
    page.click("table.products >> text=population")
    expect(page.locator("h1")).to_contain_text("population")
    expect(page.locator("table.ports")).to_contain_text("warehouse/country_population")
    expect(page.locator("table.ports")).to_contain_text("files/cities.csv")
    expect(page.locator("table.contract")).to_contain_text("country")
    expect(page.locator("table.versions")).to_contain_text("1.0.0")
    expect(page.locator("main")).to_contain_text("Quality history")
    expect(page.locator("main")).to_contain_text("Consumers")
    page.screenshot(path=SHOTS / "catalog-product.png", full_page=True)
    page.click("table.ports >> text=warehouse/country_population")
    expect(page.locator("h1")).to_have_text("warehouse/country_population")


def test_transfer_page_shows_its_runs_with_rows_and_duration_charts(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.click("header nav >> text=Transfers")
    expect(page.locator("h1")).to_have_text("Transfers")
    page.screenshot(path=SHOTS / "transfers.png", full_page=True)
    page.get_by_role("link", name="cities", exact=True).click()
    expect(page.locator("h1")).to_have_text("cities")
    expect(page.locator("#rows-chart .bar")).to_have_count(3)  # two applies and the pipeline's load
    expect(page.locator("#duration-chart .bar")).to_have_count(3)
    expect(page.locator("table.history tbody tr")).to_have_count(3)
    expect(page.locator("main")).to_contain_text("files/cities.csv")
    expect(page.locator("main")).to_contain_text("rows/s")
    page.screenshot(path=SHOTS / "transfer.png", full_page=True)
