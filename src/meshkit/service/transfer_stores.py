"""Which stores a transfer applied through the service may use.

The service runs a transfer with the server's own access to files, networks and secrets, on behalf
of a caller who has none of it. So an end of such a transfer must name a store of the workspace
(declared in meshkit.toml, or a default store). A store given inline (a URL or ``{type: ...}``) is
refused unless ``service_allow_inline_stores`` is on, and even then its local files must lie under
one of ``service_file_roots``, compared as real paths so that ``..`` and symlinks cannot leave a root.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from meshkit.core.errors import ConfigError
from meshkit.service.exceptions import ForbiddenError

if TYPE_CHECKING:
    from meshkit.data.transfer import BatchTransfer

ROLES = ("source", "destination")


def file_roots(meshkit) -> list[str]:
    """The real paths of ``service_file_roots`` (relative ones from the workspace); each must be a folder."""
    roots = []
    for root in meshkit.config.get("service_file_roots"):
        path = os.path.realpath(meshkit.workspace.resolve(root))
        if not os.path.isdir(path):
            raise ConfigError(f"`{root}` in `service_file_roots` ({meshkit.config.source('service_file_roots')}) "
                              "is not a folder.", hint="Create it, or remove it from the list.")  # fmt: skip
        roots.append(path)
    return roots


def check_transfer_stores(meshkit, transfer: BatchTransfer) -> None:
    """Refuse (naming the spec field) an end that is not a workspace store or lies outside the file roots."""
    for role in ROLES:
        endpoint = getattr(transfer.spec, role)
        where = f"spec.{role}.store"
        if isinstance(endpoint.store, str) and "://" not in endpoint.store:
            try:
                store = meshkit.store(endpoint.store)
            except ConfigError as exc:
                raise ConfigError(exc.message, where=where, hint=exc.hint) from None
            _local_paths(store, endpoint.asset, role)  # NOTE: refuses an asset that leaves its store
            continue
        if not meshkit.config.get("service_allow_inline_stores"):
            raise ForbiddenError(
                "The service runs transfers between the workspace's stores only; this one is given inline.",
                where=where,
                hint="Declare the store in meshkit.toml [stores.NAME] and name it here, or run the transfer "
                "with `meshkit transfer apply` (the server admin may allow inline stores with "
                "`service_allow_inline_stores`).",
            )
        store = meshkit.new_store(endpoint.store, name=f"{transfer.name}-{role}", where=f"{where}.type")
        try:
            _check_under_roots(meshkit, _local_paths(store, endpoint.asset, role), where)
        finally:
            store.close()


def _local_paths(store, asset: str, role: str) -> list[str]:
    try:
        return store.local_paths(asset)
    except ConfigError as exc:
        raise ConfigError(exc.message, where=f"spec.{role}.asset", hint=exc.hint) from None


def _check_under_roots(meshkit, paths: list[str], where: str) -> None:
    roots = file_roots(meshkit) if paths else []
    for path in paths:
        real = os.path.realpath(path)
        if not any(os.path.commonpath([real, root]) == root for root in roots):
            listed = ", ".join(f"`{root}`" for root in roots)
            raise ForbiddenError(
                f"`{path}` is outside the folders the service may use for transfers.",
                where=where,
                hint=f"Use a path under {listed}."
                if roots
                else "The server admin lists them in `service_file_roots`.",
            )
