"""Pipelines in the browser: the list, a pipeline's graph and runs, and a run started from its page
whose graph shows each node's status live, each node opening its run."""

from __future__ import annotations

import io
import textwrap
import zipfile

import httpx
import pytest
from ui_helpers import SHOTS, TEAM, sign_in


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, textwrap.dedent(text))
    return buffer.getvalue()


def nightly(gate) -> dict[str, str]:
    """A deployed pipeline: `extract`, then `wait` (until ``gate`` exists) and `report` side by side."""
    return {"pipeline.yaml": """
        name: nightly
        description: Extract, then wait for the files and report.
        concurrency: 2
        schedule: "30 2 * * 1-5"
        nodes:
          - {name: extract, job: first}
          - {name: wait, job: gated, depends_on: [extract]}
          - {name: report, job: first, depends_on: [extract]}
          - {name: publish, job: first, depends_on: [wait, report]}
        """, "jobs/first/10_a.py": "def run(job_input):\n    print('first node step')\n",
        "jobs/gated/10_wait.py": f"""
        import time
        from pathlib import Path

        def run(job_input):
            print("waiting for the files", flush=True)
            while not Path({str(gate)!r}).exists():
                time.sleep(0.1)
        """}  # fmt: skip


@pytest.fixture(scope="module")
def deployed(mesh_server, tmp_path_factory):
    """Pipeline `nightly` deployed to team `data`; returns its gate file."""
    url, tokens, _ = mesh_server
    gate = tmp_path_factory.mktemp("gate") / "files-landed"
    with httpx.Client(
        base_url=f"{url}/api/v1/teams/{TEAM}", headers={"Authorization": f"Bearer {tokens['developer']}"}
    ) as api:
        assert api.post("/jobs", json={"name": "nightly"}).status_code == 201
        source = api.post("/jobs/nightly/sources", files={"file": ("p.zip", _zip(nightly(gate)))})
        assert source.status_code == 201, source.text
        body = {"version": source.json()["version"], "schedule": "30 2 * * 1-5"}
        assert api.post("/jobs/nightly/deployments", json=body).status_code == 201
    return gate


def test_pipeline_run_page_shows_node_statuses_live(mesh_server, deployed, chromium):
    from playwright.sync_api import expect

    url, tokens, _ = mesh_server
    page = sign_in(chromium, url, tokens["developer"])
    page.click("header nav >> text=Pipelines")
    table = page.locator("table.pipelines")
    expect(table.locator("tbody tr")).to_have_count(1)  # the developer of team data sees its pipeline only
    expect(table).to_contain_text("nightly")
    expect(table).to_contain_text("At 02:30, Monday through Friday")
    page.click("table.pipelines >> text=nightly")
    expect(page.locator("h1")).to_have_text("nightly")
    graph = page.locator("#pipeline-graph svg")
    expect(graph.locator(".node")).to_have_count(4)
    expect(graph.locator('.node[data-status="none"]')).to_have_count(4)  # never run
    page.screenshot(path=SHOTS / "pipeline-never-run.png", full_page=True)

    page.click("text=Run now")
    page.wait_for_url(f"{url}/ui/pipelines/nightly/runs/nightly-*")
    run_page = page.url
    page.evaluate("window.notReloaded = true")  # a reload would drop it
    graph = page.locator("#pipeline-graph svg")
    expect(graph.locator('.node[data-node="wait"]')).to_have_attribute(
        "data-status", "running", timeout=90_000
    )
    expect(graph.locator('.node[data-node="extract"]')).to_have_attribute("data-status", "succeeded")
    expect(graph.locator('.node[data-node="publish"]')).to_have_attribute("data-status", "submitted")
    expect(graph.locator('.node[data-node="report"]')).to_have_attribute(
        "data-status", "succeeded", timeout=60_000
    )
    expect(page.locator("#status")).to_contain_text("running")
    expect(page.locator("#nodes-done")).to_have_text("2 of 4")
    expect(graph.locator(".edge.done")).to_have_count(3)  # out of extract (2) and report (1)
    assert page.evaluate("window.notReloaded") is True  # redrawn in place
    page.screenshot(path=SHOTS / "pipeline-run-live.png", full_page=True)

    # a running node opens its run, live too: its attempt, its log, then the job run it started
    graph.locator('a:has(.node[data-node="wait"])').click()
    expect(page.locator("#status")).to_contain_text("running")
    expect(page.locator("#log")).to_contain_text("waiting for the files", timeout=30_000)
    expect(page.locator("#log-live")).to_be_visible()
    page.screenshot(path=SHOTS / "pipeline-node-running.png", full_page=True)
    deployed.touch()
    expect(page.locator("#status")).to_contain_text("succeeded", timeout=90_000)
    expect(page.locator("#log-live")).to_have_count(0)
    expect(page.locator("table.attempts tbody tr")).to_have_count(1)
    expect(page.locator("table.children")).to_contain_text("job gated")
    page.screenshot(path=SHOTS / "pipeline-node-run.png", full_page=True)
    page.go_back()
    expect(page).to_have_url(run_page)
    expect(page.locator("#status")).to_contain_text("succeeded", timeout=90_000)
    expect(graph.locator('.node[data-status="succeeded"]')).to_have_count(4)
    expect(page.locator("#nodes-done")).to_have_text("4 of 4")
    page.screenshot(path=SHOTS / "pipeline-run.png", full_page=True)
    page.click("text=Execution and log")  # the execution page draws the same graph above the log
    expect(page.locator('#pipeline-graph .node[data-status="succeeded"]')).to_have_count(4)
    expect(page.locator("#log")).to_contain_text("nightly")
    page.screenshot(path=SHOTS / "pipeline-execution.png", full_page=True)
    page.locator("#pipeline-graph h2 a").click()
    expect(page).to_have_url(run_page)
    page.locator(".crumbs >> text=nightly").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    expect(page.locator('#pipeline-graph .node[data-status="succeeded"]')).to_have_count(4)
    page.screenshot(path=SHOTS / "pipeline.png", full_page=True)
    page.close()


