"""The web UI's fragments and the API documentation pages over HTTP; the browser tests of every
page are in tests/ui/."""

from __future__ import annotations

import pytest
from service_helpers import HELLO, TEAM, deploy, wait_status


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
