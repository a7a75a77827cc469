"""``meshkit product``: lint, test, diff, publish, list, show, history, import and export products."""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path

import click
from rich.markup import escape

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core.errors import ConfigError, UserError
from meshkit.core.files import read_text
from meshkit.core.hookspecs import hookimpl


def _load(mk, name: str):
    from meshkit.products.loader import load_product, product_path

    return load_product(product_path(mk.workspace, name))


@click.group("product")
def product_group() -> None:
    """Data products: descriptors in products/NAME.yaml with ODCS contracts on their output ports."""


@product_group.command("lint")
@click.argument("names", nargs=-1)
@pass_meshkit
def lint_command(mk, names) -> None:
    """Validate product descriptors (all of them without NAMES)."""
    from meshkit.products.loader import PRODUCTS_DIR, load_product, product_files, product_path
    from meshkit.products.products import lint

    paths = [product_path(mk.workspace, n) for n in names] or product_files(mk.workspace)
    if not paths:
        raise ConfigError("No product descriptors found.", hint=f"Create {PRODUCTS_DIR}/NAME.yaml.")
    problems = 0
    for path in paths:
        found = lint(mk, load_product(path))
        for problem in found:
            console.print(f"[yellow]{path.name}[/]: {problem}", highlight=False)
        problems += len(found)
        if not found:
            console.print(f"[green]ok[/] {path.name}")
    if problems:
        raise ConfigError(
            f"{problems} problem(s) in product descriptors.", hint="Fix the descriptors listed above."
        )


@product_group.command("test")
@click.argument("name")
@pass_meshkit
def test_command(mk, name) -> None:
    """Check the live data of every output port against its contract."""
    from meshkit.products.products import verify_product

    reports = verify_product(mk, _load(mk, name))
    failed = 0
    for report in reports:
        view = fitting_table(
            "check", "result", "observed", "message", title=f"{report.port} ({report.dataset})"
        )
        for result in report.results:
            mark = "[green]pass[/]" if result.passed else "[red]FAIL[/]"
            view.add_row(
                result.check, mark, "" if result.observed is None else str(result.observed), result.message
            )
            failed += not result.passed
        console.print(view)
    if failed:
        raise UserError(
            f"{failed} contract check(s) failed for product `{name}`.", hint="See the table above."
        )
    console.print(f"[green]All contract checks passed[/] for `{name}`.")


def _base(mk, name: str, base: str | None):
    """The version to compare with: a file, a git ref (``git:REF``), a published version, or the current one."""
    from meshkit.catalog.catalog import Catalog
    from meshkit.products.loader import load_product, parse_product, product_path, validate_product
    from meshkit.products.products import published

    if base and base.startswith("git:"):
        path = product_path(mk.workspace, name).resolve().relative_to(mk.workspace.root)
        ref = base[4:]
        shown = subprocess.run(
            ["git", "show", f"{ref}:{path.as_posix()}"], cwd=mk.workspace.root, capture_output=True, text=True
        )
        if shown.returncode != 0:
            raise UserError(f"Cannot read {path} at git ref `{ref}`: {shown.stderr.strip()}")
        return parse_product(shown.stdout, f"{ref}:{path}")
    if base and Path(base).is_file():
        return load_product(base)
    if base:
        version = next((v for v in Catalog(mk).product_versions(name) if v["version"] == base), None)
        if version is None:
            raise UserError(
                f"Version {base} of `{name}` was never published.", hint="See `meshkit product history`."
            )
        return validate_product(version["spec"], f"catalog {name} {base}")
    current = published(mk, name)
    if current is None:
        raise UserError(f"Product `{name}` has no published version to compare with.",
                        hint="Give --base FILE, --base git:REF or publish it first.")  # fmt: skip
    return current


@product_group.command("diff")
@click.argument("name")
@click.option(
    "--base",
    help="Compare with: a descriptor file, git:REF, or a published version (default: the current one).",
)
@click.option("--json", "as_json", is_flag=True)
@pass_meshkit
def diff_command(mk, name, base, as_json) -> None:
    """Report the changes of NAME's descriptor since a base version; breaking ones fail without a major bump."""
    from meshkit.products.diff import breaking, diff_products

    new, old = _load(mk, name), _base(mk, name, base)
    changes = diff_products(old, new)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in changes], indent=2))
    else:
        view = fitting_table(
            "severity", "port", "column", "change", title=f"{name}: {old.version} -> {new.version}"
        )
        for change in changes:
            style = "red" if change.severity == "breaking" else "green"
            view.add_row(
                f"[{style}]{change.severity}[/]",
                change.port,
                change.column or "",
                f"{change.kind}: {change.message}",
            )
        console.print(view if changes else "No changes.")
    broken = breaking(changes)
    if broken and new.major <= old.major:
        raise UserError(f"{len(broken)} breaking change(s) without a major version bump.",
                        hint=f"Publish as {old.major + 1}.0.0 or keep the contract compatible.")  # fmt: skip


