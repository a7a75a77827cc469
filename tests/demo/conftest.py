"""Fixtures of the demo tests: the demo run once for the whole session."""

from __future__ import annotations

import pytest

from meshkit.testing import run_cli


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """The demo run once at scale 0.05 (2,500 pizzas a day): the CLI result and the workspace."""
    workspace = tmp_path_factory.mktemp("demo") / "smartpizza"
    result = run_cli(
        ["demo", "run", "--scale", "0.05", "--workspace", str(workspace)], env={"COLUMNS": "140"}
    )
    return result, workspace
