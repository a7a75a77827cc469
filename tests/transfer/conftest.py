"""Fixtures of the transfer tests: a workspace with named stores."""

from __future__ import annotations

import pytest


@pytest.fixture
def stores(workspace):
    """Declare the stores of the tests in the workspace's meshkit.toml; returns a function adding more."""
    path = workspace.root / "meshkit.toml"

    def declare(name: str, **options) -> None:
        lines = [f"\n[stores.{name}]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in options.items()]
        path.write_text(path.read_text() + "\n".join(lines) + "\n")

    declare("lake", type="files", path="lake")
    declare("lite", type="sqlite", path="lite.db")
    return declare


@pytest.fixture
def open_mk(workspace, stores):
    """``open_mk()``: a ``Meshkit`` on the workspace once its stores are declared (closed afterwards)."""
    from meshkit.testing import plugin_workspace

    opened = []

    def make():
        instance = plugin_workspace(workspace.root)
        opened.append(instance)
        return instance

    yield make
    for instance in opened:
        instance.close()
