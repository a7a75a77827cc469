"""Start-up cost: ``meshkit --version`` and ``--help`` load only what lists the commands, an empty job's
run loads no engine, and plugins import store drivers, engines and transforms on first use."""

import importlib
import json
import subprocess
import sys

import pytest

from meshkit.cli.main import build_cli
from meshkit.core.plugins import BUILTIN_PLUGINS, COMMAND_PLUGINS, build_plugin_manager
from meshkit.core.registry import Registries
from meshkit.core.workspace import init_workspace

ENGINES = ("duckdb", "pyarrow", "sqlalchemy", "pandas", "sqlglot", "psycopg", "pymysql", "alembic", "fastapi",
           "pydantic", "pyspark", "openlineage")  # fmt: skip
#: What an empty job's run needs none of (it needs SQLAlchemy: the runs are recorded in the metadata database),
#: its output piped (a terminal's spinners need ``rich.progress``).
NOT_FOR_AN_EMPTY_RUN = (
    "duckdb", "pyarrow", "numpy", "pandas", "polars", "pyspark", "sqlglot", "psycopg", "pymysql", "fastapi",
    "jinja2", "pydantic", "openlineage", "regopy", "meshkit.data.transforms", "meshkit.data.stores.duckdb",
    "rich.progress",
)  # fmt: skip
#: What a transfer that transforms nothing, its output piped, needs none of: the transforms' own modules and
#: what they import.
NOT_FOR_A_PLAIN_TRANSFER = (
    "alembic", "cryptography", "pyarrow.compute", "rich.progress", "pandas", "polars", "pyspark", "jinja2", "fastapi", "openlineage",
    "regopy", "psycopg", "pymysql", "meshkit.data.transforms.columns", "meshkit.data.transforms.encrypt",
    "meshkit.data.transforms.masking", "meshkit.data.transforms.rows",
)  # fmt: skip
PROBE = (
    "import json, sys\n"
    "from meshkit.cli.main import main\n"
    "code = main(sys.argv[2:])\n"
    "print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))\n"
)


def probe(args: list[str], cwd, watched=ENGINES) -> tuple[list[str], list[str]]:
    """``(output lines, watched modules imported)`` of ``meshkit ARGS`` run in a fresh process."""
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(watched), *args], cwd=cwd,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    *shown, imported = done.stdout.strip().splitlines()
    return [*shown, *done.stderr.splitlines()], json.loads(imported)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], []])
def test_version_and_help_import_no_engine(args, tmp_path):
    # nor importlib.metadata: no installed distribution declares a meshkit plugin
    shown, imported = probe(args, tmp_path, (*ENGINES, "importlib.metadata"))
    assert imported == []
    assert "meshkit" in "\n".join(shown)


@pytest.fixture
def workspace(tmp_path):
    root = tmp_path / "ws"
    init_workspace(root)
    for job, step in (("empty", ("10_step.py", "def run(job_input):\n    pass\n")),
                      ("query", ("10_select.sql", "select 1 as one\n"))):  # fmt: skip
        (root / "jobs" / job).mkdir(parents=True)
        (root / "jobs" / job / step[0]).write_text(step[1])
    return root


def test_an_empty_job_run_imports_no_engine(workspace):
    shown, imported = probe(["run", "empty"], workspace, NOT_FOR_AN_EMPTY_RUN)
    assert "succeeded" in "\n".join(shown)
    assert imported == []
    # the first run migrated the metadata database; the next one only reads its revision
    _, imported = probe(["run", "empty"], workspace, ("alembic", "mako", *NOT_FOR_AN_EMPTY_RUN))
    assert imported == []


def test_a_transfer_without_transforms_imports_none(workspace, monkeypatch):
    import pyarrow as pa

    from meshkit.testing import plugin_workspace

    mk = plugin_workspace(workspace)
    mk.store("warehouse").write("tiny_src", pa.table({"x": [1]}), mode="overwrite")
    assert mk.metadata is not None  # migrated now: a later start only checks the revision
    mk.close()
    transfer = (
        "kind: BatchTransfer\nmetadata: {name: tiny}\nspec:\n  source: {store: warehouse, asset: tiny_src}\n"
    )
    (workspace / "tiny.yaml").write_text(transfer + "  destination: {store: warehouse, asset: tiny_copy}\n")
    (workspace / "masked.yaml").write_text(
        transfer.replace("tiny}", "masked}") + "  destination: {store: warehouse, asset: masked_copy}\n"
        "  transformation: [{action: Encrypt, columns: [x], options: {key: env:MK_KEY}}]\n"
    )
    shown, imported = probe(["transfer", "apply", "tiny.yaml"], workspace, NOT_FOR_A_PLAIN_TRANSFER)
    assert "Succeeded" in "\n".join(shown)
    assert imported == []
    # the other side: a transfer that encrypts imports its transform
    monkeypatch.setenv("MK_KEY", "k3y-for-tests")
    _, imported = probe(["transfer", "apply", "masked.yaml"], workspace, NOT_FOR_A_PLAIN_TRANSFER)
    assert {"cryptography", "meshkit.data.transforms.encrypt"} <= set(imported)


