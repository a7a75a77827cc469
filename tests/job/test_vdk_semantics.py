"""VDK's semantics of template results, error classes and ``destination_table=None``."""

import textwrap

import pytest

from meshkit.core.hookspecs import hookimpl
from meshkit.job.runner import run_job
from meshkit.testing import plugin_workspace


class Templates:
    """Registers the templates under ``root``."""

    def __init__(self, root):
        self.root = root

    @hookimpl
    def register_templates(self):
        return {p.name: p for p in self.root.iterdir()}


class BrokenBackends:
    """Properties and secrets backends whose service is down."""

    class Down:
        def __init__(self, meshkit):
            pass

        def get_all(self, scope, *more):
            raise ConnectionError("properties service at 127.0.0.1:9 refused the connection")

        get = set_all = get_all

    @hookimpl
    def register_properties_backends(self):
        return {"down": self.Down}

    @hookimpl
    def register_secrets_backends(self):
        return {"down": self.Down}


def write(folder, files):
    folder.mkdir(parents=True)
    for name, text in files.items():
        (folder / name).write_text(textwrap.dedent(text))


@pytest.fixture
def templates(tmp_path):
    root = tmp_path / "templates"
    write(root / "fails", {"10_step.py": """
        def run(job_input):
            raise ValueError(f"bad input {job_input.get_arguments()['n']}")
    """})  # fmt: skip
    write(root / "works", {"10_a.sql": "SELECT 1", "20_b.py": "def run(job_input):\n    pass\n"})
    return Templates(root)


def test_execute_template_returns_vdks_execution_result(workspace, templates):
    write(workspace.root / "jobs" / "j", {"10_call.py": """
        def run(job_input):
            result = job_input.execute_template("works", {}, database="default")
            assert result.is_success() and not result.is_failed()
            assert result.get_exception_to_raise() is None and result.get_blamee() is None
            assert [s.name for s in result.steps_list] == ["10_a.sql", "20_b.py"]
            assert result.data_job_name == "works" and result.execution_id
            assert result.start_time <= result.end_time
            job_input.send_object_for_ingestion({"id": result.execution_id}, destination_table="seen")
    """})  # fmt: skip
    with plugin_workspace(workspace.root, [templates]) as mk:
        result = run_job(mk, "j", console=False)
        assert result.ok, result.error
        [(child_id,)] = mk.store("duckdb").connect().execute("SELECT id FROM seen").fetchall()
        assert mk.runs.get(child_id).kind == "template"


def test_a_templates_exception_is_raised_as_its_own_type(workspace, templates):
    write(workspace.root / "jobs" / "j", {"10_call.py": """
        def run(job_input):
            try:
                job_input.execute_template("fails", {"n": 42})
            except ValueError as exc:
                job_input.send_object_for_ingestion({"caught": str(exc)}, destination_table="caught")
    """})  # fmt: skip
    with plugin_workspace(workspace.root, [templates]) as mk:
        result = run_job(mk, "j", console=False)
        assert result.ok, result.error
        assert mk.store("duckdb").connect().execute("SELECT caught FROM caught").fetchall() == [
            ("bad input 42",)
        ]
        child = mk.runs.list(kind="template", limit=1)[0]
        assert child.status == "user_error"


def test_an_uncaught_template_exception_fails_the_step_as_the_users_error(workspace, templates):
    write(workspace.root / "jobs" / "j", {"10_call.py": """
        def run(job_input):
            job_input.execute_template("fails", {"n": 7})
    """})  # fmt: skip
    with plugin_workspace(workspace.root, [templates]) as mk:
        result = run_job(mk, "j", console=False)
    assert result.status == "user_error"
    assert result.error.cause_type == "ValueError" and "bad input 7" in result.error.message
    assert result.error.exit_code == 1


@pytest.mark.parametrize(
    "call",
    [
        "job_input.get_property('x')",
        "job_input.set_all_properties({'x': 1})",
        "job_input.get_secret('x')",
        "job_input.get_all_secrets()",
    ],
)
def test_a_failing_properties_or_secrets_backend_is_a_platform_error(workspace, call):
    write(workspace.root / "jobs" / "j", {"10_read.py": f"def run(job_input):\n    {call}\n"})
    overrides = {"properties_backend": "down", "secrets_backend": "down"}
    with plugin_workspace(workspace.root, [BrokenBackends()], **overrides) as mk:
        result = run_job(mk, "j", console=False)
    assert result.status == "platform_error"
    assert result.error.exit_code == 3
    assert (
        "backend `down` failed" in result.error.message and "refused the connection" in result.error.message
    )


def test_a_plugins_initialize_job_failure_is_a_platform_error(workspace):
    class Broken:
        @hookimpl
        def initialize_job(self, context):
            raise RuntimeError("plugin bug")

    write(workspace.root / "jobs" / "j", {"10_q.sql": "SELECT 1"})
    with plugin_workspace(workspace.root, [Broken()]) as mk:
        result = run_job(mk, "j", console=False)
    assert result.status == "platform_error" and result.error.exit_code == 3


def test_no_destination_table_for_a_store_is_the_users_error(workspace):
    write(workspace.root / "jobs" / "j", {"10_send.py": """
        def run(job_input):
            job_input.send_object_for_ingestion({"a": 1}, destination_table=None)
    """})  # fmt: skip
    with plugin_workspace(workspace.root) as mk:
        result = run_job(mk, "j", console=False)
    assert result.status == "user_error"
    assert "No destination table" in str(result.error) and "warehouse" in str(result.error)
