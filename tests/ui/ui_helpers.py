"""Helpers of the browser tests: the control service on a real port with a record of the UI routes
each test's browser opened, tokens per role, and signing in."""

from __future__ import annotations

import socket
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path

from meshkit.service.auth import create_token

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
#: Screenshots to look at; never written into the repository's docs.
SHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
TEAM = "data"

#: ``(method, route path)`` the browser requested, by test name.
VISITED: dict[str, set[tuple[str, str]]] = defaultdict(set)
#: The running test's name (set by ``conftest.covered_routes``).
CURRENT: dict[str, str | None] = {"test": None}


class RouteRecorder:
    """Notes the route template of every request the server answers, under the running test's name."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
        route = scope.get("route")
        if scope["type"] == "http" and route is not None and CURRENT["test"]:
            VISITED[CURRENT["test"]].add((scope["method"], route.path))


def make_tokens(engine) -> dict[str, str]:
    """A token per role: admin (every team), developer and viewer of team ``data``, outsider (team other)."""
    tokens = {}
    for role, roles in (("admin", {"*": "admin"}), ("developer", {TEAM: "developer"}), ("viewer", {TEAM: "viewer"}),
                        ("outsider", {"other": "admin"})):  # fmt: skip
        tokens[role] = create_token(engine, name=role, subject=f"{role}@example.com", roles=roles)[1]
    return tokens


@contextmanager
def serve(mk):
    """The control service of ``mk`` (worker included) on a free port: ``(url, tokens, app)``."""
    import uvicorn

    from meshkit.service.app import create_app

    app = create_app(mk)
    app.add_middleware(RouteRecorder)
    svc = app.state.service
    svc.tick_seconds = 0.1
    tokens = make_tokens(svc.engine)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}", tokens, app
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        _stop_executions(svc)


def _stop_executions(svc, timeout: float = 15.0) -> None:
    """Stop the worker and the executions still running, and wait for their watchers."""
    import sqlalchemy as sa

    from meshkit.service.tables import executions

    svc.stop()
    with svc.engine.connect() as conn:
        rows = conn.execute(sa.select(executions).where(executions.c.state == "launched")).mappings().all()
    for row in rows:
        svc.executor.cancel(dict(row))
    deadline = time.monotonic() + timeout
    while svc.running and time.monotonic() < deadline:
        time.sleep(0.05)


def sign_in(browser, url: str, token: str):
    """A new page of ``browser`` signed in with ``token``."""
    page = browser.new_page(viewport={"width": 1366, "height": 860})
    page.goto(f"{url}/ui/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/ui/jobs")
    return page
