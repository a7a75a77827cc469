"""The example plugin of docs/plugins.md works: its own tests pass with it registered, not installed.

``examples/plugins/meshkit-hello`` is put on ``sys.path`` and named in ``MESHKIT_PLUGINS`` (which
``run_cli(plugins=...)`` sets), so nothing is installed.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plugins" / "meshkit-hello"


def _example_tests():
    spec = importlib.util.spec_from_file_location(
        "meshkit_hello_example_tests", EXAMPLE / "tests" / "test_hello.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXAMPLE_TESTS = _example_tests()


@pytest.mark.parametrize(
    "name", [n for n, f in inspect.getmembers(EXAMPLE_TESTS, inspect.isfunction) if n.startswith("test_")]
)
def test_example_plugin(name, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    getattr(EXAMPLE_TESTS, name)(tmp_path)


def test_entry_point_is_declared():
    import tomllib

    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["meshkit.plugins"] == {"hello": "meshkit_hello"}
