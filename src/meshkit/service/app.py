"""The FastAPI application: REST API, web UI, health and metrics, plus the routers of plugins."""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from meshkit import __version__
from meshkit.core.errors import MeshkitError
from meshkit.service.exceptions import status_of
from meshkit.service.runtime import ControlService

log = logging.getLogger("meshkit.service")

DESCRIPTION = """\
The meshkit control service: deploy, schedule, run and watch data jobs per team.

Authenticate with `Authorization: Bearer TOKEN` (an API token from `meshkit token create`, or a
JWT). Errors are `{"error": {"code", "message", "hint"}}`.
"""


def error_response(
    status: int, code: str, message: str, hint: str | None = None, where: str | None = None
) -> JSONResponse:
    body = {"code": code, "message": message}
    if hint:
        body["hint"] = hint
    if where:
        body["where"] = where
    return JSONResponse({"error": body}, status_code=status)


class LatencyMiddleware:
    """Observes every request's latency by method, route template and status (pure ASGI, cheap)."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.api_latency.labels(scope["method"], route, str(status["code"])).observe(
                time.perf_counter() - started
            )


class DocsPolicyMiddleware:
    """Lets the API documentation pages load only this server's files (ReDoc links its logo from a CDN)."""

    PAGES = ("/docs", "/redoc")
    POLICY = (b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
              b"img-src 'self' data:; font-src 'self' data:; worker-src 'self' blob:")  # fmt: skip

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] not in self.PAGES:
            return await self.app(scope, receive, send)

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"content-security-policy", self.POLICY)]
            await send(message)

        await self.app(scope, receive, send_wrapper)


def _install_error_handlers(app: FastAPI) -> None:
    from meshkit.service.ui.views import ui_error

    @app.exception_handler(MeshkitError)
    async def meshkit_error(request: Request, exc: MeshkitError):
        status, code = status_of(exc)
        redactor = request.app.state.service.meshkit.redactor
        if request.url.path.startswith("/ui"):
            return ui_error(request, status, redactor.redact(exc.message), exc.hint)
        return error_response(status, code, redactor.redact(exc.message), exc.hint, exc.where)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        problems = []
        for err in exc.errors()[:5]:
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "request"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        message = "Invalid request: " + "; ".join(problems) + "."
        if request.url.path.startswith("/ui"):
            return ui_error(request, 422, message, None)
        return error_response(422, "invalid_request", message, "Check the parameters against /docs.")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        message = "No such endpoint." if exc.status_code == 404 else str(exc.detail)
        return error_response(
            exc.status_code,
            code,
            message,
            "See /docs for the API." if exc.status_code in (404, 405) else None,
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception):
        log.error(
            "internal error on %s %s: %s", request.method, request.url.path, type(exc).__name__, exc_info=exc
        )
        return error_response(
            500, "internal", "Internal error of the control service.", "The server log has the details."
        )


def create_app(meshkit, *, worker: bool = True) -> FastAPI:
    """The app serving ``meshkit``'s workspace; ``worker`` runs the scheduler and dispatcher in it."""
    from meshkit.service.routes import admin, deployments, executions, health, jobs, state, transfers
    from meshkit.service.ui import views
    from meshkit.serving import data_api

    svc = ControlService(meshkit)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc.start(background=worker)
        try:
            yield
        finally:
            svc.stop()

    # Swagger UI at /docs and ReDoc at /redoc, their scripts served from the installed package (no CDN)
    app = FastAPIOffline(title="meshkit control service", version=__version__, description=DESCRIPTION,
                         lifespan=lifespan, docs_url="/docs", redoc_url="/redoc", static_url="/docs/static")  # fmt: skip
    app.state.service = svc
    for module in (health, jobs, deployments, executions, state, admin, transfers, data_api):
        app.include_router(module.router)
    for routers in meshkit.pm.hook.register_routes(meshkit=meshkit):
        for router in routers or []:
            app.include_router(router)
    views.mount(app, meshkit)
    _install_error_handlers(app)
    app.add_middleware(DocsPolicyMiddleware)
    app.add_middleware(LatencyMiddleware, metrics=svc.metrics)
    return app
