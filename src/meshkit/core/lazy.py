"""Import heavy modules on first use, so the command line starts fast."""

from __future__ import annotations

import contextlib
import gc
import importlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

#: Whether :func:`loading` freezes what it made (see :func:`own_process`).
_freeze = False


def own_process() -> None:
    """Say that this process is meshkit's alone (the command line's entry point says so).

    From then on, until :func:`work_started`, the objects a :func:`loading` block makes are frozen
    (``gc.freeze``): later collections skip them instead of walking them again each time. A
    process that only calls meshkit (a test run, a notebook) keeps its collector as it is.
    """
    global _freeze
    _freeze = True


def work_started() -> None:
    """Say that the process's start-up is over (a run began): later loads freeze nothing.

    A freeze keeps every object alive at that moment, garbage not yet collected included, out of
    collections for good; once a job's own code runs, that garbage may be large.
    """
    global _freeze
    _freeze = False


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """No garbage collection while modules are imported; collection resumes as it was after.

    Imports make many long-lived objects and almost no garbage, yet each object counts towards the
    next collection, which walks the young objects again: a run's start spent about a fifth of its
    CPU time collecting nothing.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _freeze:
            gc.freeze()
        if enabled:
            gc.enable()


def import_module(name: str) -> ModuleType:
    """``importlib.import_module`` with no garbage collection while it imports (see :func:`loading`)."""
    if name in sys.modules:  # NOTE: no pause (nor freeze) once loaded: a server looks entries up all day
        return importlib.import_module(name)
    with loading():
        return importlib.import_module(name)


class _Deferred(ModuleType):
    """Stands for a module that is imported when one of its attributes is first read."""

    def __getattr__(self, attr: str) -> Any:
        module = import_module(self.__name__)
        # NOTE: later reads find the module's names here directly, without this method
        vars(self).update(vars(module))
        return getattr(module, attr)


def lazy_import(name: str) -> ModuleType:
    """``name`` (a module, or a package's submodule) imported when one of its attributes is first read.

    Nothing is imported, not even the parent package, until then, and ``sys.modules`` is left
    alone: ``"pyarrow" in sys.modules`` still says whether PyArrow was really imported.

    >>> json = lazy_import("json")
    >>> json.dumps([1])
    '[1]'
    """
    return sys.modules.get(name) or _Deferred(name)


@dataclass(frozen=True)
class Deferred:
    """An object named ``"module:attribute"``, imported by :meth:`load` when first needed."""

    path: str

    def load(self) -> Any:
        module, _, attribute = self.path.partition(":")
        return getattr(import_module(module), attribute)


def deferred(path: str) -> Deferred:
    """A registry entry imported on first use: ``deferred("meshkit.data.stores.files:FilesStore")``.

    >>> deferred("json:dumps").load()([1])
    '[1]'
    """
    return Deferred(path)


def lazy_exports(package: str, exports: dict[str, str]) -> Callable[[str], Any]:
    """A package's ``__getattr__`` loading its public names on first use, so a plugin inside it stays cheap.

    ``exports`` maps each public name to the submodule that defines it.
    """

    def __getattr__(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(f"{package}.{exports[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
