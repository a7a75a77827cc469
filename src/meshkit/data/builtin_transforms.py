"""Built-in plugin: the built-in transforms, imported with :mod:`meshkit.data.transforms` when first used.

The transforms import PyArrow, DuckDB and sqlglot: a command that transforms nothing never pays for them.
"""

from meshkit.core.hookspecs import hookimpl
from meshkit.core.lazy import deferred

#: The action of each built-in transform (the classes of ``meshkit.data.transforms.BUILTIN_TRANSFORMS``).
ACTIONS = ("RemoveColumn", "Filter", "Encrypt", "Sample", "Digest", "Redact", "Rename", "Cast")


@hookimpl
def register_transforms():
    return {action: deferred(f"meshkit.data.transforms:{action}") for action in ACTIONS}
