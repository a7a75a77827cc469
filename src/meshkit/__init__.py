"""meshkit: data engineering on the data-mesh pattern.

The public API for job authors and plugin authors::

    import meshkit

    with meshkit.job("jobs/orders") as job_input:
        job_input.execute_query("SELECT 1")

    @meshkit.hookimpl
    def register_store_types():
        return [meshkit.override(MySQLiteStore)]  # replaces the built-in ``sqlite`` type
"""

from meshkit import job  # callable: ``with meshkit.job("jobs/x") as job_input: ...``
from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.registry import override

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "MeshkitError",
    "PlatformError",
    "UserError",
    "__version__",
    "hookimpl",
    "job",
    "override",
]
