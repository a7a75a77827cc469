"""Jobs in the browser: sign in (and out), deploy a job from the form, start it, watch it run live,
read its log, cancel a run; the root addresses; the API documentation pages, which must load nothing
from outside the server."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
from ui_helpers import SHOTS, serve


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


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


@pytest.fixture
def live_server(mk):
    with serve(mk) as (url, tokens, _):
        yield url, tokens


def test_sign_in_deploy_start_watch_live_and_cancel(live_server, chromium, tmp_path):
    from playwright.sync_api import expect

    url, tokens = live_server
    gate = tmp_path / "publish-now"
    archive = tmp_path / "orders_daily.zip"
    archive.write_bytes(zip_bytes(job_files(gate)))
    page = chromium.new_page(viewport={"width": 1366, "height": 800})
    page.goto(f"{url}/ui/jobs")
    expect(page).to_have_url(f"{url}/ui/login?next=/ui/jobs")
    page.fill("#token", "mk_not-a-token")
    page.click("button[type=submit]")
    expect(page.locator(".alert")).to_contain_text("unknown or revoked")
    page.fill("#token", tokens["admin"])
    expect(page.locator("main")).to_contain_text(".meshkit/service/admin-token")  # where the first token is
    page.screenshot(path=SHOTS / "service-login.png")
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
    page.screenshot(path=SHOTS / "service-execution-running.png", full_page=True)
    gate.touch()
    expect(page.locator("#status")).to_contain_text("succeeded", timeout=60_000)
    expect(steps.locator("tr")).to_have_count(3)
    expect(steps.locator("tr").last).to_contain_text("30_publish.py")
    expect(page.locator("#log-live")).to_have_count(0)
    expect(page.locator("form[action$='/cancel']")).to_have_count(0)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=SHOTS / "service-execution.png", full_page=True)

    page.click(".crumbs >> text=orders-daily")
    expect(page.locator(".chart .bar")).to_have_count(1)
    page.screenshot(path=SHOTS / "service-job.png", full_page=True)
    page.goto(f"{url}/ui/teams/sales/jobs/orders-daily/sources/1/environment")  # no requirements.txt
    expect(page.locator("body")).to_contain_text("v1 of sales/orders-daily: environment none")
    page.go_back()

    gate.unlink()  # the next run waits, and is cancelled from its page
    page.click("text=Start")
    expect(page.locator("#status")).to_contain_text("running", timeout=60_000)
    page.click("#live button.danger")
    expect(page.locator("#status")).to_contain_text("cancelled", timeout=60_000)
    page.click("header nav >> text=Jobs")
    expect(page.locator("tbody")).to_contain_text("cancelled")
    page.screenshot(path=SHOTS / "service-jobs.png")
    page.click("text=Sign out")
    expect(page.locator("h1")).to_have_text("Sign in")
    page.goto(f"{url}/ui/jobs")
    expect(page).to_have_url(f"{url}/ui/login?next=/ui/jobs")
    page.close()


def test_ui_root_and_api_docs_work_offline(live_server, chromium):
    """/ and /ui open the UI; /docs and /redoc render every operation with nothing fetched from elsewhere."""
    from playwright.sync_api import expect

    url, _ = live_server
    page = chromium.new_page(viewport={"width": 1366, "height": 800})
    requested, failed = [], {}
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.update({request.url: request.failure}))
    for path in ("/", "/ui", "/ui/"):
        page.goto(url + path)
        expect(page).to_have_url(f"{url}/ui/login?next=/ui/jobs")

    page.goto(f"{url}/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("meshkit control service")
    operation = page.locator(".opblock-summary-path", has_text="/api/v1/teams/{team}/jobs/{job}/executions")
    expect(operation.first).to_be_visible()
    page.screenshot(path=SHOTS / "service-docs.png")

    page.goto(f"{url}/redoc")
    expect(page.locator("h1")).to_contain_text("meshkit control service", timeout=30_000)  # a large script
    expect(page.locator("[data-section-id^='operation/']").first).to_be_attached()
    expect(page.locator("body")).to_contain_text("/api/v1/teams/{team}/jobs/{job}/executions")
    page.screenshot(path=SHOTS / "service-redoc.png")
    page.close()
    assert any(u.endswith("/docs/static/swagger-ui-bundle.js") for u in requested)
    assert any(u.endswith("/docs/static/redoc.standalone.js") for u in requested)
    # ReDoc's logo is the one outside address; the pages' Content-Security-Policy stops it in the browser
    local = (f"{url}/", f"blob:{url}/", "data:")
    sent_elsewhere = [u for u in requested if not u.startswith(local) and failed.get(u) != "csp"]
    assert sent_elsewhere == []
