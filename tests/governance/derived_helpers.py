"""Datasets derived from the governed customers by a job, a transfer and a model, and one from an unclassified source."""

from __future__ import annotations

import textwrap

from meshkit.testing import run_cli

JOB_STEP = """\
def run(job_input):
    rows = job_input.execute_query("SELECT * FROM {source}")
    job_input.send_tabular_data_for_ingestion(rows, ["id", "name", "email", "region", "score"], "{target}")
"""
TRANSFER = """\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata: {name: copy-customers}
spec:
  source: {store: warehouse, asset: customers}
  destination: {store: warehouse, asset: customers_by_transfer, mode: overwrite}
  transformation:
    - {name: rename, action: Rename, options: {email: contact_email}}
"""
SOURCES = """\
version: 2
sources:
  - name: crm
    schema: main
    tables: [{name: customers}, {name: customers_by_transfer}]
"""
TABLE = "{{ config(materialized='table') }}\n"
MODELS = {
    "customer_contacts.sql": TABLE + "select id, name, email, region from {{ source('crm', 'customers') }}",
    # A view, as dbt materializes by default: its SQL names "warehouse"."main"."customers".
    "contact_view.sql": "select id, email, region from {{ source('crm', 'customers') }}",
    # Computed columns: tags follow the columns they are computed from.
    "email_facts.sql": TABLE
    + "select id, split_part(email, '@', 2) as domain, length(email) as email_length, "
    "upper(region) as area from {{ source('crm', 'customers') }}",
    # Two hops: tags travel from customers through the transfer's output.
    "transferred_contacts.sql": TABLE
    + "select id, contact_email, score from {{ source('crm', 'customers_by_transfer') }}",
}


def _job(root, name: str, source: str, target: str, team: str) -> None:
    folder = root / "jobs" / name
    folder.mkdir(parents=True)
    (folder / "config.ini").write_text(f"[owner]\nteam = {team}\n")
    (folder / "10_copy.py").write_text(JOB_STEP.format(source=source, target=target))


def make_derived(mk) -> None:
    """Run the job, the transfer and the models that derive datasets from ``warehouse/customers``.

    ``crm_raw_copy`` is derived by the ``bi`` team's job from ``crm_raw``, a table nobody classified.
    """
    root = mk.workspace.root
    mk.store("warehouse").write(
        "crm_raw", mk.store("warehouse").read("customers").read_all(), mode="overwrite"
    )
    _job(root, "copy_customers", "customers", "customers_by_job", "crm")
    _job(root, "copy_raw", "crm_raw", "crm_raw_copy", "bi")
    (root / "transfers").mkdir(exist_ok=True)
    (root / "transfers" / "copy.yaml").write_text(TRANSFER)
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "sources.yml").write_text(SOURCES)
    for name, sql in MODELS.items():
        (root / "models" / name).write_text(textwrap.dedent(sql) + "\n")
    for args in (["run", "jobs/copy_customers"], ["run", "jobs/copy_raw"], ["transfer", "apply", str(root / "transfers" / "copy.yaml")],
                 ["build"]):  # fmt: skip
        result = run_cli(args, workspace=root)
        assert result.exit_code == 0, result.output