def test_workspace_pipeline_and_its_cli_run(mesh_server, chromium):
    """A pipeline of the workspace's `pipelines/`, run by `meshkit pipeline run`, not deployed."""
    from playwright.sync_api import expect

    url, tokens, _ = mesh_server
    page = sign_in(chromium, url, tokens["admin"])
    page.goto(f"{url}/ui/pipelines")
    # NOTE: the server is shared: the deployed pipeline of another test may be listed too, or not yet
    row = page.locator("table.pipelines tbody tr", has_text="cities")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Cities into the warehouse")  # its description
    expect(row.locator(".status")).to_have_text("succeeded")
    page.screenshot(path=SHOTS / "pipelines.png", full_page=True)
    row.locator("a").nth(1).click()  # its last run
    graph = page.locator("#pipeline-graph svg")
    expect(graph.locator('.node[data-status="succeeded"]')).to_have_count(5)
    expect(page.locator("form[action$='/start']")).to_have_count(0)
    page.screenshot(path=SHOTS / "pipeline-cli-run.png", full_page=True)
    graph.locator('a:has(.node[data-node="greetings"])').click()  # a node, then the job run it started
    expect(page.locator("main")).to_contain_text("job greetings")
    page.locator("table.children a").first.click()
    expect(page.locator(".crumbs")).to_contain_text("node greetings")
    expect(page.locator("main")).to_contain_text("20_ingest.py")
    page.screenshot(path=SHOTS / "pipeline-node-job-run.png", full_page=True)
    page.go_back()
    page.go_back()
    graph.locator('a:has(.node[data-node="load"])').click()
    expect(page.locator("main")).to_contain_text("transfer cities")
    page.locator("table.children a").first.click()
    page.locator(".card a", has_text="warehouse/cities").first.click()  # what the transfer wrote
    expect(page.locator("h1")).to_have_text("warehouse/cities")
    page.close()


def test_workspace_pipeline_runs_now_from_its_page(mesh_server, chromium):
    """`Run now` on a pipeline that is only a workspace file runs it on the control service."""
    from playwright.sync_api import expect

    url, tokens, _ = mesh_server
    page = sign_in(chromium, url, tokens["admin"])
    page.goto(f"{url}/ui/pipelines/cities")
    expect(page.locator(".facts")).to_contain_text("pipelines/cities.yaml")
    expect(page.locator(".facts")).to_contain_text("meshkit pipeline deploy cities")  # not deployed
    before = page.locator("table.runs tbody tr").count()
    page.screenshot(path=SHOTS / "pipeline-workspace.png", full_page=True)
    page.click("text=Run now")
    page.wait_for_url(f"{url}/ui/pipelines/cities/runs/cities-*")
    run_page = page.url
    expect(page.locator("#status")).to_contain_text("succeeded", timeout=180_000)
    graph = page.locator("#pipeline-graph svg")
    expect(graph.locator('.node[data-status="succeeded"]')).to_have_count(5)
    expect(page.locator("#nodes-done")).to_have_text("5 of 5")
    expect(page.locator(".facts")).to_contain_text("manual")  # its trigger: the button
    page.screenshot(path=SHOTS / "pipeline-workspace-run.png", full_page=True)
    page.locator(".crumbs >> text=cities").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(before + 1)
    expect(page.locator("table.runs tbody tr").first.locator("a")).to_have_attribute(
        "href", run_page.removeprefix(url)
    )
    page.close()
