"""``meshkit policy``: explain a decision, run policy unit tests, read the audit log."""

from __future__ import annotations

import json

import click

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.query import make_subject, subject_options
from meshkit.cli.tables import fitting_table
from meshkit.core.errors import UserError
from meshkit.core.hookspecs import hookimpl


@click.group("policy")
def policy_group() -> None:
    """Access policies in policies/*.rego: decisions, tests and the audit log."""


@policy_group.command("eval")
@click.argument("dataset")
@subject_options
@click.option(
    "--operation", default="read", show_default=True, type=click.Choice(["read", "write", "transfer"])
)
@click.option("--json", "as_json", is_flag=True, help="Print input, policy result and decision as JSON.")
@pass_meshkit
def eval_command(mk, dataset, user, role, team, purpose, operation, as_json) -> None:
    """Explain the decision for DATASET: the policy input, what the policies said, the outcome."""
    from meshkit.governance.governor import Governor

    governor = Governor(mk)
    subject = make_subject(mk, user, role, team)
    explained = governor.explain(subject, purpose, governor.dataset(dataset), operation=operation)
    decision = explained["decision"]
    if as_json:
        click.echo(
            json.dumps(
                {**explained, "decision": decision.model_dump(exclude_none=True)}, indent=2, default=str
            )
        )
        return
    console.print(
        f"[bold]Subject[/] {subject}  [bold]purpose[/] {explained['input']['purpose'] or '-'}  "
        f"[bold]operation[/] {operation}"
    )
    console.print(f"[bold]Dataset[/] {decision.dataset}")
    columns = explained["input"]["columns"]
    if columns:
        view = fitting_table("column", "tags", "action")
        actions = decision.column_actions()
        for column in columns:
            view.add_row(column["name"], ", ".join(column["tags"]), actions.get(column["name"].lower(), ""))
        console.print(view)
    for predicate in decision.predicates():
        console.print(f"Row filter: {predicate}", markup=False)
    style = "green" if decision.allowed else "red"
    console.print(f"[bold {style}]{'ALLOW' if decision.allowed else 'DENY'}[/] {decision.reason}")


@policy_group.command("test")
@click.option("--match", "-k", help="Only tests whose name contains this text.")
@pass_meshkit
def test_command(mk, match) -> None:
    """Run the policy tests: decision cases in policies/*_test.yaml, and Rego rules named test_*."""
    from meshkit.governance.governor import Governor
    from meshkit.governance.policy_tests import run_decision_tests

    engine = Governor(mk).engine
    results = run_decision_tests(engine, match) + engine.run_tests(match)
    if not results:
        raise UserError("No policy tests found.",
                        hint="Add decision cases to policies/*_test.yaml (see docs/policies.md).")  # fmt: skip
    for result in results:
        mark = "[green]PASS[/]" if result.passed else "[red]FAIL[/]"
        console.print(
            f"{mark} {result.file}::{result.name}" + (f"  {result.message}" if result.message else ""),
            soft_wrap=True,
        )
    failed = [r for r in results if not r.passed]
    console.print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise UserError(f"{len(failed)} policy test(s) failed.", hint="Fix the policies or the tests.")


@policy_group.command("audit")
@click.option("--dataset", help="Only decisions about this dataset (store/asset).")
@click.option("--user", help="Only decisions for this user.")
@click.option("--limit", type=int, default=50, show_default=True)
@pass_meshkit
def audit_command(mk, dataset, user, limit) -> None:
    """Show the audit log of decisions, newest first."""
    from meshkit.governance import audit

    view = fitting_table("at", "user", "role", "purpose", "channel", "dataset", "decision", "actions")
    for row in audit.entries(mk.metadata.engine, dataset=dataset, user=user, limit=limit):
        actions = ", ".join(
            f"{a['type']}({a.get('column') or a.get('predicate')})" for a in row["actions"] or []
        )
        view.add_row(f"{row['at']:%Y-%m-%d %H:%M:%S}", row["user"] or "", row["role"] or "", row["purpose"] or "",
                     row["channel"], row["dataset"], "allow" if row["allowed"] else "deny", actions)  # fmt: skip
    console.print(view)


@hookimpl
def register_commands(cli):
    cli.add_command(policy_group)
