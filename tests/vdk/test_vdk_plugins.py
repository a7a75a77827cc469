"""A VDK plugin written as VDK's plugin guide shows, installed with pip, runs in meshkit unchanged.

The plugin (``tests/plugins/vdk-mkcheck``) declares the ``vdk.plugin.run`` entry point, imports
``vdk.api.plugin.hook_markers`` (VDK is not installed: meshkit stands in for it), implements every
hook meshkit relays and uses the template, connection and ingester registries. It writes what it
saw to a JSON lines file the tests read.
"""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN_SOURCE = Path(__file__).parents[1] / "plugins" / "vdk-mkcheck"


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory):
    """A folder the plugin is pip-installed into (``pip install --target``)."""
    source = tmp_path_factory.mktemp("source") / "vdk-mkcheck"
    shutil.copytree(PLUGIN_SOURCE, source)
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                             str(source)], capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"pip install of the VDK plugin failed:\n{result.stdout}\n{result.stderr}")
    return target


@pytest.fixture
def run_meshkit(workspace, plugin_path):
    """Run the ``meshkit`` command line in a process that sees the installed plugin."""
    events = workspace.root / "events.jsonl"

    def run(*args, **env):
        environ = {k: v for k, v in os.environ.items() if not k.startswith(("VDK_", "MESHKIT_"))}
        environ.update(PYTHONPATH=str(plugin_path), VDK_MK_EVENTS_FILE=str(events), **env)
        command = [str(Path(sys.executable).with_name("meshkit")), *args]
        return subprocess.run(
            command, cwd=workspace.root, env=environ, capture_output=True, text=True, timeout=300
        )

    def read_events():
        return [json.loads(line) for line in events.read_text().splitlines()]

    run.events = read_events
    return run


def write_job(workspace, name, files):
    job = workspace.root / "jobs" / name
    job.mkdir(parents=True)
    for filename, text in files.items():
        (job / filename).write_text(textwrap.dedent(text))


JOB = {
    "config.ini": """
        [vdk]
        db_default_type = SQLITE
        mk_greeting = hi from config.ini
        mk_retries = 3
        ingest_payload_preprocess_sequence = mk-upper
        ingest_payload_postprocess_sequence = mk-upper

        [vdk_side]
        sqlite_file = side.db
    """,
    "10_create.sql": "[mkdb]\nCREATE TABLE source AS SELECT 1 AS id, 'placeholder' AS name",
    "20_use.py": """
        def run(job_input):
            rows = job_input.execute_query("SELECT 'placeholder'", database="MKDB")
            assert rows == [("decorated",)], rows
            try:
                job_input.execute_query("DROP TABLE protected", database="mkdb")
            except Exception as exc:
                assert "mkcheck refuses" in str(exc), exc
            else:
                raise AssertionError("the plugin did not refuse the operation")
            result = job_input.execute_template("mk/copy", {"source": "source", "target": "copied"}, database="mkdb")
            assert not result.is_failed() and result.is_success(), result
            assert result.get_exception_to_raise() is None
            job_input.send_object_for_ingestion({"name": "anna"}, destination_table=None, method="mk-collect")
            job_input.send_tabular_data_for_ingestion([("bob",)], ["name"], destination_table="people",
                                                      method="MK-COLLECT")
    """,
}


