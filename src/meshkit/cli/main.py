"""The ``meshkit`` command line: a click group whose commands come from plugins.

Errors end the process with the exit code of their class (0 ok, 1 user error, 2 config or usage
error, 3 platform error) and a short message; meshkit's own traceback shows only with ``--debug``.
"""

from __future__ import annotations

import functools
import sys

import click
from rich.console import Console
from rich.markup import escape

from meshkit import __version__
from meshkit.core.config import parse_overrides
from meshkit.core.errors import MeshkitError, PlatformError, StepFailedError
from meshkit.core.lazy import loading, own_process

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class CliState:
    """Options of the root command; builds the ``Meshkit`` instance on first use."""

    def __init__(self, workspace: str | None, overrides: tuple[str, ...], debug: bool, pm=None):
        self.workspace_path = workspace
        self.overrides = parse_overrides(overrides)
        self.debug = debug
        self.pm = pm
        self._meshkit = None

    @property
    def meshkit(self):
        if self._meshkit is None:
            from meshkit.core.context import Meshkit
            from meshkit.core.workspace import Workspace

            workspace = Workspace.require(self.workspace_path)
            with loading():
                self._meshkit = Meshkit(workspace, overrides=self.overrides, pm=self.pm)
        return self._meshkit

    def close(self) -> None:
        if self._meshkit is not None:
            self._meshkit.close()


def pass_meshkit(func):
    """Decorator: call the command with the ``Meshkit`` instance as first argument."""

    @functools.wraps(func)
    @click.pass_obj
    def wrapper(state: CliState, *args, **kwargs):
        return func(state.meshkit, *args, **kwargs)

    return wrapper


def _root(ctx: click.Context, workspace: str | None, overrides: tuple[str, ...], debug: bool) -> None:
    """meshkit: data jobs, transfers, models, products and governance, from one workspace."""
    # `main` passes the plugin manager that built the commands as `obj`: one per process is enough
    ctx.obj = CliState(workspace, overrides, debug, pm=ctx.obj)
    ctx.call_on_close(ctx.obj.close)


def make_root() -> click.Group:
    """A fresh root group (no commands yet), so each call of ``main`` sees only its own plugins."""
    command = click.pass_context(_root)
    for decorator in (
        click.option("--debug", is_flag=True, help="Show meshkit's own tracebacks on errors."),
        click.option("-c", "--config", "overrides", multiple=True, metavar="KEY=VALUE",
                     help="Override a config key (repeatable)."),
        click.option("-w", "--workspace", type=click.Path(file_okay=False),
                     help="Workspace folder (default: found from the current folder)."),
        click.version_option(__version__, prog_name="meshkit"),
    ):  # fmt: skip
        command = decorator(command)
    return click.group(name="meshkit", context_settings={"help_option_names": ["-h", "--help"]})(command)


def _names_command(argv: list[str]) -> bool:
    """Whether ``argv`` names a command (not only root options such as ``--help`` or ``--version``)."""
    args = iter(argv)
    for arg in args:
        if arg in ("-w", "--workspace", "-c", "--config"):
            next(args, None)
        elif not arg.startswith("-"):
            return True
    return False


def _workspace_arg(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-w", "--workspace") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--workspace="):
            return arg.split("=", 1)[1]
    return None


def build_cli(argv: list[str] | None = None) -> click.Group:
    """The root group with the commands of every plugin, the workspace's own plugins included."""
    return _build(argv)[0]


def _build(argv: list[str] | None):
    argv = argv or []
    if "--version" in argv and not _names_command(argv) and not {"-h", "--help"} & set(argv):
        return make_root(), None  # the version needs no command, so no plugin either
    from meshkit.core.plugins import build_plugin_manager
    from meshkit.core.workspace import Workspace

    workspace = Workspace.find(_workspace_arg(argv))
    # without a command, nothing opens the workspace: the plugins that add commands are enough
    pm = build_plugin_manager(workspace.local_plugins(), commands_only=not _names_command(argv))
    root = make_root()
    pm.hook.register_commands(cli=root)
    return root, pm


def render_error(exc: MeshkitError) -> None:
    """Print an error the way a user should read it: what, where, what to do."""
    if isinstance(exc, StepFailedError):
        err_console.print(f"[bold red]Step failed:[/] {exc.step}")
        err_console.print("Traceback (your code):", style="dim")
        for filename, lineno, func, line in exc.frames:
            err_console.print(f'  File "{filename}", line {lineno}, in {func}', markup=False)
            if line:
                err_console.print(f"    {line}", markup=False)
        err_console.print(f"{exc.cause_type}: {exc.message}", markup=False)
        return
    err_console.print(f"[bold red]Error:[/] {escape(str(exc))}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns (and exits with) the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    pm = None
    try:
        with loading():
            group, pm = _build(argv)
        # NOTE: without standalone mode, click returns the code of `click.exceptions.Exit` instead of raising it.
        returned = group.main(args=argv, prog_name="meshkit", standalone_mode=False, obj=pm)
        code = returned if isinstance(returned, int) else 0
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        err_console.print("Aborted.")
        code = 1
    except click.ClickException as exc:
        exc.show()
        code = 2
    except MeshkitError as exc:
        if debug:
            err_console.print_exception()
        render_error(exc)
        code = exc.exit_code
    except KeyboardInterrupt:
        err_console.print("Interrupted.")
        code = 130
    except Exception as exc:  # an error of meshkit itself
        if debug:
            err_console.print_exception()
        else:
            err = PlatformError(
                f"Internal error: {type(exc).__name__}: {exc}.", hint="Run again with --debug for details."
            )
            render_error(err)
        code = 3
    if pm is not None:
        pm.hook.shutdown(meshkit=None, exit_code=code)
    return code


def run() -> None:
    """The ``meshkit`` process (its script and ``python -m meshkit``): :func:`main`, then exit with its code."""
    own_process()
    sys.exit(main())
