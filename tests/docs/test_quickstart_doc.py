"""The quickstart's own-workspace section, run command by command as a new user types it."""

import re
import shlex
from pathlib import Path

from meshkit.testing import run_cli

QUICKSTART = Path(__file__).parents[2] / "docs" / "quickstart.md"


def own_workspace_commands() -> list[tuple[str, str]]:
    """``(command, comment)`` of the bash block of the section "Your own workspace"."""
    section = QUICKSTART.read_text().split("## 5. Your own workspace", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [(line.partition("#")[0].strip(), line.partition("#")[2]) for line in block.splitlines()]


def test_every_command_of_the_own_workspace_section_does_what_it_says(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = own_workspace_commands()
    assert len(commands) >= 12
    for command, comment in commands:
        args = shlex.split(command)
        if args[0] == "cd":
            monkeypatch.chdir(args[1])
            continue
        assert args[0] == "meshkit", command
        result = run_cli(args[1:])
        if "denied" in comment:
            assert result.exit_code == 1, command
            assert "add to a policies/*.rego file" in result.stderr and 'team == "bi"' in result.stderr
        else:
            assert result.exit_code == 0, f"{command}: {result.output}"
        if "reads its own data" in comment:
            assert "3 row(s)" in result.stdout
    denied = next(shlex.split(c)[1:] for c, comment in commands if "denied" in comment)
    section = QUICKSTART.read_text().split("## 5. Your own workspace", 1)[1]
    grant = re.search(r"```rego\n(.*?)```", section, re.S).group(1)
    with Path("policies/access.rego").open("a") as rego:
        rego.write(grant)
    assert run_cli(denied).exit_code == 0