def test_vdk_plugin_installed_with_pip_uses_every_hook(workspace, run_meshkit):
    write_job(workspace, "vdkjob", JOB)
    result = run_meshkit("run", "vdkjob")
    assert result.returncode == 0, result.stdout + result.stderr
    events = run_meshkit.events()
    names = [e["event"] for e in events]

    # command line: vdk_start registered a plugin, vdk_configure declared keys read from config.ini
    assert "registered_vdk_initialize" in names and "vdk_initialize" in names
    init = next(e for e in events if e["event"] == "initialize_job")
    assert init["greeting"] == "hi from config.ini" and init["retries"] == 3
    assert init["db_default_type"] == "sqlite" and init["started"] == "yes" and init["execution_id"]
    assert "side" in init["sections"] and init["section_file"] == "side.db"
    assert names[-1] == "vdk_exit" and events[-1]["exit_code"] == 0

    # job run: the wrapper saw VDK's ExecutionResult; run_step saw each step, the template's too
    assert names.index("run_job_before") < names.index("run_step") < names.index("run_job_after")
    after = [e for e in events if e["event"] == "run_job_after"]
    assert {e["result"] for e in after} == {"ExecutionResult"} and all(e["success"] for e in after)
    assert [e["name"] for e in events if e["event"] == "run_step"] == [
        "10_create.sql",
        "20_use.py",
        "10_copy.sql",
        "zz_added_by_plugin",
    ]
    assert [e["name"] for e in events if e["event"] == "finalize_job"] == ["vdkjob"]

    # managed connection: a plugin connection, an operation rewritten, one refused and reported
    executed = [e["operation"] for e in events if e["event"] == "executed"]
    assert executed.count("CREATE") == 3 and "SELECT" in executed
    assert [e["exception"] for e in events if e["event"] == "operation_failed"] == []
    with sqlite3.connect(workspace.root / "mk.db") as con:
        # the rewrite applies to every operation, the SQL step's too
        assert con.execute("SELECT id, name FROM copied").fetchall() == [(1, "decorated")]
        assert con.execute("SELECT name FROM added").fetchall() == [("zz_added_by_plugin",)]

    # ingestion: the plugin's method took both payloads (no destination for the first), pre- and
    # post-processed by another plugin ingester
    collected = [json.loads(line) for line in (workspace.root / "collected.jsonl").read_text().splitlines()]
    assert sorted(collected, key=lambda r: r["name"]) == [
        {"table": None, "name": "ANNA"},
        {"table": "people", "name": "BOB"},
    ]
    post = [e for e in events if e["event"] == "post_ingest_process"]
    assert len(post) == 2 and all(e["metadata"] == {"rows": 1} for e in post)


def test_validate_refusal_is_reported_to_the_failure_hook(workspace, run_meshkit):
    write_job(workspace, "refused", {"10_drop.sql": "[mkdb]\nDROP TABLE protected"})
    result = run_meshkit("run", "refused")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "mkcheck refuses to drop the protected table" in result.stderr
    names = [e["event"] for e in run_meshkit.events()]
    assert "executed" not in names and names[-1] == "vdk_exit"
    assert run_meshkit.events()[-1]["exit_code"] == 1


def test_failed_operation_is_reported_to_the_failure_hook(workspace, run_meshkit):
    write_job(workspace, "bad", {"10_bad.sql": "[mkdb]\nSELECT * FROM missing_table"})
    result = run_meshkit("run", "bad")
    assert result.returncode == 1
    failed = [e for e in run_meshkit.events() if e["event"] == "operation_failed"]
    assert failed and failed[0]["operation"].startswith("SELECT * FROM missing_table")


@pytest.mark.parametrize("hook", ["initialize_job", "run_step"])
def test_a_plugin_failing_in_a_job_hook_is_a_platform_error_naming_it(workspace, run_meshkit, hook):
    write_job(workspace, "j", {"config.ini": f"[vdk]\nmk_fail_in = {hook}\n", "10_q.sql": "SELECT 1"})
    result = run_meshkit("run", "j")
    assert result.returncode == 3, result.stdout + result.stderr
    output = " ".join(result.stderr.split())
    assert f"VDK plugin `vdk-mkcheck` failed in `{hook}`" in output
    assert f"mkcheck was told to fail in {hook}" in output
    assert run_meshkit.events()[-1] == {"event": "vdk_exit", "exit_code": 3}
    runs = json.loads(run_meshkit("runs", "--json").stdout)
    assert runs[0]["status"] == "platform_error"
