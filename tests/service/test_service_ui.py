"""The web UI's fragments and the API documentation pages over HTTP; the browser tests of every
page are in tests/ui/."""

from __future__ import annotations

import pytest
from service_helpers import HELLO, TEAM, deploy, wait_status, zip_bytes


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


@pytest.mark.anyio
async def test_pipeline_and_run_pages_are_for_the_team_only(api):
    pipeline = {
        "pipeline.yaml": "name: tiny\nnodes:\n  - {name: hi, job: hello}\n",
        "jobs/hello/10_hello.py": HELLO["10_hello.py"],
    }
    assert (await api.post(f"/api/v1/teams/{TEAM}/jobs", json={"name": "tiny"})).status_code == 201
    source = await api.post(
        f"/api/v1/teams/{TEAM}/jobs/tiny/sources", files={"file": ("p.zip", zip_bytes(pipeline))}
    )
    version = source.json()["version"]
    assert (
        await api.post(f"/api/v1/teams/{TEAM}/jobs/tiny/deployments", json={"version": version})
    ).status_code == 201
    started = (await api.post(f"/api/v1/teams/{TEAM}/jobs/tiny/executions", json={})).json()
    done = await wait_status(
        api, "tiny", started["id"], {"succeeded", "user_error", "platform_error"}, timeout=120
    )
    assert done["status"] == "succeeded"
    graph = (await api.get(f"/api/v1/teams/{TEAM}/jobs/tiny/executions/{started['id']}/graph")).json()
    node = graph["nodes"][0]["run_id"]
    pages = ["/ui/pipelines/tiny", f"/ui/pipelines/tiny/runs/{started['id']}", f"/ui/pipelines/tiny/runs/{started['id']}/live",
             f"/ui/runs/{node}", f"/ui/runs/{node}/live", f"/ui/runs/{node}/log"]  # fmt: skip
    for path in pages:
        assert (await api.get(path, headers=api.tokens.headers("viewer"))).status_code == 200, path
        assert (await api.get(path, headers=api.tokens.headers("outsider"))).status_code == 403, path
    log = (await api.get(f"/ui/runs/{node}/log", headers=api.tokens.headers("viewer"))).json()
    assert log["complete"] and "attempt 1" in log["text"] and log["offset"] == len(log["text"].encode())
    listed = (await api.get("/ui/pipelines", headers=api.tokens.headers("outsider"))).text
    assert "/ui/pipelines/tiny" not in listed
    assert "/ui/pipelines/tiny" in (await api.get("/ui/pipelines", headers=api.tokens.headers("viewer"))).text
    start = await api.post("/ui/pipelines/tiny/start", headers=api.tokens.headers("viewer"))
    assert start.status_code == 403
    assert (await api.get("/ui/pipelines/tiny/runs/no-such-run")).status_code == 404


@pytest.mark.anyio
async def test_a_workspace_pipeline_runs_now_as_an_execution(api, mk):
    import anyio

    root = mk.workspace.root
    (root / "jobs" / "hello").mkdir(parents=True)
    (root / "jobs" / "hello" / "10_hello.py").write_text("def run(job_input):\n    print('hello')\n")
    (root / "pipelines").mkdir(exist_ok=True)
    (root / "pipelines" / "local.yaml").write_text(
        f"name: local\nteam: {TEAM}\nnodes:\n  - {{name: hi, job: hello}}\n"
    )
    (root / "pipelines" / "broken.yaml").write_text(f"name: broken\nteam: {TEAM}\nnodes: []\n")
    page = (await api.get("/ui/pipelines/local")).text
    assert 'action="/ui/pipelines/local/start"' in page
    viewer = await api.post("/ui/pipelines/local/start", headers=api.tokens.headers("viewer"))
    assert viewer.status_code == 403
    start = await api.post("/ui/pipelines/local/start")
    assert start.status_code == 303
    run_id = start.headers["location"].rsplit("/", 1)[1]
    again = await api.post("/ui/pipelines/local/start")  # one run of a pipeline at a time
    assert again.status_code == 409, again.text
    assert (await api.get(start.headers["location"])).status_code == 200  # its page, queued or running
    for _ in range(600):
        run = mk.runs.get(run_id)
        if run.status in ("succeeded", "user_error", "platform_error"):
            break
        await anyio.sleep(0.2)
    assert (run.kind, run.status, run.team) == ("pipeline", "succeeded", TEAM), run.error
    live = (await api.get(f"{start.headers['location']}/live")).text
    assert 'data-final="true"' in live and "1 of 1" in live and "manual" in live
    admin = api.tokens.headers("admin")  # a file that does not load names no team
    assert (
        'action="/ui/pipelines/broken/start"'
        not in (await api.get("/ui/pipelines/broken", headers=admin)).text
    )
    broken = await api.post("/ui/pipelines/broken/start", headers=admin)
    assert (
        broken.status_code == 400
        and "cannot run" in broken.text
        and "meshkit pipeline show broken" in broken.text
    )