@product_group.command("publish")
@click.argument("name")
@click.option(
    "--test/--no-test", "run_tests", default=False, help="Check the live data against the contract first."
)
@pass_meshkit
def publish_command(mk, name, run_tests) -> None:
    """Publish NAME to the catalog; a breaking change needs a major version bump."""
    from meshkit.products.products import lint, publish, verify_product

    product = _load(mk, name)
    problems = lint(mk, product)
    if problems:
        raise ConfigError(
            f"Product `{name}` does not lint: {'; '.join(problems)}.", hint="Run `meshkit product lint`."
        )
    if run_tests:
        failed = [r for report in verify_product(mk, product) for r in report.results if not r.passed]
        if failed:
            raise UserError(
                f"{len(failed)} contract check(s) failed; not publishing.",
                hint=f"Run `meshkit product test {name}`.",
            )
    result = publish(mk, product, published_by=getpass.getuser())
    if result.unchanged:
        console.print(f"`{name}` {product.version} is already published, unchanged.")
        return
    since = f" (from {result.previous}, {len(result.changes)} change(s))" if result.previous else ""
    console.print(f"[green]Published[/] {name} {product.version}{since}.")


@product_group.command("list")
@pass_meshkit
def list_command(mk) -> None:
    """Products of the workspace and their published versions."""
    from meshkit.catalog.catalog import Catalog
    from meshkit.products.loader import load_product, product_files

    published = {p["name"]: p for p in Catalog(mk).products()}
    view = fitting_table("name", "version", "published", "status", "domain", "owner", "output ports")
    names = set(published)
    for path in product_files(mk.workspace):
        try:
            product = load_product(path)
        except ConfigError as exc:
            view.add_row(path.stem, "[red]invalid[/]", "", "", "", "", exc.message)
            continue
        names.discard(product.name)
        pub = published.get(product.name)
        view.add_row(product.name, product.version, pub["version"] if pub else "-", product.status, product.domain or "",
                     product.owner or product.team or "", ", ".join(p.name for p in product.outputPorts))  # fmt: skip
    for name in sorted(names):
        pub = published[name]
        view.add_row(
            name, "-", pub["version"], pub["status"] or "", pub["domain"] or "", pub["owner"] or "", ""
        )
    console.print(view)


@product_group.command("show")
@click.argument("name")
@pass_meshkit
def show_command(mk, name) -> None:
    """Describe a product: ports, contracts with tags, latest quality results."""
    from meshkit.catalog.catalog import Catalog

    product = _load(mk, name)
    catalog = Catalog(mk)
    pub = catalog.product(product.name)
    console.print(f"[bold]{product.name}[/] {product.version} ({product.status})"
                  f"  published: {pub['version'] if pub else '-'}", highlight=False)  # fmt: skip
    for label, value in (("domain", product.domain), ("owner", product.owner), ("team", product.team),
                         ("description", product.description)):  # fmt: skip
        if value:
            console.print(f"  {label}: {value}", highlight=False)
    for port in product.inputPorts:
        console.print(f"  input {port.name}: {port.dataset or port.product}", highlight=False)
    for port in product.outputPorts:
        view = fitting_table(
            "column",
            "type",
            "keys",
            "classification / tags",
            "description",
            title=f"output {port.name}: {port.dataset}",
        )
        for c in port.contract.schema_:
            keys = " ".join(
                k for k, on in (("pk", c.primaryKey), ("unique", c.unique), ("required", c.required)) if on
            )
            view.add_row(c.name, c.logicalType or c.physicalType or "", keys,
                         ", ".join(x for x in [c.classification, *c.tags] if x), c.description or "")  # fmt: skip
        console.print(view)
        results = catalog.quality(port.dataset, limit=10)
        if results:
            passed = sum(r["passed"] for r in results)
            console.print(
                f"  latest checks: {passed}/{len(results)} passed ({results[0]['at']:%Y-%m-%d %H:%M})"
            )


