"""The web UI in headless Chromium: log in, deploy a job, start it, watch it run live, read its log;
the API documentation pages, which must load nothing from outside the server.

Screenshots of each page are saved under build/screenshots/ to look at; the documentation's copies in
docs/images/ are refreshed from there by hand.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from service_helpers import HELLO, TEAM, deploy, make_tokens, stop_service, wait_status, zip_bytes

from meshkit.service.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def job_files(gate: Path) -> dict[str, str]:
    """A job whose last step waits until ``gate`` exists, so the test sees it running."""
    return {"10_extract.py": """
        import logging

        def run(job_input):
            log = logging.getLogger("orders")
            for region in ("north", "south", "east", "west"):
                log.info("extracted orders of region %s", region)
        """, "20_load.sql": "CREATE TABLE IF NOT EXISTS orders_daily AS SELECT 1 AS id", "30_publish.py": f"""
        import time
        from pathlib import Path

        def run(job_input):
            while not Path({str(gate)!r}).exists():
                time.sleep(0.1)
        """, "config.ini": "[owner]\nteam = sales\n"}  # fmt: skip


@pytest.fixture
def live_server(mk):
    import uvicorn

    app = create_app(mk)
    app.state.service.tick_seconds = 0.1
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


def needs_chromium():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")


def test_browser_login_deploy_start_and_watch_live(live_server, tmp_path):
    needs_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, tokens = live_server
    gate = tmp_path / "publish-now"
    archive = tmp_path / "orders_daily.zip"
    archive.write_bytes(zip_bytes(job_files(gate)))
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        page.goto(f"{url}/ui/jobs")
        expect(page).to_have_url(f"{url}/ui/login?next=/ui/jobs")
        page.fill("#token", "mk_not-a-token")
        page.click("button[type=submit]")
        expect(page.locator(".alert")).to_contain_text("unknown or revoked")
        page.fill("#token", tokens["admin"])
        expect(page.locator("main")).to_contain_text(
            ".meshkit/service/admin-token"
        )  # where the first token is
        page.screenshot(path=IMAGES / "service-login.png")
        page.click("button[type=submit]")
        expect(page.locator("h1")).to_have_text("Data jobs")

        page.fill("input[name=team]", "sales")
        page.fill("input[name=job]", "orders-daily")
        page.fill("input[name=schedule]", "0 6 * * *")
        page.set_input_files("input[name=file]", str(archive))
        page.click("form[action='/ui/deploy'] button")
        expect(page.locator("h1")).to_have_text("orders-daily")
        expect(page.locator("table").first).to_contain_text("0 6 * * *")
        expect(page.locator("table").first).to_contain_text("At 06:00")  # the schedule in words

        page.click("text=Start")
        page.evaluate("window.notReloaded = true")  # a reload would drop it
        steps = page.locator("#live table tbody")
        expect(page.locator("#status")).to_contain_text("running", timeout=60_000)
        expect(steps).to_contain_text("20_load.sql", timeout=30_000)
        expect(steps.locator("tr").first).to_contain_text("succeeded")
        expect(page.locator("#log")).to_contain_text("extracted orders of region west")
        expect(page.locator("#log-live")).to_be_visible()
        page.screenshot(path=IMAGES / "service-execution-running.png", full_page=True)
        gate.touch()
        expect(page.locator("#status")).to_contain_text("succeeded", timeout=60_000)
        expect(steps.locator("tr")).to_have_count(3)
        expect(steps.locator("tr").last).to_contain_text("30_publish.py")
        expect(page.locator("#log-live")).to_have_count(0)
        expect(page.locator("form[action$='/cancel']")).to_have_count(0)
        assert page.evaluate("window.notReloaded") is True
        page.screenshot(path=IMAGES / "service-execution.png", full_page=True)

        page.click("text=orders-daily")
        expect(page.locator(".chart .bar")).to_have_count(1)
        page.screenshot(path=IMAGES / "service-job.png", full_page=True)
        page.click("text=Jobs")
        expect(page.locator("tbody")).to_contain_text("succeeded")
        page.screenshot(path=IMAGES / "service-jobs.png")
        browser.close()


def test_ui_root_and_api_docs_work_offline(live_server):
    """/ui opens the UI; /docs and /redoc render every operation with nothing fetched from elsewhere."""
    needs_chromium()
    from playwright.sync_api import expect, sync_playwright

    url, _ = live_server
    IMAGES.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 800})
        requested, failed = [], {}
        page.on("request", lambda request: requested.append(request.url))
        page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
        for path in ("/ui", "/ui/"):
            page.goto(url + path)
            expect(page).to_have_url(f"{url}/ui/login?next=/ui/jobs")

        page.goto(f"{url}/docs")
        expect(page.locator(".swagger-ui .info .title")).to_contain_text("meshkit control service")
        operation = page.locator(
            ".opblock-summary-path", has_text="/api/v1/teams/{team}/jobs/{job}/executions"
        )
        expect(operation.first).to_be_visible()
        page.screenshot(path=IMAGES / "service-docs.png")

        page.goto(f"{url}/redoc")
        expect(page.locator("h1")).to_contain_text("meshkit control service")
        expect(page.locator("[data-section-id^='operation/']").first).to_be_attached()
        expect(page.locator("body")).to_contain_text("/api/v1/teams/{team}/jobs/{job}/executions")
        page.screenshot(path=IMAGES / "service-redoc.png")
        browser.close()
    assert any(u.endswith("/docs/static/swagger-ui-bundle.js") for u in requested)
    assert any(u.endswith("/docs/static/redoc.standalone.js") for u in requested)
    # ReDoc's logo is the one outside address; the pages' Content-Security-Policy stops it in the browser
    local = (f"{url}/", f"blob:{url}/", "data:")
    sent_elsewhere = [u for u in requested if not u.startswith(local) and failed.get(u) != "csp"]
    assert sent_elsewhere == []


@pytest.mark.anyio
async def test_execution_live_fragment_is_for_the_team_only(api):
    await deploy(api, "hello", HELLO)
    started = (await api.post(f"/api/v1/teams/{TEAM}/jobs/hello/executions", json={})).json()
    await wait_status(api, "hello", started["id"], {"succeeded"})
    path = f"/ui/teams/{TEAM}/jobs/hello/executions/{started['id']}/live"
    fragment = await api.get(path, headers=api.tokens.headers("viewer"))
    assert fragment.status_code == 200 and fragment.text.lstrip().startswith('<div id="live"')
    assert 'data-final="true"' in fragment.text and "10_hello.py" in fragment.text
    assert (await api.get(path, headers=api.tokens.headers("outsider"))).status_code == 403


@pytest.mark.anyio
async def test_docs_pages_may_load_only_from_the_server(api):
    for path in ("/docs", "/redoc"):
        page = await api.get(path)
        assert page.status_code == 200 and "/docs/static/" in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "content-security-policy" not in (await api.get("/openapi.json")).headers
