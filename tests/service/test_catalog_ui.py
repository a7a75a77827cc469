"""The catalog in headless Chromium: the workspace lineage page, clicking through it to column lineage
and dataset pages, and pages for sources outside the catalog. Screenshots go to build/screenshots/."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from service_helpers import make_tokens, stop_service
from test_service_ui import ARGS, CHROMIUM, IMAGES, needs_chromium

from meshkit.testing import plugin_workspace, run_cli


@pytest.fixture(scope="module")
def mesh_workspace(tmp_path_factory):
    """The `meshkit init` workspace after its job, its transfer, a build and a product publish."""
    root = tmp_path_factory.mktemp("mesh") / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0
    (root / "models" / "greeting_count.sql").write_text("select count(*) as greetings from greetings\n")
    product = root / "products" / "population.yaml"
    product.write_text(
        product.read_text() + "inputPorts:\n  - {name: cities-file, dataset: files/cities.csv}\n"
    )
    cities = str(root / "transfers" / "cities.yaml")
    for args in (["run", "greetings"], ["transfer", "apply", cities], ["transfer", "apply", cities], ["build"],
                 ["product", "publish", "population"], ["profile", "warehouse/cities"]):  # fmt: skip
        result = run_cli(args, workspace=root)
        assert result.exit_code == 0, (args, result.output)
    return root


@pytest.fixture(scope="module")
def catalog_server(mesh_workspace):
    import uvicorn

    from meshkit.service.app import create_app

    mk = plugin_workspace(mesh_workspace)
    app = create_app(mk)
    tokens = make_tokens(app.state.service.engine)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", tokens
    server.should_exit = True
    thread.join(timeout=10)
    stop_service(app.state.service)
    mk.close()


@pytest.fixture(scope="module")
def browser_page(catalog_server):
    needs_chromium()
    from playwright.sync_api import sync_playwright

    url, tokens = catalog_server
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 860})
        page.goto(f"{url}/ui/login")
        page.fill("#token", tokens["admin"])
        page.click("button[type=submit]")
        yield url, page
        browser.close()


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
    page.screenshot(path=IMAGES / "catalog-lineage.png", full_page=True)

    page.locator('.node[data-dataset="warehouse/country_population"]').click()
    panel = page.locator("#columns")
    expect(panel).to_be_visible()
    expect(panel.locator("h2")).to_have_text("warehouse/country_population")
    expect(panel.locator("tbody")).to_contain_text("warehouse/cities")
    expect(panel.locator("tbody")).to_contain_text("population")
    expect(mesh.locator(".edge.dim").first).to_be_attached()
    page.screenshot(path=IMAGES / "catalog-lineage-columns.png", full_page=True)
    panel.locator("#columns-open").click()
    expect(page.locator("h1")).to_have_text("warehouse/country_population")
    expect(page.locator("table.columns").last).to_contain_text("warehouse/cities")
    page.screenshot(path=IMAGES / "catalog-dataset.png", full_page=True)

    # every node of a dataset page's drawing is a page too, sources outside the catalog included
    page.goto(f"{url}/ui/catalog/datasets/warehouse/cities")
    profile = page.locator("table.profile")  # `meshkit profile` results
    expect(profile).to_contain_text("population")
    expect(profile).to_contain_text("Lisbon")
    page.screenshot(path=IMAGES / "catalog-dataset-profile.png", full_page=True)
    page.locator('.lineage a:has(.node[data-dataset="files/cities.csv"])').click()
    expect(page.locator("h1")).to_have_text("files/cities.csv")
    expect(page.locator("main")).to_contain_text("A source outside the catalog")
    page.screenshot(path=IMAGES / "catalog-source.png", full_page=True)


def test_every_lineage_node_has_a_page(browser_page):
    url, page = browser_page
    page.goto(f"{url}/ui/catalog/lineage")
    links = page.locator("#mesh svg a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert len(links) >= 5
    for href in links:
        assert page.goto(f"{url}{href}").status == 200, href


def test_the_catalog_page_is_styled_like_the_rest(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.goto(f"{url}/ui/catalog")
    expect(page.locator("header.topbar nav")).to_contain_text("Lineage")
    page.screenshot(path=IMAGES / "catalog.png", full_page=True)


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
    page.screenshot(path=IMAGES / "catalog-product.png", full_page=True)
    page.click("table.ports >> text=warehouse/country_population")
    expect(page.locator("h1")).to_have_text("warehouse/country_population")


def test_transfer_page_shows_its_runs_with_rows_and_duration_charts(browser_page):
    from playwright.sync_api import expect

    url, page = browser_page
    page.goto(f"{url}/ui/transfers")
    page.click("text=cities")
    expect(page.locator("h1")).to_have_text("cities")
    expect(page.locator("#rows-chart .bar")).to_have_count(2)
    expect(page.locator("#duration-chart .bar")).to_have_count(2)
    expect(page.locator("table.history tbody tr")).to_have_count(2)
    expect(page.locator("main")).to_contain_text("files/cities.csv")
    expect(page.locator("main")).to_contain_text("rows/s")
    page.screenshot(path=IMAGES / "transfer.png", full_page=True)
