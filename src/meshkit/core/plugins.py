"""Build a plugin manager: meshkit's built-in plugins, then installed ones, then local ones.

Built-ins are registered exactly like third-party plugins. Third-party plugins are found through
the ``meshkit.plugins`` entry-point group; local ones are module names listed in
``meshkit.toml`` (``[workspace] plugins = [...]``) or in ``MESHKIT_PLUGINS`` (comma-separated).
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import sys
from collections.abc import Iterable
from types import ModuleType

import pluggy

from meshkit.core import hookspecs
from meshkit.core.errors import PluginError

ENTRY_POINT_GROUP = "meshkit.plugins"

BUILTIN_PLUGINS = (
    "meshkit.core.settings",
    "meshkit.data.stores.plugin",
    "meshkit.engines.plugin",
    "meshkit.data.ingest",
    "meshkit.job.steps",
    "meshkit.job.runner",
    "meshkit.job.connection",
    "meshkit.job.templates",
    "meshkit.job.properties",
    "meshkit.job.secrets",
    "meshkit.job.notebook",
    "meshkit.vdk.runtime",
    "meshkit.cli.commands",
    # job runtime (more)
    "meshkit.cli.properties",
    "meshkit.cli.secrets",
    # transfers and transforms
    "meshkit.data.builtin_transforms",
    "meshkit.data.transfer",
    "meshkit.cli.transfer",
    "meshkit.cli.store",
    "meshkit.cli.profile",
    "meshkit.cli.docs",
    # models and checks
    "meshkit.models.settings",
    "meshkit.quality.checks",
    "meshkit.cli.models",
    # control service
    "meshkit.service.configuration",
    "meshkit.service.executors.local",
    "meshkit.service.executors.kubernetes",
    "meshkit.service.notifications",
    "meshkit.cli.service",
    # catalog, products and governance
    "meshkit.catalog.plugin",
    "meshkit.service.catalog",
    "meshkit.lineage.openlineage",
    "meshkit.governance.settings",
    "meshkit.cli.catalog",
    "meshkit.cli.product",
    "meshkit.cli.query",
    "meshkit.cli.policy",
    "meshkit.cli.serve",
    # exporters
    "meshkit.deploy",
    "meshkit.deploy.airflow",
    "meshkit.deploy.argo",
    "meshkit.deploy.kubernetes",
    "meshkit.cli.export",
    # demo
    "meshkit.cli.demo",
    # pipelines
    "meshkit.pipelines.vdk_dag",
    "meshkit.service.pipelines",
    "meshkit.cli.pipeline",
)
#: The built-ins that add commands: all of them, and only them, live in ``meshkit.cli``. Enough for
#: ``meshkit --help`` and ``--version``, which then never import the stores' engines.
COMMAND_PLUGINS = tuple(name for name in BUILTIN_PLUGINS if name.startswith("meshkit.cli."))


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise PluginError(
            f"Cannot import plugin `{name}`: {exc}.",
            plugin=name,
            hint="Install it or remove it from the plugin list.",
        ) from None


_SECTION = re.compile(r"^\s*\[\s*([^\]]+?)\s*\]", re.MULTILINE)


def declares_entry_points(group: str) -> bool:
    """Whether an installed distribution may declare entry points of ``group``.

    A glance at each ``entry_points.txt`` of ``sys.path``, much cheaper than importing
    ``importlib.metadata``: a process whose distributions declare none never imports it.
    """
    folders = []
    for entry in sys.path:
        try:
            folders.append((entry or ".", os.stat(entry or ".").st_mtime_ns))
        except OSError:
            continue
    groups = _entry_point_groups(tuple(folders))
    return groups is None or group in groups


@functools.lru_cache(maxsize=4)
def _entry_point_groups(folders: tuple[tuple[str, int], ...]) -> frozenset[str] | None:
    # NOTE: keyed by the folders' modification times, which an install or uninstall changes
    groups: set[str] = set()
    for folder, _ in folders:
        if os.path.isfile(folder):  # a zip archive: importlib.metadata looks inside
            return None
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.endswith((".dist-info", ".egg-info")):
                try:
                    with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as f:
                        groups.update(_SECTION.findall(f.read()))
                except OSError:  # no entry points, or an egg-info file
                    continue
    return frozenset(groups)


_prebuilt: pluggy.PluginManager | None = None


def prebuild() -> None:
    """Register the built-in and installed plugins now; the next :func:`build_plugin_manager` takes them.

    For a process that forks many short ones (the local executor's zygote): each child then skips
    the registration, and still gets a manager of its own.
    """
    global _prebuilt
    _prebuilt = _installed(load_entrypoints=True)


def _installed(load_entrypoints: bool, builtins: tuple[str, ...] = BUILTIN_PLUGINS) -> pluggy.PluginManager:
    pm = pluggy.PluginManager("meshkit")
    pm.add_hookspecs(hookspecs)
    for name in builtins:
        pm.register(_import(name), name=name)
    if load_entrypoints and declares_entry_points(ENTRY_POINT_GROUP):
        try:
            pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        except Exception as exc:  # a broken third-party package must not hide which one it is
            raise PluginError(f"Cannot load a `{ENTRY_POINT_GROUP}` entry point: {exc}.") from None
    return pm


def build_plugin_manager(
    extra: Iterable[object | str] = (), *, load_entrypoints: bool = True, commands_only: bool = False
) -> pluggy.PluginManager:
    """A fresh plugin manager with built-ins, entry points, ``MESHKIT_PLUGINS`` and ``extra``.

    ``extra`` holds plugin objects or module names (workspace plugins, test plugins).
    ``commands_only`` leaves out the built-ins in no ``COMMAND_PLUGINS``: enough to list the commands,
    never to open a workspace.
    """
    global _prebuilt
    if commands_only:
        pm = _installed(load_entrypoints, COMMAND_PLUGINS)
    elif _prebuilt is not None and load_entrypoints:
        pm, _prebuilt = _prebuilt, None
    else:
        pm = _installed(load_entrypoints)
    names = [n.strip() for n in os.environ.get("MESHKIT_PLUGINS", "").split(",") if n.strip()]
    for plugin in [*names, *extra]:
        obj = _import(plugin) if isinstance(plugin, str) else plugin
        if not pm.is_registered(obj):
            pm.register(obj, name=plugin if isinstance(plugin, str) else None)
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(
            str(exc), plugin=str(exc.plugin), hint="Check the hook name against `docs/hooks.md`."
        ) from None
    return pm


def describe_plugins(pm: pluggy.PluginManager) -> list[tuple[str, str, list[str]]]:
    """``(name, origin, hooks)`` for every registered plugin, for ``meshkit plugins``."""
    dists = {id(plugin): dist for plugin, dist in pm.list_plugin_distinfo()}
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = dists.get(id(plugin))
        origin = (
            f"{dist.project_name} {dist.version}"
            if dist
            else ("builtin" if name in BUILTIN_PLUGINS else "local")
        )
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        rows.append((name, origin, hooks))
    return rows
