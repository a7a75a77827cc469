"""SQL models: run dbt projects (and a workspace's ``models/``) on DuckDB, with tests, contracts,
snapshots, artifacts and column-level lineage.

>>> from meshkit.models import BuildOptions
>>> BuildOptions(command="run", select=["+orders"]).threads
2
"""

from meshkit.core.lazy import lazy_exports

#: Loaded on first use: importing ``meshkit.models.settings`` (a plugin of every start) then loads
#: no Jinja or SQL parser.
_EXPORTS = {
    "project_lineage": "lineage", "BuildReport": "models", "execute": "models", "open_project": "models",
    "open_warehouse": "models", "Project": "project", "load_project": "project", "BuildOptions": "runner",
    "NodeResult": "runner",
}  # fmt: skip
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
