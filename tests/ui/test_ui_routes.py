"""Every route of the web UI has a browser test: the table of ``ui_pages`` against the app's routes."""

from __future__ import annotations

import ast
from pathlib import Path

from ui_pages import PAGES

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI lists the routes of included routers flat
    iter_route_contexts = iter


def ui_routes(app) -> set[tuple[str, str]]:
    """``(method, path)`` of the app's routes under ``/ui`` (and ``/``), static files aside."""
    found = set()
    for route in iter_route_contexts(app.routes):
        methods = getattr(route, "methods", None)
        if methods and (route.path == "/" or route.path == "/ui" or route.path.startswith("/ui/")):
            found |= {(method, route.path) for method in methods - {"HEAD"}}
    return found


def browser_tests() -> set[str]:
    """The test functions of this folder that drive the browser."""
    names = set()
    for path in Path(__file__).parent.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                if "chromium" in {a.arg for a in node.args.args} or "browser_page" in {
                    a.arg for a in node.args.args
                }:
                    names.add(node.name)
    return names


def test_every_ui_route_has_a_browser_test(mk):
    from meshkit.service.app import create_app

    routes = ui_routes(create_app(mk, worker=False))
    assert len(routes) >= 25
    untested = sorted(routes - set(PAGES))
    assert not untested, (
        f"UI routes without a browser test: {untested}; add one and list it in ui_pages.PAGES"
    )
    gone = sorted(set(PAGES) - routes)
    assert not gone, f"ui_pages.PAGES lists routes the app no longer has: {gone}"
    unknown = sorted(set(PAGES.values()) - browser_tests())
    assert not unknown, f"ui_pages.PAGES names tests that do not exist or do not use the browser: {unknown}"
