"""Let existing VDK jobs and plugins import ``vdk.api`` when VDK itself is not installed.

Besides ``vdk.api``, the few ``vdk.internal`` modules plugins import for their annotations
(``ConfigurationBuilder``, ``JobContext``...) resolve to meshkit's. A ``vdk`` namespace package
that VDK plugins install (``vdk/plugin/...``) keeps working: only missing modules are stood in for.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

#: VDK module -> the meshkit module that stands in for it.
ALIASES = {
    "vdk.api.job_input": "meshkit.api.job_input",
    "vdk.api.plugin.hook_markers": "meshkit.vdk.hook_markers",
    "vdk.api.plugin.plugin_registry": "meshkit.vdk.plugin_registry",
    "vdk.api.plugin.plugin_input": "meshkit.vdk.plugin_input",
    "vdk.api.plugin.core_hook_spec": "meshkit.vdk.hookspecs",
    "vdk.api.plugin.connection_hook_spec": "meshkit.vdk.hookspecs",
    "vdk.internal.core.config": "meshkit.vdk.config",
    "vdk.internal.core.context": "meshkit.vdk.context",
    "vdk.internal.core.statestore": "meshkit.vdk.context",
    "vdk.internal.builtin_plugins.run.job_context": "meshkit.vdk.context",
    "vdk.internal.builtin_plugins.run.step": "meshkit.vdk.context",
    "vdk.internal.builtin_plugins.run.execution_results": "meshkit.vdk.results",
    "vdk.internal.builtin_plugins.connection.decoration_cursor": "meshkit.vdk.connection",
    "vdk.internal.builtin_plugins.connection.execution_cursor": "meshkit.vdk.connection",
}
PACKAGES = tuple(sorted({name.rsplit(".", i)[0] for name in ALIASES for i in range(1, name.count(".") + 1)}))


class _VdkFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in ALIASES or fullname in PACKAGES:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in PACKAGES)
        return None

    def create_module(self, spec):
        if spec.name in ALIASES:
            return importlib.import_module(ALIASES[spec.name])
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        """Aliases are already executed; package stand-ins are empty."""


_FINDER = _VdkFinder()


def install() -> None:
    """Install the aliases unless VDK itself (``vdk.api``) is importable (idempotent)."""
    if _FINDER in sys.meta_path:
        return
    try:
        real = importlib.util.find_spec("vdk.api") is not None
    except ImportError:  # no `vdk` package at all
        real = False
    if not real:
        sys.meta_path.append(_FINDER)
