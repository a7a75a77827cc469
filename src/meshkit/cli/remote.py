"""``--remote``: the ``properties`` and ``secrets`` commands on a deployed job, through the control service.

The service keeps properties and secrets per job, so ``--remote`` needs ``--job``. Secrets are
write-only there: their names can be listed, values set and deleted, never read back.
"""

from __future__ import annotations

from typing import Any

import click

from meshkit.core.errors import UserError

remote_options = [
    click.option("--remote", is_flag=True, help="Act on the deployed job through the control service."),
    click.option("--team", help="With --remote: the team owning the job (default: config key `team`)."),
    click.option("--url", help="With --remote: the control service URL (default: from `meshkit login`)."),
]


def with_remote_options(func):
    """Add ``--remote``, ``--team`` and ``--url`` to a command."""
    for option in reversed(remote_options):
        func = option(func)
    return func


class RemoteJob:
    """A deployed job's properties and secrets, over the REST API."""

    def __init__(self, meshkit, job: str, team: str | None, url: str | None):
        from meshkit.cli.service import owning_team, service_client

        if not job:
            raise click.UsageError("--remote needs --job NAME: the control service keeps them per job.")
        self.client = service_client(meshkit, url)
        self.path = f"/teams/{owning_team(meshkit, team)}/jobs/{job}"

    # the properties backend interface (scope = the job)
    def get_all(self, scope: str) -> dict[str, Any]:
        return self.client.get(f"{self.path}/properties")["properties"]

    def set_all(self, scope: str, values: dict[str, Any]) -> None:
        self.client.request("PUT", f"{self.path}/properties", json={"properties": values})

    # secrets: names, and values one way only
    def secret_names(self) -> list[str]:
        return self.client.get(f"{self.path}/secrets")["names"]

    def set_secret(self, key: str, value: str) -> None:
        self.client.request("PUT", f"{self.path}/secrets/{key}", json={"value": value})

    def delete_secret(self, key: str) -> None:
        self.client.request("DELETE", f"{self.path}/secrets/{key}")


def refuse_reveal() -> UserError:
    return UserError(
        "The control service never returns secret values.",
        hint="Read the secret where it is used, or set it again with `meshkit secrets set --remote`.",
    )
