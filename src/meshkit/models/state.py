"""What ``state:modified`` and ``state:new`` compare a project with.

Without ``--state``, meshkit compares with its own last successful build (``meshkit_state.json`` in the
target folder: a fingerprint of each node's rendered SQL and config). Given ``--state DIR`` holding a
``manifest.json`` and no ``meshkit_state.json`` -- dbt's target folder -- it compares as dbt does: each
node's code, configuration as written, fqn, contract and the macros it calls.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshkit.models.project import Project

STATE_FILE = "meshkit_state.json"
#: Config keys dbt leaves out of the comparison (where a node is built is compared on its own).
_NOT_COMPARED = {"alias", "schema", "database", "tags", "group"}


class Fingerprints:
    """meshkit's own state: the fingerprint of each node at its last successful build."""

    def __init__(self, fingerprints: dict[str, str]):
        self.fingerprints = fingerprints

    def new(self, project: Project) -> set[str]:
        return {u for u, n in project.nodes.items() if n.test is None and u not in self.fingerprints}

    def modified(self, project: Project) -> set[str]:
        return {u for u, n in project.nodes.items()
                if n.test is None and n.unit is None and self.fingerprints.get(u) != n.fingerprint}  # fmt: skip


class DbtManifest:
    """A ``manifest.json`` written by dbt (or by meshkit), compared with dbt's rules."""

    def __init__(self, data: dict[str, Any]):
        self.nodes = {**data.get("nodes", {}), **data.get("unit_tests", {})}
        self.macros = data.get("macros", {})

    def new(self, project: Project) -> set[str]:
        return {u for u in project.nodes if u not in self.nodes}

    def modified(self, project: Project) -> set[str]:
        from meshkit.models.artifacts import node_entry, project_macros

        ours = project_macros(project)
        own = {project.name, *(p.name for p in project.packages)}
        changed = {u for u, m in ours.items() if self.macros.get(u, {}).get("macro_sql") != m["macro_sql"]}
        changed |= {u for u, m in self.macros.items() if m.get("package_name") in own and u not in ours}
        out = set()
        for uid, node in project.nodes.items():
            old = self.nodes.get(uid)
            if old is None or not _same(node_entry(project, node), old) or changed.intersection(node.macros):
                out.add(uid)
        return out


def _same(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """dbt's ``same_contents`` of a node and its entry in the state manifest."""
    if new["resource_type"] == "unit_test":
        return new["checksum"] == old.get("checksum")
    if new["fqn"] != old.get("fqn") or not _same_config(
        new["unrendered_config"], old.get("unrendered_config") or {}
    ):
        return False
    if new.get("test_metadata") is not None:
        return True
    body = (
        new["checksum"] == old.get("checksum")
        if new["resource_type"] == "seed"
        else new["raw_code"] == old.get("raw_code")
    )
    where = all(new["unrendered_config"].get(k) == (old.get("unrendered_config") or {}).get(k)
                for k in ("database", "schema", "alias"))  # fmt: skip
    contract = new.get("contract") or {}
    previous = old.get("contract") or {}
    same_contract = (
        not contract.get("enforced")
        and not previous.get("enforced")
        or (contract.get("enforced") and contract.get("checksum") == previous.get("checksum"))
    )
    return body and where and bool(same_contract)


def _same_config(new: dict[str, Any], old: dict[str, Any]) -> bool:
    return all(new.get(k) == old.get(k) for k in set(new) | set(old) if k not in _NOT_COMPARED)


def read_state(folder: Path) -> Fingerprints | DbtManifest | None:
    """The state saved in ``folder``: meshkit's fingerprints, else a dbt manifest, else ``None``."""
    for name, kind in ((STATE_FILE, "fingerprints"), ("manifest.json", "manifest")):
        path = folder / name
        if not path.is_file():
            continue
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return Fingerprints(data.get("fingerprints", {})) if kind == "fingerprints" else DbtManifest(data)
    return None
