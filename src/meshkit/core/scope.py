"""A run's scope: what one run adds to its workspace's ``Meshkit`` and to the process, undone at its end.

A ``Meshkit`` holds workspace state (plugins, registries, stores of ``meshkit.toml``, the metadata
database), shared by every run it executes. What a run brings (its job's ``config.ini`` layer, the
stores its ``[vdk_<name>]`` sections declare, the folders its steps import from and the modules
they import) lives in its :class:`RunScope` and is gone when the run ends, so the next run on the
same instance starts from the workspace alone.

One run at a time per instance: the scope is the instance's, not the thread's, so worker threads of
a run see its configuration. Runs in parallel use an instance each (as the control service does).
"""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit.core.config import Config, Layer

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

_numbers = itertools.count(1)


class RunScope:
    """The run state of one run on a ``Meshkit``: opened with :meth:`Meshkit.run_scope`."""

    def __init__(self, meshkit: Meshkit, config: Config):
        self.meshkit = meshkit
        #: The workspace's configuration plus the run's layers.
        self.config = config
        #: Stores the run declared (``[vdk_<name>]`` sections of its ``config.ini``), by name.
        self.stores: dict[str, dict[str, Any]] = {}
        #: A name unique in this process, for the modules the run imports.
        self.prefix = f"meshkit_run{next(_numbers)}"
        self._folders: list[Path] = []
        self._paths: list[str] = []
        self._modules = set(sys.modules)

    def add_layer(self, layer: Layer) -> None:
        """Put ``layer`` (a job's ``config.ini``) in force for this run only."""
        self.config = self.config.with_layer(layer)

    def import_from(self, folder: Path) -> None:
        """Let the run's code import the modules of ``folder`` (put first on ``sys.path`` for the run)."""
        self._folders.append(folder)
        path = str(folder)
        if path not in sys.path:
            sys.path.insert(0, path)
            self._paths.append(path)

    def module_name(self, path: Path) -> str:
        """The name a step file is imported under: unique to this run, so two runs never share it."""
        return re.sub(r"\W", "_", f"{self.prefix}_{path.parent.name}_{path.stem}")

    def close(self) -> None:
        """Undo what the run did to the process: its import folders, the modules imported from them."""
        folders = self._folders
        for path in self._paths:
            if path in sys.path:
                sys.path.remove(path)
        for name in set(sys.modules) - self._modules:
            module = sys.modules.get(name)
            file = getattr(module, "__file__", None)
            if name.startswith(self.prefix) or (file and any(Path(file).is_relative_to(f) for f in folders)):
                sys.modules.pop(name, None)
        self._paths.clear()
        self._folders = []
