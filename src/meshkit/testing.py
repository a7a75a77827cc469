"""Helpers for testing meshkit plugins and workspaces.

``run_cli`` runs the ``meshkit`` command in-process and captures what it prints; ``plugin_workspace``
gives a fresh workspace whose ``Meshkit`` instance has your plugin registered. A plugin's test is
then a few lines::

    def test_my_store(tmp_path):
        run_cli(["init", str(tmp_path)])
        result = run_cli(["plugins"], workspace=tmp_path, plugins=["my_plugin"])
        assert result.exit_code == 0
        assert "my_plugin" in result.stdout
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from meshkit.core.context import Meshkit
from meshkit.core.workspace import WORKSPACE_FILE, Workspace, init_workspace


@dataclass
class CliResult:
    """Outcome of ``run_cli``."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@contextlib.contextmanager
def _plugins_env(plugins: Iterable[str]) -> Iterator[None]:
    names = [p for p in plugins]
    if not names:
        yield
        return
    old = os.environ.get("MESHKIT_PLUGINS")
    os.environ["MESHKIT_PLUGINS"] = ",".join([*(old.split(",") if old else []), *names])
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MESHKIT_PLUGINS", None)
        else:
            os.environ["MESHKIT_PLUGINS"] = old


def run_cli(args: list[str], *, workspace: str | Path | None = None, plugins: Iterable[str] = (),
            env: dict[str, str] | None = None) -> CliResult:  # fmt: skip
    """Run ``meshkit ARGS`` in this process against ``workspace`` and capture its output.

    ``plugins`` are module names registered for this call (as ``MESHKIT_PLUGINS`` does).
    """
    from meshkit.cli.main import main

    argv = ([f"--workspace={workspace}"] if workspace is not None else []) + list(args)
    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        with _plugins_env(plugins), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return CliResult(code, out.getvalue(), err.getvalue())


def plugin_workspace(path: str | Path, plugins: Iterable[object | str] = (), **overrides) -> Meshkit:
    """A ``Meshkit`` on a fresh workspace at ``path`` with ``plugins`` registered."""
    path = Path(path)
    workspace = Workspace.load(path) if (path / WORKSPACE_FILE).exists() else init_workspace(path)
    return Meshkit(workspace, plugins=plugins, overrides=overrides or None)
