"""``meshkit profile``: per-column statistics of a dataset, kept in the catalog, and checks it passes."""

from __future__ import annotations

import json

import click
from rich.markup import escape

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core import humanize
from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl


@click.command("profile")
@click.argument("dataset", metavar="STORE/ASSET")
@click.option("--suggest-checks", "suggest", is_flag=True,
              help="Write checks/ASSET.yaml with a checks: block the data passes today.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print the profile as JSON.")
@pass_meshkit
def profile_cmd(mk, dataset: str, suggest: bool, as_json: bool) -> None:
    """Profile STORE/ASSET: nulls, distinct values, min/max, quantiles, top values and patterns per column.

    DuckDB computes the statistics in one pass where the data is (or over the streamed batches of
    another store); the profile is kept in the catalog and shown on the dataset's page.
    """
    from meshkit.catalog.catalog import Catalog, split_name
    from meshkit.quality.profile import profile_dataset

    store, asset = split_name(dataset)
    profile = profile_dataset(mk, store, asset)
    Catalog(mk).save_profile(profile.dataset, profile.rows, profile.columns)
    if as_json:
        click.echo(
            json.dumps(
                {"dataset": profile.dataset, "rows": profile.rows, "columns": profile.columns}, indent=2
            )
        )
    else:
        _render(profile)
    if suggest:
        _write_checks(mk, profile)


def _render(profile) -> None:
    console.print(f"[bold]{escape(profile.dataset)}[/]: {humanize.count(profile.rows)} rows")
    table = fitting_table("column", "type", "nulls", "≈distinct", "min", "max", "common",
                          short=("nulls", "≈distinct"), right=("nulls", "≈distinct"))  # fmt: skip
    for c in profile.columns:
        common = ", ".join(str(v) for v in (c.get("top_values") or [])[:3])
        if c.get("quantiles"):
            common = "median " + _short(c["quantiles"][len(c["quantiles"]) // 2])
        table.add_row(escape(c["name"]), escape(c["type"].lower()), f"{c['null_percent']:g}%",
                      humanize.count(c.get("distinct")), escape(_short(c.get("min"))), escape(_short(c.get("max"))),
                      escape(common))  # fmt: skip
    console.print(table)


def _short(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"
    return str(value)


def _write_checks(mk, profile) -> None:
    import yaml

    from meshkit.quality.profile import suggest_checks
    from meshkit.quality.runner import run_checks

    store, asset = profile.dataset.split("/", 1)
    path = mk.workspace.root / "checks" / f"{asset.replace('/', '_')}.yaml"
    if path.exists():
        raise ConfigError(f"{path.relative_to(mk.workspace.root)} exists already.",
                          hint="Move it away (or merge the checks by hand), then run again.")  # fmt: skip
    checks = suggest_checks(profile)
    # NOTE: statistics are approximate where exact ones would be costly: keep only what passes today
    passed = {r.name for r in run_checks(mk, store, asset, checks) if r.status == "pass"}
    from meshkit.quality.runner import make_checks

    kept = [
        spec
        for spec, check in zip(checks, make_checks(mk, checks, "suggested"), strict=True)
        if check.name in passed
    ]
    path.parent.mkdir(exist_ok=True)
    header = f"# Suggested by `meshkit profile {profile.dataset} --suggest-checks`: the data passed these checks.\n"
    path.write_text(header + yaml.safe_dump({"dataset": profile.dataset, "checks": kept}, sort_keys=False))
    console.print(
        f"Wrote {len(kept)} checks to {path.relative_to(mk.workspace.root)}; run them with `meshkit check`."
    )


@hookimpl
def register_commands(cli):
    cli.add_command(profile_cmd)
