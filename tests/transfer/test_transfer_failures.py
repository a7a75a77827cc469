"""Bad inputs fail clearly, end Fatal or Failed, and leave the destination as it was."""

from __future__ import annotations

import pyarrow as pa
import pytest
from transfer_helpers import ORDERS, spec_yaml, transfer

from meshkit.core.errors import ConfigError, TransientError
from meshkit.data.transfer import load_transfer


def destination_rows(mk):
    return sorted(mk.store("lite").read("orders").read_all().to_pylist(), key=lambda r: r["id"])


@pytest.fixture
def mk(open_mk):
    instance = open_mk()
    instance.store("warehouse").write("orders", ORDERS)
    instance.store("lite").write("orders", ORDERS.slice(0, 2))
    return instance


@pytest.mark.parametrize(("name", "source", "asset", "dest", "transformation", "error", "message"), [
    ("unknown-store", "warehouse", "orders", "nosuch", "", ConfigError, "Unknown store `nosuch`"),
    ("missing-table", "warehouse", "nope", "lite", "", ConfigError, "`nope` does not exist"),
    ("bad-predicate", "warehouse", "orders", "lite",
     "  transformation:\n  - {action: Filter, options: {predicate: 'amount >> '}}\n", ConfigError,
     "invalid predicate `amount >>`"),
    ("unknown-column", "warehouse", "orders", "lite",
     "  transformation:\n  - {action: Digest, columns: [ssn]}\n", ConfigError, "column(s) ssn not found"),
])  # fmt: skip
def test_bad_inputs_are_fatal_and_leave_the_destination(
    mk, name, source, asset, dest, transformation, error, message
):
    before = destination_rows(mk)
    result = transfer(mk, spec_yaml(name, source, asset, dest, "orders", transformation=transformation))
    assert result.status["phase"] == "Fatal"
    assert isinstance(result.error, error)
    assert message in result.status["error"]
    assert result.status["attempts"] == 1
    assert "Traceback" not in result.status["error"]
    assert destination_rows(mk) == before
    assert mk.runs.get(result.status["runId"]).status == "user_error"


def test_schema_conflict_is_fatal_before_writing(mk):
    mk.store("warehouse").write("conflict", ORDERS.set_column(0, "id", pa.array(["a", "b", "c", "d", "e"])))
    before = destination_rows(mk)
    result = transfer(mk, spec_yaml("conflict", "warehouse", "conflict", "lite", "orders", mode="append"))
    assert result.status["phase"] == "Fatal"
    assert "Schema conflict: column `id`" in result.status["error"]
    assert destination_rows(mk) == before


def test_wrong_password_is_fatal_and_never_shown(open_mk, stores, mysql_dsn, mysql_db):
    stores("maria", type="mysql", dsn=f"mysql://root:Sup3rSecretPw@127.0.0.1:3306/{mysql_db}")
    mk = open_mk()
    result = transfer(mk, spec_yaml("bad-login", "maria", "orders", "lite", "orders"))
    assert result.status["phase"] == "Fatal"
    assert isinstance(result.error, ConfigError)
    assert "Sup3rSecretPw" not in str(result.status) and "Sup3rSecretPw" not in str(result.error)
    assert "refused" in result.status["error"].lower() or "denied" in result.status["error"].lower()


def test_unreachable_server_is_retried_then_failed(open_mk, stores):
    stores(
        "down", type="postgres", dsn="postgresql://postgres@127.0.0.1:1/test", retries=0, connect_timeout=1
    )
    mk = open_mk()
    result = transfer(mk, spec_yaml("down", "down", "orders", "lite", "orders"))
    assert result.status["phase"] == "Failed"
    assert isinstance(result.error, TransientError)
    assert result.status["attempts"] == 2  # maxFailedRetries: 1
    assert mk.runs.get(result.status["runId"]).status == "platform_error"


@pytest.mark.parametrize(("text", "message", "line"), [
    ("kind: BatchTransfer\nmetadata: {name: x}\nspec:\n  source: [unclosed\n", "Malformed YAML", ":5:"),
    ("kind: BatchTransfer\nmetadata: {name: x}\nspec:\n  source: {store: a, asset: b}\n"
     "  destination: {store: c, asset: d, mode: upsert}\n", "spec.destination.mode", ":5"),
    ("kind: BatchTransfer\nmetadata: {name: x}\nspec:\n  source: {store: a, asset: b}\n"
     "  destination: {store: c, asset: d}\n  maxFailedRetrys: 2\n", "spec.maxFailedRetrys: unknown field", ":6"),
    ("kind: SyncTransfer\nmetadata: {name: x}\nspec:\n  source: {store: a, asset: b}\n"
     "  destination: {store: c, asset: d, mode: overwrite}\n", "spec.destination.mode", ":5"),
])  # fmt: skip
def test_malformed_specs_name_the_field_and_line(tmp_path, text, message, line):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_transfer(path)
    assert message in str(info.value)
    assert f"{path}{line}" in str(info.value)


def test_cli_reports_errors_with_exit_codes(mk, cli, workspace):
    path = workspace.root / "bad.yaml"
    path.write_text(spec_yaml("cli-bad", "warehouse", "nope", "lite", "orders"))
    result = cli("transfer", "apply", str(path))
    assert result.exit_code == 2  # a spec naming a table that is not there, like an unknown store or column
    assert "Fatal" in result.output and "`nope` does not exist" in result.output
    assert "Traceback" not in result.output
    (workspace.root / "broken.yaml").write_text("kind: [\n")
    assert cli("transfer", "apply", str(workspace.root / "broken.yaml")).exit_code == 2
    assert cli("transfer", "status", "never-ran").exit_code == 2
