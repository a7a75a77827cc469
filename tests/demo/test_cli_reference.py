"""docs/reference/cli.md holds the ``--help`` of every command, exactly."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("gen_cli_reference", DOCS / "gen_cli_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_command_help_matches_the_reference():
    from meshkit.cli.main import build_cli

    gen = _generator()
    documented = gen.cli_sections((DOCS / "reference" / "cli.md").read_text())
    group = build_cli()
    paths = gen.command_paths(group)
    commands = {" ".join(("meshkit", *path)): path for path in paths}
    assert len(commands) > 20
    missing = sorted(set(commands) - set(documented))
    stale = sorted(set(documented) - set(commands))
    assert not missing, f"undocumented commands {missing}: run python docs/gen_cli_reference.py"
    assert not stale, (
        f"documented commands that no longer exist {stale}: run python docs/gen_cli_reference.py"
    )
    differ = [title for title, path in commands.items() if gen.help_text(group, path) != documented[title]]
    assert not differ, (
        f"--help differs from docs/reference/cli.md for {differ}: run python docs/gen_cli_reference.py"
    )


@pytest.mark.parametrize("path", [("demo", "run"), ("demo", "generate")])
def test_help_matches_what_the_command_line_prints(path):
    """The reference shows what a user's terminal shows (80 columns)."""
    from meshkit.testing import run_cli

    gen = _generator()
    documented = gen.cli_sections((DOCS / "reference" / "cli.md").read_text())
    result = run_cli([*path, "--help"], env={"COLUMNS": gen.COLUMNS})
    assert result.exit_code == 0
    assert result.stdout.rstrip() + "\n" == documented[" ".join(("meshkit", *path))]