@product_group.command("history")
@click.argument("name")
@pass_meshkit
def history_command(mk, name) -> None:
    """Published versions, and the snapshots of output ports kept by their store (Iceberg)."""
    from meshkit.catalog.catalog import Catalog
    from meshkit.products.products import history

    versions = Catalog(mk).product_versions(name)
    view = fitting_table("version", "published at", "by", "changes", title=f"{name}: published versions")
    for v in versions:
        broken = sum(1 for c in v["changes"] or [] if c["severity"] == "breaking")
        view.add_row(v["version"], f"{v['published_at']:%Y-%m-%d %H:%M:%S}", v["published_by"] or "",
                     f"{len(v['changes'] or [])} ({broken} breaking)")  # fmt: skip
    console.print(view)
    for port, snapshots in history(mk, _load(mk, name)).items():
        if not snapshots:
            console.print(f"output {port}: its store keeps no snapshots", highlight=False)
            continue
        view = fitting_table("snapshot", "timestamp", "operation", "rows", title=f"output {port}: snapshots")
        for snap in snapshots:
            view.add_row(str(snap.get("snapshot_id")), str(snap.get("timestamp") or ""), str(snap.get("operation") or ""),
                         str(snap.get("rows") or ""))  # fmt: skip
        console.print(view)


@product_group.command("export")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["odcs", "odps"]), default="odcs", show_default=True)
@click.option(
    "--port", help="ODCS: the contract of this output port (default: every contract, as a YAML stream)."
)
@click.option(
    "--no-validate", is_flag=True, help="ODCS: write contracts that break their version's JSON Schema."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@pass_meshkit
def export_command(mk, name, fmt, port, no_validate, output) -> None:
    """Export a product as ODPS, or its ODCS contracts as YAML (one per imported contract or port)."""
    import yaml

    from meshkit.products.loader import product_path
    from meshkit.products.odcs import contract_id, contract_problems, odcs_documents, summary, to_odps

    product = _load(mk, name)
    if fmt == "odps":
        docs = [to_odps(product)]
    else:
        wanted = product.port(port) if port else None
        if port and wanted is None:
            raise UserError(f"Product `{name}` has no output port `{port}`.")
        docs = [
            d for d in odcs_documents(product) if wanted is None or d["id"] == contract_id(product, wanted)
        ]
        for doc in docs if not no_validate else []:
            if problems := contract_problems(doc):
                raise ConfigError(f"Contract `{doc['id']}` breaks the ODCS {doc['apiVersion']} JSON Schema: "
                                  f"{summary(problems)}.", where=str(product_path(mk.workspace, name)),
                                  hint="Fix the contract in the descriptor, or pass --no-validate.")  # fmt: skip
    text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True)
    if output:
        Path(output).write_text(text)
        console.print(f"Wrote {output}")
    else:
        click.echo(text, nl=False)


@product_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--name", help="Product name (default: from the first contract).")
@click.option(
    "--store",
    default="warehouse",
    show_default=True,
    help="Store of ports without a meshkitDataset property.",
)
@click.option("--force", is_flag=True, help="Replace the same contracts and ports of an existing descriptor.")
@pass_meshkit
def import_command(mk, path, name, store, force) -> None:
    """Create (or update) products/NAME.yaml from ODCS v3 contracts (a YAML stream of one or more)."""
    import yaml

    from meshkit.products.loader import PRODUCTS_DIR, JsonYamlLoader, load_product
    from meshkit.products.odcs import contract_problems, from_odcs, merge_ports, odcs_json_schema, summary

    try:
        docs = [d for d in yaml.load_all(read_text(path), Loader=JsonYamlLoader) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"Invalid YAML: {exc}.", where=path) from None
    product = from_odcs(docs or [{}], where=path, store=store, name=name)
    for doc in docs:
        if odcs_json_schema(str(doc["apiVersion"])) is None:
            console.print(
                f"[yellow]Note[/]: no ODCS {doc['apiVersion']} JSON Schema here; `{doc['id']}` not validated."
            )
        elif problems := contract_problems(doc):
            console.print(f"[yellow]Note[/]: contract `{doc['id']}` breaks the ODCS {doc['apiVersion']} JSON Schema "
                          f"(kept as is; export will refuse it until fixed): {escape(summary(problems))}")  # fmt: skip
    target = mk.workspace.root / PRODUCTS_DIR / f"{product.name}.yaml"
    if target.exists():
        if not force:
            raise UserError(
                f"{target} exists.", hint="Use --force to replace its output ports with the contract's."
            )
        product = merge_ports(load_product(target), product)
    target.parent.mkdir(exist_ok=True)
    target.write_text(yaml.safe_dump(product.dump(), sort_keys=False, allow_unicode=True))
    console.print(f"Wrote {target}")


@hookimpl
def register_commands(cli):
    cli.add_command(product_group)
