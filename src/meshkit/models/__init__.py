"""SQL models: run dbt projects (and a workspace's ``models/``) on DuckDB, with tests, contracts,
snapshots, artifacts and column-level lineage.

>>> from meshkit.models import BuildOptions
>>> BuildOptions(command="run", select=["+orders"]).threads
2
"""

from meshkit.models.lineage import project_lineage
from meshkit.models.models import BuildReport, execute, open_project, open_warehouse
from meshkit.models.project import Project, load_project
from meshkit.models.runner import BuildOptions, NodeResult

__all__ = [
    "BuildOptions", "BuildReport", "NodeResult", "Project", "execute", "load_project", "open_project",
    "open_warehouse", "project_lineage",
]  # fmt: skip
