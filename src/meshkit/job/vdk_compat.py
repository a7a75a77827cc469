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
#: vdk-dag's module -> meshkit's, stood in for whenever vdk-dag is not installed (even with VDK itself).
DAG_ALIASES = {"vdk.plugin.dag.dag_runner": "meshkit.pipelines.vdk_dag"}


def _packages(aliases: dict[str, str]) -> tuple[str, ...]:
    return tuple(sorted({name.rsplit(".", i)[0] for name in aliases for i in range(1, name.count(".") + 1)}))


PACKAGES = _packages(ALIASES)


class _VdkFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases
        self.packages = _packages(aliases)

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.aliases or fullname in self.packages:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=fullname in self.packages)
        return None

    def create_module(self, spec):
        if spec.name in self.aliases:
            return importlib.import_module(self.aliases[spec.name])
        module = types.ModuleType(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        """Aliases are already executed; package stand-ins are empty."""


_FINDER = _VdkFinder(ALIASES)
_DAG_FINDER = _VdkFinder(DAG_ALIASES)


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # no parent package at all
        return False


def install() -> None:
    """Install the aliases unless VDK itself (``vdk.api``) is importable, and vdk-dag's unless
    vdk-dag is (idempotent). The finders come last, so a real module always wins."""
    if _FINDER not in sys.meta_path and not _importable("vdk.api"):
        sys.meta_path.append(_FINDER)
    if _DAG_FINDER not in sys.meta_path and not _importable("vdk.plugin.dag"):
        sys.meta_path.append(_DAG_FINDER)
