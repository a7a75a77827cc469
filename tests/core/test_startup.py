"""Start-up cost: ``meshkit --version`` and ``--help`` load only what lists the commands."""

import importlib
import json
import subprocess
import sys

import pytest

from meshkit.cli.main import build_cli
from meshkit.core.plugins import BUILTIN_PLUGINS, COMMAND_PLUGINS

ENGINES = ("duckdb", "pyarrow", "sqlalchemy", "pandas", "sqlglot", "psycopg", "pymysql", "alembic", "fastapi")
PROBE = (
    "import json, sys\n"
    "from meshkit.cli.main import main\n"
    "code = main(sys.argv[2:])\n"
    "print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))\n"
)


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"], []])
def test_version_and_help_import_no_engine(args, tmp_path):
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(ENGINES), *args],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    )  # fmt: skip
    *shown, imported = done.stdout.strip().splitlines()
    assert json.loads(imported) == []
    assert "meshkit" in "\n".join(shown) + done.stderr


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
        "pm = build_plugin_manager(load_entrypoints=False)\n"
        "later = ('psycopg', 'pymysql', 'jinja2', 'meshkit.data.transfer.runner', 'meshkit.models.models')\n"
        "print(json.dumps([m for m in later if m in sys.modules]))\n"
        "types = {cls.type for group in pm.hook.register_store_types() for cls in group}\n"
        "from meshkit.models import BuildOptions\n"
        "from meshkit.data.transfer import run_transfer\n"
        "print(json.dumps(sorted(types)), 'psycopg' in sys.modules, BuildOptions.__module__, run_transfer.__module__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    at_start, used = done.stdout.strip().splitlines()
    assert json.loads(at_start) == []
    assert used == (
        '["duckdb", "files", "iceberg", "kafka", "mysql", "nats", "postgres", "postgres_cdc", "sqlite"] True '
        "meshkit.models.runner meshkit.data.transfer.runner"
    )
