"""Fixtures of the control-service tests: a real app on a fresh workspace with its worker running."""

from __future__ import annotations

import httpx
import pytest
from service_helpers import make_tokens, stop_service


@pytest.fixture
def anyio_backend():
    return "asyncio"


@pytest.fixture
def service(mk):
    """The app on the fresh workspace with its worker running; ``service.tokens`` has a token per role."""
    from meshkit.service.app import create_app

    app = create_app(mk)
    svc = app.state.service
    svc.tick_seconds = 0.1
    app.tokens = make_tokens(svc.engine)
    svc.start()
    yield app
    stop_service(svc)


@pytest.fixture
async def api(service):
    """An httpx client of the in-process app, authenticated as the developer of team ``data``."""
    transport = httpx.ASGITransport(app=service)
    async with httpx.AsyncClient(transport=transport, base_url="http://meshkit.test",
                                 headers=service.tokens.headers("developer")) as client:  # fmt: skip
        client.tokens = service.tokens
        yield client