def test_a_job_that_runs_sql_imports_its_engine(workspace):
    # the other side of the test above: the probe sees what a run really imports
    _, imported = probe(["run", "query"], workspace, NOT_FOR_AN_EMPTY_RUN)
    assert "duckdb" in imported and "meshkit.data.stores.duckdb" in imported


def test_command_plugins_are_the_builtins_that_add_commands():
    adding = {name for name in BUILTIN_PLUGINS if hasattr(importlib.import_module(name), "register_commands")}
    assert adding == set(COMMAND_PLUGINS)


def test_help_lists_the_same_commands_as_a_full_start(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    listed = build_cli(["--help"]).commands
    full = build_cli(["runs"]).commands
    assert sorted(listed) == sorted(full)
    assert {"run", "transfer", "build", "query"} <= set(listed)


def test_plugins_load_no_store_driver_nor_model_engine_until_used():
    probe = (
        "import json, sys\n"
        "from meshkit.core.plugins import build_plugin_manager\n"
        "from meshkit.core.registry import Registries\n"
        "pm = build_plugin_manager(load_entrypoints=False)\n"
        "later = ('duckdb', 'pyarrow', 'psycopg', 'pymysql', 'jinja2', 'sqlglot', 'meshkit.data.transfer.runner',\n"
        "         'meshkit.models.models', 'meshkit.data.transforms')\n"
        "registries = Registries(pm)\n"
        "types = sorted(registries.get('store_types'))\n"
        "actions = sorted(registries.get('transforms'))\n"
        "print(json.dumps([m for m in later if m in sys.modules]))\n"
        "postgres = registries.get('store_types')['postgres']\n"
        "from meshkit.models import BuildOptions\n"
        "from meshkit.data.transfer import run_transfer\n"
        "print(json.dumps(types), 'psycopg' in sys.modules, BuildOptions.__module__, run_transfer.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    at_start, used = done.stdout.strip().splitlines()
    assert json.loads(at_start) == []
    assert used == (
        '["duckdb", "files", "iceberg", "kafka", "mysql", "nats", "postgres", "postgres_cdc", "sqlite"] True '
        "meshkit.models.runner meshkit.data.transfer.runner"
    )


def test_deferred_builtins_resolve_to_the_classes_they_name():
    from meshkit.data.transforms import BUILTIN_TRANSFORMS
    from meshkit.job.template_arguments import ARGUMENTS
    from meshkit.job.templates import BUILTIN_TEMPLATES

    registries = Registries(build_plugin_manager(load_entrypoints=False))
    for kind in ("store_types", "engines"):
        entries = registries.get(kind)
        assert {name: cls.type for name, cls in entries.items()} == {name: name for name in entries}
    assert dict(registries.get("transforms")) == {cls.action: cls for cls in BUILTIN_TRANSFORMS}
    assert tuple(ARGUMENTS) == BUILTIN_TEMPLATES


def test_lazy_import_imports_nothing_until_an_attribute_is_read():
    code = (
        "import sys\n"
        "from meshkit.core.lazy import lazy_import\n"
        "ds = lazy_import('pyarrow.dataset')\n"
        "before = 'pyarrow' in sys.modules\n"
        "ds.dataset\n"
        "print(before, 'pyarrow.dataset' in sys.modules, ds.partitioning is sys.modules['pyarrow.dataset'].partitioning)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]


def test_declared_entry_points_are_seen_without_importlib_metadata(tmp_path, monkeypatch):
    from meshkit.core.plugins import declares_entry_points

    monkeypatch.syspath_prepend(str(tmp_path))
    assert not declares_entry_points("meshkit.startup_probe")
    dist = tmp_path / "meshkit_extra-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text(
        "[console_scripts]\nx = y:z\n\n[ meshkit.startup_probe ]\nextra = extra\n"
    )
    assert declares_entry_points("meshkit.startup_probe")  # the folder changed: looked at again
    assert not declares_entry_points("vdk.plugin.run")


def test_loading_pauses_the_collector_and_freezes_only_while_its_own_process_starts():
    code = (
        "import gc\n"
        "from meshkit.core.lazy import loading, own_process, work_started\n"
        "with loading():\n"
        "    paused = not gc.isenabled()\n"
        "    kept = [[] for _ in range(1000)]\n"
        "before = (paused, gc.isenabled(), gc.get_freeze_count())\n"
        "own_process()\n"
        "with loading():\n"
        "    kept = [[] for _ in range(1000)]\n"
        "gc.disable()\n"
        "with loading():\n"
        "    pass\n"
        "owned = (gc.isenabled(), gc.get_freeze_count() >= 1000)\n"
        "gc.enable()\n"
        "work_started()  # then garbage the work makes is never frozen\n"
        "frozen = gc.get_freeze_count()\n"
        "with loading():\n"
        "    fresh = [[] for _ in range(1000)]\n"
        "print(*before, *owned, gc.get_freeze_count() == frozen)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True", "True", "0", "False", "True", "True"]
