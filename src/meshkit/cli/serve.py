"""``meshkit serve``: the Arrow Flight server for product output ports, with policies applied."""

from __future__ import annotations

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.core.hookspecs import hookimpl


@click.command("serve")
@click.option("--host", help="Interface to listen on (default: config serve_host).")
@click.option("--port", type=int, help="Port (default: config serve_port).")
@pass_meshkit
def serve_command(mk, host, port) -> None:
    """Serve published products' output ports over Arrow Flight.

    Callers send `authorization: Bearer TOKEN` (tokens are declared per subject in meshkit.toml
    [governance.subjects.NAME]) and a ticket {"dataset": "store/asset", "purpose": "..."}; every
    batch they get has the policy decision applied, and each request is audited.
    """
    from meshkit.governance.flight import GovernedFlightServer

    location = f"grpc://{host or mk.config.get('serve_host')}:{port if port is not None else mk.config.get('serve_port')}"
    server = GovernedFlightServer(mk, location)
    subjects = len(server.governor.subjects())
    console.print(f"Serving Arrow Flight on grpc://{host or mk.config.get('serve_host')}:{server.port} "
                  f"({subjects} subject(s) with tokens). Ctrl-C stops.", highlight=False)  # fmt: skip
    try:
        server.serve()
    except KeyboardInterrupt:
        server.shutdown()


@hookimpl
def register_commands(cli):
    cli.add_command(serve_command)
