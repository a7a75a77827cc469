"""Fixtures of the browser tests: Debian's Chromium driven by Playwright, the mesh workspace and its
control service, and the check that each test opened the UI routes ``ui_pages.PAGES`` gives it."""

from __future__ import annotations

import pytest
from ui_helpers import ARGS, CHROMIUM, CURRENT, SHOTS, VISITED, serve
from ui_pages import PAGES


@pytest.fixture(autouse=True)
def covered_routes(request):
    """Fail a test that did not open the routes ``PAGES`` assigns to it."""
    name = request.node.originalname
    CURRENT["test"] = name
    yield
    CURRENT["test"] = None
    claimed = {route for route, test in PAGES.items() if test == name}
    missing = claimed - VISITED[name]
    if missing:
        pytest.fail(f"{name} is the browser test of {sorted(missing)} but did not open them")


@pytest.fixture(scope="module")
def chromium():
    """A headless Chromium (Debian's), one per test module."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def mesh_workspace(tmp_path_factory):
    """The `meshkit init` workspace after its job, its transfer (twice), a build, a product publish,
    a profile and a run of its pipeline."""
    from meshkit.testing import run_cli

    root = tmp_path_factory.mktemp("mesh") / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0
    (root / "models" / "greeting_count.sql").write_text("select count(*) as greetings from greetings\n")
    product = root / "products" / "population.yaml"
    product.write_text(
        product.read_text() + "inputPorts:\n  - {name: cities-file, dataset: files/cities.csv}\n"
    )
    cities = str(root / "transfers" / "cities.yaml")
    for args in (["run", "greetings"], ["transfer", "apply", cities], ["transfer", "apply", cities], ["build"],
                 ["product", "publish", "population"], ["profile", "warehouse/cities"],
                 ["pipeline", "run", "cities"]):  # fmt: skip
        result = run_cli(args, workspace=root)
        assert result.exit_code == 0, (args, result.output)
    return root


@pytest.fixture(scope="session")
def mesh_server(mesh_workspace):
    """The control service of the mesh workspace: ``(url, tokens, app)``."""
    from meshkit.testing import plugin_workspace

    mk = plugin_workspace(mesh_workspace)
    with serve(mk) as served:
        yield served
    mk.close()
