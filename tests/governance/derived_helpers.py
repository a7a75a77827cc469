"""Datasets derived from governed customers by a job, a transfer and a model, and one from an unclassified source.

``make_derived`` works on any customers table: ``columns`` says which of its columns play the
parts the derivations name (``id``, ``name``, ``email``, ``region``, ``score``).
"""

from __future__ import annotations

from string import Template

from meshkit.testing import run_cli

#: The parts as the customers of ``conftest`` name them.
COLUMNS = {"id": "id", "name": "name", "email": "email", "region": "region", "score": "score"}

JOB_STEP = """\
def run(job_input):
    rows = job_input.execute_query("SELECT * FROM $source")
    job_input.send_tabular_data_for_ingestion(rows, $names, "$target")
"""
TRANSFER = """\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata: {name: copy-customers}
spec:
  source: {store: warehouse, asset: $source}
  destination: {store: warehouse, asset: customers_by_transfer, mode: overwrite}
  transformation:
    - {name: rename, action: Rename, options: {$email: contact_email}}
"""
SOURCES = """\
version: 2
sources:
  - name: crm
    schema: main
    tables: [{name: $source}, {name: customers_by_transfer}]
"""
TABLE = "{{ config(materialized='table') }}\n"
MODELS = {
    "customer_contacts.sql": TABLE + "select $id, $name, $email, $region from {{ source('crm', '$source') }}",
    # A view, as dbt materializes by default: its SQL names "warehouse"."main"."<source>".
    "contact_view.sql": "select $id, $email, $region from {{ source('crm', '$source') }}",
    # Computed columns: tags follow the columns they are computed from.
    "email_facts.sql": TABLE
    + "select $id, split_part($email, '@', 2) as domain, length($email) as email_length, "
    "upper($region) as area from {{ source('crm', '$source') }}",
    # Two hops: tags travel from the customers through the transfer's output.
    "transferred_contacts.sql": TABLE
    + "select $id, contact_email, $score from {{ source('crm', 'customers_by_transfer') }}",
}


def _job(root, name: str, source: str, names: list[str], target: str, team: str) -> None:
    folder = root / "jobs" / name
    folder.mkdir(parents=True)
    (folder / "config.ini").write_text(f"[owner]\nteam = {team}\n")
    step = Template(JOB_STEP).substitute(source=source, names=repr(names), target=target)
    (folder / "10_copy.py").write_text(step)


def make_derived(mk, source: str = "customers", columns: dict[str, str] = COLUMNS) -> None:
    """Run the job, the transfer and the models that derive datasets from ``warehouse/<source>``.

    ``crm_raw_copy`` is derived by the ``bi`` team's job from ``crm_raw``, a table nobody classified.
    """
    root = mk.workspace.root
    warehouse = mk.store("warehouse")
    table = warehouse.read(source).read_all()
    warehouse.write("crm_raw", table, mode="overwrite")
    _job(root, "copy_customers", source, table.schema.names, "customers_by_job", "crm")
    _job(root, "copy_raw", "crm_raw", table.schema.names, "crm_raw_copy", "bi")
    values = {"source": source, **columns}
    (root / "transfers").mkdir(exist_ok=True)
    (root / "transfers" / "copy.yaml").write_text(Template(TRANSFER).substitute(values))
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "sources.yml").write_text(Template(SOURCES).substitute(values))
    for name, sql in MODELS.items():
        (root / "models" / name).write_text(Template(sql).substitute(values) + "\n")
    for args in (["run", "jobs/copy_customers"], ["run", "jobs/copy_raw"], ["transfer", "apply", str(root / "transfers" / "copy.yaml")],
                 ["build"]):  # fmt: skip
        result = run_cli(args, workspace=root)
        assert result.exit_code == 0, result.output
