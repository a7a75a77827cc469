import sys
import textwrap

import pytest

import meshkit
from meshkit.core.errors import PluginError
from meshkit.core.plugins import BUILTIN_PLUGINS, build_plugin_manager
from meshkit.core.registry import Registries
from meshkit.core.workspace import init_workspace
from meshkit.testing import plugin_workspace, run_cli


def test_builtins_are_registered_like_any_plugin():
    pm = build_plugin_manager(load_entrypoints=False)
    names = {name for name, _ in pm.list_name_plugin()}
    assert set(BUILTIN_PLUGINS) <= names
    store_types = Registries(pm).get("store_types")
    assert {"duckdb", "sqlite"} <= set(store_types)
    assert store_types["sqlite"].type == "sqlite"


def test_misspelled_hook_fails_at_startup():
    class Broken:
        @meshkit.hookimpl
        def regster_store_types(self):
            return []

    with pytest.raises(PluginError, match="regster_store_types"):
        build_plugin_manager([Broken()], load_entrypoints=False)


def test_unknown_plugin_module_is_named():
    with pytest.raises(PluginError, match="no_such_plugin_mod"):
        build_plugin_manager(["no_such_plugin_mod"], load_entrypoints=False)


def test_plugin_adds_config_key_and_step_type(tmp_path):
    from meshkit.job.steps import StepType

    seen = []

    class TxtSteps:
        @meshkit.hookimpl
        def configure(self, config):
            config.add("greeting", "hi", "what .txt steps say")

        @meshkit.hookimpl
        def register_step_types(self):
            def run(context, step):
                seen.append((step.name, context.meshkit.config.get("greeting")))

            return [StepType(".txt", run)]

    mk = plugin_workspace(tmp_path / "ws", [TxtSteps()], greeting="hello")
    job = mk.workspace.root / "jobs" / "j"
    job.mkdir(parents=True)
    (job / "10_say.txt").write_text("x")
    from meshkit.job.runner import run_job

    result = run_job(mk, "j", console=False)
    assert result.ok, result.error
    assert seen == [("10_say.txt", "hello")]
    mk.close()


def test_entry_point_plugins_are_discovered_and_listed(tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "mk_demo_plugin-1.2.dist-info").mkdir(parents=True)
    (site / "mk_demo_plugin-1.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: mk-demo-plugin\nVersion: 1.2\n"
    )
    (site / "mk_demo_plugin-1.2.dist-info" / "entry_points.txt").write_text(
        "[meshkit.plugins]\ndemo = mk_demo_plugin\n"
    )
    (site / "mk_demo_plugin.py").write_text(
        textwrap.dedent("""
        import meshkit

        @meshkit.hookimpl
        def configure(config):
            config.add("demo_flag", "on", "a key from an installed plugin")
    """)
    )
    monkeypatch.syspath_prepend(str(site))
    init_workspace(tmp_path / "ws")
    try:
        result = run_cli(["plugins"], workspace=tmp_path / "ws")
        assert result.exit_code == 0, result.output
        assert "mk-demo-plugin 1.2" in result.stdout.replace("\n", " ")
        result = run_cli(["config"], workspace=tmp_path / "ws")
        assert "demo_flag" in result.stdout
    finally:
        sys.modules.pop("mk_demo_plugin", None)


def test_workspace_plugins_load_from_the_workspace_folder(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli(["init", str(ws)]).exit_code == 0
    (ws / "meshkit.toml").write_text('[workspace]\nname = "ws"\nplugins = ["localplug"]\n')
    (ws / "localplug.py").write_text(
        textwrap.dedent("""
        import click
        import meshkit

        @click.command()
        def greet():
            click.echo("hello from a workspace plugin")

        @meshkit.hookimpl
        def register_commands(cli):
            cli.add_command(greet)
    """)
    )
    try:
        result = run_cli(["greet"], workspace=ws)
        assert result.exit_code == 0, result.output
        assert "hello from a workspace plugin" in result.stdout
        assert run_cli(["greet"], workspace=tmp_path).exit_code == 2  # other workspaces do not have it
    finally:
        sys.modules.pop("localplug", None)
