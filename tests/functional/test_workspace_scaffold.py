"""A new user's own workspace: commands outside one, `meshkit init` examples, `meshkit create`, query."""

import json

import pytest

from meshkit.testing import run_cli

#: Commands that need a workspace, with the arguments a user would give them.
NEEDS_WORKSPACE = [
    ["run", "hello"], ["build"], ["runs"], ["config"], ["check"], ["create", "job", "hello"],
    ["create", "model", "m"], ["transfer", "apply", "cities.yaml"], ["query", "select 1"],
    ["policy", "test"], ["product", "lint"], ["catalog", "search", "x"], ["plugins"],
]  # fmt: skip


@pytest.mark.parametrize("args", NEEDS_WORKSPACE, ids=" ".join)
def test_a_command_outside_a_workspace_fails_and_creates_nothing(tmp_path, monkeypatch, args):
    monkeypatch.chdir(tmp_path)
    result = run_cli(args)
    assert result.exit_code == 2, result.output
    assert f"{tmp_path} is not in a meshkit workspace" in result.stderr
    assert "meshkit init" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_explicit_folder_that_is_no_workspace_fails_too(tmp_path):
    result = run_cli(["build"], workspace=tmp_path)
    assert result.exit_code == 2 and "not in a meshkit workspace" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_subfolder_of_a_workspace_is_in_it(tmp_path, monkeypatch):
    assert run_cli(["init", str(tmp_path / "ws")]).exit_code == 0
    monkeypatch.chdir(tmp_path / "ws" / "models")
    assert run_cli(["runs"]).exit_code == 0


@pytest.fixture
def ws(tmp_path):
    result = run_cli(["init", str(tmp_path / "ws")])
    assert result.exit_code == 0, result.output
    return tmp_path / "ws"


def ok(ws, *args):
    args = [str(ws / a) if a.startswith("transfers/") else a for a in args]
    result = run_cli(args, workspace=ws)
    assert result.exit_code == 0, f"meshkit {' '.join(args)}: {result.output}"
    return result


def test_init_writes_a_working_example_in_every_folder(ws):
    for folder in ("jobs", "transfers", "models", "products", "checks", "policies", "pipelines"):
        assert any((ws / folder).iterdir()), folder
    assert "meshkit pipeline run cities" in (ws / "pipelines" / "cities.yaml").read_text()
    assert "10 rows written" in ok(ws, "run", "greetings").stdout
    assert "Succeeded" in ok(ws, "transfer", "apply", "transfers/cities.yaml").stdout
    built = ok(ws, "build").stdout
    assert "Completed successfully" in built and "4 nodes" in built
    assert "2 checks, 0 failed" in ok(ws, "check").stdout
    assert "ok population.yaml" in ok(ws, "product", "lint").stdout
    assert "Published population 1.0.0" in ok(ws, "product", "publish", "population").stdout
    assert "2 passed, 0 failed" in ok(ws, "policy", "test").stdout
    rows = ok(ws, "query", "--format", "json", "select * from country_population order by country").stdout
    assert [json.loads(line)["population"] for line in rows.splitlines()] == [3984000, 516000, 777000]


def test_create_scaffolds_each_kind_and_each_runs(ws):
    ok(ws, "transfer", "apply", "transfers/cities.yaml")
    for kind in ("transfer", "model", "product", "check"):
        assert f"Created {kind} mine" in ok(ws, "create", kind, "mine").stdout
    assert "asset: mine," in (ws / "transfers" / "mine.yaml").read_text()
    assert "Succeeded" in ok(ws, "transfer", "apply", "transfers/mine.yaml").stdout
    ok(ws, "build", "--select", "mine")
    assert "Published mine 1.0.0" in ok(ws, "product", "publish", "mine").stdout
    assert "4 checks, 0 failed" in ok(ws, "check").stdout
    again = run_cli(["create", "model", "mine"], workspace=ws)
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert run_cli(["create", "check", "bad name"], workspace=ws).exit_code == 2


def test_the_owner_reads_a_new_job_output_and_another_team_gets_how_to_grant(ws):
    ok(ws, "create", "job", "hello")
    ok(ws, "run", "hello")
    rows = ok(ws, "query", "--format", "json", "select * from greetings").stdout.splitlines()
    assert len(rows) == 10
    denied = run_cli(
        ["query", "-u", "eve", "-r", "engineer", "-t", "sales", "select * from greetings"], workspace=ws
    )
    assert denied.exit_code == 1
    message = " ".join(denied.stderr.split())
    assert "Access to `warehouse/greetings` denied for user=eve" in message
    assert (
        'add to a policies/*.rego file (package meshkit.access): `allow if input.subject.team == "sales"`'
        in message
    )
    assert '`allow_unclassified if input.subject.team == "sales"`' in message


def test_following_the_grant_hint_grants_access(ws):
    ok(ws, "run", "greetings")
    other = [
        "query",
        "-u",
        "eve",
        "-r",
        "engineer",
        "-t",
        "sales",
        "--format",
        "json",
        "select * from greetings",
    ]
    assert run_cli(other, workspace=ws).exit_code == 1
    with (ws / "policies" / "access.rego").open("a") as rego:
        rego.write(
            'allow if input.subject.team == "sales"\nallow_unclassified if input.subject.team == "sales"\n'
        )
    assert len(ok(ws, *other).stdout.splitlines()) == 10


def test_a_role_without_the_purpose_is_told_where_purposes_are_declared(ws):
    ok(ws, "run", "greetings")
    denied = run_cli(["query", "-r", "marketer", "select * from greetings"], workspace=ws)
    assert denied.exit_code == 1
    message = " ".join(denied.stderr.split())
    assert (
        'declare the purpose for the role in policies/purposes.json: {"purposes": {"analytics": ' in message
    )
    assert '"roles": ["marketer"]' in message
