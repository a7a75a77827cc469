"""The BatchTransfer spec, its published JSON Schema, and the ``meshkit transfer`` commands."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import yaml
from transfer_helpers import ORDERS, spec_yaml

from meshkit.data.transfer import json_schema, parse_transfer
from meshkit.data.transfer.spec import schema_text

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "batchtransfer.schema.json"

FYBRIK_STYLE = """\
apiVersion: fybrik.io/v1
kind: BatchTransfer
metadata:
  name: copy1
  namespace: myNamespace
spec:
  source:
    store: {type: postgres, host: db1, user: myuser, password: {vaultPath: /myvault/db2Password}}
    dataAsset: public.customers
  destination:
    store: lake
    dataAsset: customers
    format: parquet
  transformation:
  - name: "Remove column A"
    action: "RemoveColumn"
    columns: ["A"]
  - name: "Digest column B"
    action: "Digest"
    columns: ["B"]
    options:
      algo: "md5"
  schedule: null
  maxFailedRetries: 3
  suspend: false
  successfulJobsHistoryLimit: 2
  failedJobsHistoryLimit: 5
"""


def test_the_published_schema_is_up_to_date():
    assert SCHEMA_FILE.read_text() == schema_text(), "regenerate docs/schemas/batchtransfer.schema.json"


def test_fybrik_shaped_spec_validates_with_model_and_schema():
    transfer = parse_transfer(FYBRIK_STYLE)
    assert transfer.spec.source.asset == "public.customers"
    assert transfer.spec.transformation[1].options == {"algo": "md5"}
    assert transfer.spec.successful_jobs_history_limit == 2
    jsonschema.validate(yaml.safe_load(FYBRIK_STYLE), json_schema())


def test_schema_rejects_what_the_model_rejects():
    bad = yaml.safe_load(FYBRIK_STYLE.replace("maxFailedRetries: 3", "maxFailedRetries: -3"))
    errors = list(jsonschema.Draft202012Validator(json_schema()).iter_errors(bad))
    assert errors and "maxFailedRetries" in str(errors[0].path)


def test_cli_apply_status_and_list(mk, cli, workspace):
    (workspace.root / "meshkit.toml").write_text(
        (workspace.root / "meshkit.toml").read_text() + '\n[stores.lake]\ntype = "files"\npath = "lake"\n'
    )
    mk.store("warehouse").write("orders", ORDERS)
    mk.close()
    path = workspace.root / "transfers" / "orders.yaml"
    path.parent.mkdir()
    path.write_text(spec_yaml("orders-to-lake", "warehouse", "orders", "lake", "orders.parquet"))
    dry = cli("transfer", "apply", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "plan duckdb table -> parquet COPY" in dry.output
    assert not (workspace.root / "lake" / "orders.parquet").exists()
    applied = cli("transfer", "apply", str(path))
    assert applied.exit_code == 0, applied.output
    assert "Succeeded" in applied.output and re.search(r"records\s+5\b", applied.output), applied.output
    status = cli("transfer", "status", "orders-to-lake", "--json")
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["phase"] == "Succeeded" and data["numRecords"] == 5
    assert [h["phase"] for h in data["history"]] == ["Succeeded"]
    assert {c["name"] for c in data["destination"]["schema"]} == set(ORDERS.schema.names)
    listed = cli("transfer", "list")
    assert "orders-to-lake" in listed.stdout and "Succeeded" in listed.stdout
