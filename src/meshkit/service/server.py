"""Run the control service with uvicorn (``meshkit server``), one or several worker processes.

Worker processes build their app from the workspace named in ``MESHKIT_SERVER_WORKSPACE``;
command-line config overrides reach them as ``MESHKIT_<KEY>`` environment variables.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from meshkit.service import auth, credentials

WORKSPACE_ENV = "MESHKIT_SERVER_WORKSPACE"
ADMIN_TOKEN_FILE = "admin-token"


def app():
    """The uvicorn application factory of a worker process."""
    from meshkit.core.context import Meshkit
    from meshkit.service.app import create_app

    meshkit = Meshkit.open(os.environ.get(WORKSPACE_ENV))
    worker = meshkit.config.get("service_scheduler")
    application = create_app(meshkit, worker=worker)
    prepare = getattr(application.state.service.executor, "prepare", None)
    if worker and prepare is not None:  # e.g. the local executor warms its zygote before the first run
        prepare()
    return application


def bootstrap_admin(meshkit, url: str) -> Path | None:
    """On a database without tokens, create an admin token for every team and log this workspace in.

    The token goes to ``.meshkit/service/admin-token`` and the workspace's credentials file (both
    mode 0600), never to the console. Returns the token file, or ``None`` when tokens exist.
    """
    engine = meshkit.metadata.engine
    if auth.count_tokens(engine):
        return None
    _, token = auth.create_token(engine, name="bootstrap admin", subject="admin", roles={"*": "admin"})
    path = credentials.write_private(meshkit.workspace.state_dir / "service" / ADMIN_TOKEN_FILE, token + "\n")
    credentials.save(credentials.workspace_file(meshkit), url, token)
    return path


def serve(meshkit, *, host: str, port: int, workers: int, overrides: dict[str, str]) -> None:
    import uvicorn

    os.environ[WORKSPACE_ENV] = str(meshkit.workspace.root)
    for key, value in overrides.items():
        os.environ[f"MESHKIT_{key.upper()}"] = str(value)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    pg = _pg_endpoint(meshkit, host)
    try:
        uvicorn.run("meshkit.service.server:app", factory=True, host=host, port=port, workers=workers or None,
                    log_level="info", proxy_headers=True)  # fmt: skip
    finally:
        if pg is not None:
            pg.shutdown()
            pg.server_close()


def _pg_endpoint(meshkit, host: str):
    """The PostgreSQL-wire endpoint beside the service, when ``serve_pg_port`` is configured."""
    port = meshkit.config.get("serve_pg_port")
    if port is None:
        return None
    from meshkit.serving.pgwire import GovernedPgServer

    pg = GovernedPgServer(meshkit, host, port)
    pg.start()
    logging.getLogger(__name__).info("Governed SQL on postgresql://%s:%s", host, pg.port)
    return pg
