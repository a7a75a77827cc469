"""Bad input through the command line: a clear error naming the file, line or column, never a traceback.

Each case writes a few files into a fresh workspace, runs one command and expects its exit code and
the words that say where the problem is. Adding a case is adding one ``Case``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from meshkit.testing import run_cli

BAD = b"# caf\xe9\n"  # Latin-1, not UTF-8: byte 0xe9 at column 6


@dataclass
class Case:
    id: str
    files: dict[str, bytes]
    #: Command-line arguments; ``{root}`` is the workspace folder.
    args: list[str]
    exit_code: int
    #: Words the error output must hold (file and line, column or row, key).
    expected: list[str] = field(default_factory=list)


TRANSFER = b"apiVersion: meshkit/v1\nkind: BatchTransfer\n"
PRODUCT = b"name: p\nversion: 1.0.0\n"
REGO = b"package meshkit.access\n\n"
STEP_SEND = b"""def run(job_input):
    job_input.send_tabular_data_for_ingestion([(1, 2), (2, 2**70)], ["id", "n"], "big")
"""
STEP_KEYS = b"""def run(job_input):
    job_input.send_object_for_ingestion({"id": 1}, "keys")
    job_input.send_object_for_ingestion({"id": 2, 7: "x"}, "keys")
"""

CASES = [
    Case("transfer-spec-not-utf8", {"transfers/t.yaml": TRANSFER + BAD}, ["transfer", "apply", "{root}/transfers/t.yaml"],
         2, ["t.yaml:3", "byte 0xe9", "column 6", "UTF-8"]),
    Case("meshkit-toml-not-utf8", {"meshkit.toml": b"[workspace]\nname = 'x'\n" + BAD}, ["runs"],
         2, ["meshkit.toml:3", "byte 0xe9", "UTF-8"]),
    Case("config-ini-not-utf8", {"jobs/j/config.ini": b"[owner]\n" + BAD, "jobs/j/10_a.sql": b"select 1;\n"},
         ["run", "j"], 2, ["config.ini:2", "byte 0xe9", "UTF-8"]),
    Case("product-yaml-not-utf8", {"products/p.yaml": PRODUCT + BAD}, ["product", "lint", "p"],
         2, ["p.yaml:3", "byte 0xe9", "UTF-8"]),
    Case("rego-not-utf8", {"policies/a.rego": REGO + BAD + b"default allow := true\n"}, ["policy", "test"],
         2, ["a.rego:3", "byte 0xe9", "UTF-8"]),
    Case("job-sql-not-utf8", {"jobs/j/10_a.sql": b"select 1;\n" + BAD}, ["run", "j"],
         2, ["10_a.sql:2", "byte 0xe9", "UTF-8"]),
    Case("model-sql-not-utf8", {"models/m.sql": b"select 1 as x\n" + BAD.replace(b"#", b"--")}, ["build"],
         2, ["m.sql:2", "byte 0xe9", "UTF-8"]),
    Case("ingested-int-too-large", {"jobs/j/10_send.py": STEP_SEND}, ["run", "j"],
         1, ["`big`", "Column `n`", "row 2", "1180591620717411303424", "decimal.Decimal"]),
    Case("ingested-dict-with-non-string-key", {"jobs/j/10_send.py": STEP_KEYS}, ["run", "j"],
         1, ["`keys`", "Object 2", "key 7 (int)", "must be strings"]),
    Case("db-default-type-unknown", {"jobs/j/config.ini": b"[vdk]\ndb_default_type = oracle\n",
                                     "jobs/j/10_a.sql": b"select 1;\n"}, ["run", "j"],
         2, ["config.ini:2", "`db_default_type = oracle`", "postgres", "mariadb"]),
    Case("db-default-type-typo", {"jobs/j/config.ini": b"[vdk]\ndb_default_type = postgresq\n",
                                  "jobs/j/10_a.sql": b"select 1;\n"}, ["run", "j"],
         2, ["config.ini:2", "Did you mean `postgresql`?"]),
    Case("store-type-unknown", {"meshkit.toml": b"[workspace]\nname = 'x'\n\n[stores.ops]\ndsn = 'env:X'\ntype = 'postgress'\n"},
         ["runs"], 2, ["meshkit.toml:6", "Store `ops`", "`postgress`", "Did you mean `postgres`?"]),
    Case("store-type-missing", {"meshkit.toml": b"[workspace]\nname = 'x'\n\n[stores.ops]\npath = 'x.db'\n"},
         ["runs"], 2, ["meshkit.toml", "Store `ops` has no `type`", "sqlite"]),
    Case("batch-rows-zero", {"meshkit.toml": b"[config]\ningest_batch_rows = 0\n"}, ["runs"],
         2, ["meshkit.toml", "`ingest_batch_rows`", "between 1 and 100,000,000", "not 0"]),
    Case("port-out-of-range", {"meshkit.toml": b"[config]\nserve_port = 70000\n"}, ["runs"],
         2, ["meshkit.toml", "`serve_port`", "between 0 and 65,535"]),
    Case("timeout-negative", {"meshkit.toml": b"[config]\nnotify_timeout = -1.5\n"}, ["runs"],
         2, ["`notify_timeout`", "not -1.5"]),
    Case("concurrency-absurd-in-job-config", {"jobs/j/config.ini": b"[meshkit]\nconnection_retries = 100000\n",
                                              "jobs/j/10_a.sql": b"select 1;\n"}, ["run", "j"],
         2, ["config.ini", "`connection_retries`", "between 0 and 100"]),
    Case("store-option-out-of-range", {"meshkit.toml": b"[stores.ops]\ntype = 'postgres'\nretries = -1\n"
                                                       b"dsn = 'postgresql://u@127.0.0.1:1/db'\n",
                                       "jobs/j/config.ini": b"[vdk]\ndb_default_type = ops\n",
                                       "jobs/j/10_a.sql": b"select 1;\n"}, ["run", "j"],
         2, ["Option `retries` of store `ops`", "between 0 and 100", "not -1"]),
    Case("retries-not-a-number", {}, ["-c", "connection_retries=lots", "runs"],
         2, ["`connection_retries`", "command line", "must be int"]),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_a_clear_error(workspace, case):
    for name, content in case.files.items():
        path = workspace.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    result = run_cli([arg.format(root=workspace.root) for arg in case.args], workspace=workspace.root)
    output = result.stdout + result.stderr
    assert result.exit_code == case.exit_code, output
    assert "Traceback" not in output and "Internal error" not in output, output
    for words in case.expected:
        assert words in output, f"{words!r} not in: {output}"
