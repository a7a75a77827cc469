"""``meshkit serve``: Arrow Flight for product output ports and governed SQL over the PostgreSQL protocol."""

from __future__ import annotations

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.core.hookspecs import hookimpl


@click.command("serve")
@click.option("--host", help="Interface to listen on (default: config serve_host).")
@click.option("--port", type=int, help="Arrow Flight port (default: config serve_port).")
@click.option("--pg-port", type=int, help="Also serve governed SQL over the PostgreSQL protocol on this port "
                                           "(default: config serve_pg_port; 0 picks a free port).")  # fmt: skip
@pass_meshkit
def serve_command(mk, host, port, pg_port) -> None:
    """Serve products' ports over Arrow Flight, governed SQL over Flight SQL and PostgreSQL wire.

    Flight callers send `authorization: Bearer TOKEN` (tokens are declared per subject in meshkit.toml
    [governance.subjects.NAME]) and a ticket {"dataset": "store/asset", "purpose": "..."}, or Flight SQL statements (ADBC,
    JDBC Flight SQL) with the purpose in the `x-meshkit-purpose` header. PostgreSQL
    clients (psql, JDBC, psycopg, BI tools) log in with the token as password and give their purpose
    with `options=-c meshkit.purpose=...`. Every read has the policy decision applied and is audited.
    """
    from meshkit.serving.flightsql import GovernedFlightSqlServer

    host = host or mk.config.get("serve_host")
    location = f"grpc://{host}:{port if port is not None else mk.config.get('serve_port')}"
    server = GovernedFlightSqlServer(mk, location)
    subjects = len(server.governor.subjects())
    pg_port = pg_port if pg_port is not None else mk.config.get("serve_pg_port")
    pg = None
    if pg_port is not None:
        from meshkit.serving.pgwire import GovernedPgServer

        pg = GovernedPgServer(mk, host, pg_port, governed=server.sql)
        pg.start()
        console.print(f"Serving governed SQL on postgresql://{host}:{pg.port} (password: a meshkit token).",
                      highlight=False)  # fmt: skip
    console.print(f"Serving Arrow Flight on grpc://{host}:{server.port} "
                  f"({subjects} subject(s) with tokens). Ctrl-C stops.", highlight=False)  # fmt: skip
    try:
        server.serve()
    except KeyboardInterrupt:
        server.shutdown()
    finally:
        if pg is not None:
            pg.shutdown()
            pg.server_close()


@hookimpl
def register_commands(cli):
    cli.add_command(serve_command)
