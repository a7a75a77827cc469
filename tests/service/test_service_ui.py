"""The web UI in headless Chromium: log in, deploy a job, start it, watch it succeed, read its log.

Screenshots of each page are saved under build/screenshots/ to look at; the documentation's copies in
docs/images/ are refreshed from there by hand.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
from service_helpers import make_tokens, stop_service, zip_bytes

from meshkit.service.app import create_app

CHROMIUM = Path("/usr/bin/chromium")
IMAGES = Path(__file__).resolve().parents[2] / "build" / "screenshots"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
JOB = {"10_extract.py": """
    import logging

    def run(job_input):
        log = logging.getLogger("orders")
        for region in ("north", "south", "east", "west"):
            log.info("extracted orders of region %s", region)
    """, "20_load.sql": "CREATE TABLE IF NOT EXISTS orders_daily AS SELECT 1 AS id", "config.ini": "[owner]\nteam = sales\n"}  # fmt: skip


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


def test_browser_login_deploy_start_and_logs(live_server, tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import expect, sync_playwright

    url, tokens = live_server
    archive = tmp_path / "orders_daily.zip"
    archive.write_bytes(zip_bytes(JOB))
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

        page.click("text=Start")
        expect(page.locator("#status")).to_contain_text("succeeded", timeout=60_000)
        expect(page.locator("#log")).to_contain_text("extracted orders of region west")
        page.screenshot(path=IMAGES / "service-execution.png", full_page=True)

        page.click("text=orders-daily")
        expect(page.locator(".chart .bar")).to_have_count(1)
        page.screenshot(path=IMAGES / "service-job.png", full_page=True)
        page.click("text=Jobs")
        expect(page.locator("tbody")).to_contain_text("succeeded")
        page.screenshot(path=IMAGES / "service-jobs.png")
        browser.close()
