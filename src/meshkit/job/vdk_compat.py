"""Let existing VDK jobs import ``vdk.api.job_input`` when VDK itself is not installed."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
import types

#: VDK module -> the meshkit module that stands in for it.
ALIASES = {"vdk.api.job_input": "meshkit.api.job_input"}
PACKAGES = ("vdk", "vdk.api")


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
    """Install the aliases unless a real VDK is importable (idempotent)."""
    if _FINDER in sys.meta_path or "vdk" in sys.modules:
        return
    if importlib.util.find_spec("vdk") is None:
        sys.meta_path.append(_FINDER)
