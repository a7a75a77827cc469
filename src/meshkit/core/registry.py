"""Registries: the named things plugins add through the ``register_*`` hooks, merged once per ``Meshkit``.

Every kind of extension (store types, step types, transforms, materializations...) is one
:class:`Kind` in :data:`KINDS`. Its hook's results are merged in plugin registration order
(built-ins, then installed plugins, then local ones), and a name registered twice is an error naming
both plugins, unless the later plugin wraps its entry in :func:`override`; the later plugin then wins,
as in pytest. Adding a kind of extension means one hookspec in :mod:`meshkit.core.hookspecs` and one
line in :data:`KINDS`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pluggy

from meshkit.core.errors import PluginError
from meshkit.core.lazy import Deferred


@dataclass(frozen=True)
class Override:
    """An entry that replaces one registered earlier under the same name (see :func:`override`)."""

    value: Any


def override(value: Any) -> Override:
    """Mark a registered entry as replacing an earlier plugin's entry of the same name.

    >>> override(dict).value is dict
    True
    """
    return Override(value)


@dataclass(frozen=True)
class Kind:
    """One kind of extension: its hook, what to call it in errors, and how to name its entries.

    ``key`` names the attribute that names a class the hook returns in a list (``type`` of a store
    class); hooks that return ``{name: value}`` have none.
    """

    hook: str
    label: str
    key: str | None = None


#: Every kind of extension, by the name :meth:`Registries.get` takes.
KINDS: dict[str, Kind] = {
    "store_types": Kind("register_store_types", "store type", key="type"),
    "connections": Kind("register_connections", "connection"),
    "step_types": Kind("register_step_types", "step type", key="suffix"),
    "templates": Kind("register_templates", "template"),
    "properties_backends": Kind("register_properties_backends", "properties backend"),
    "secrets_backends": Kind("register_secrets_backends", "secrets backend"),
    "transforms": Kind("register_transforms", "transform", key="action"),
    "check_types": Kind("register_check_types", "check type", key="type"),
    "materializations": Kind("register_materializations", "materialization"),
    "executors": Kind("register_executors", "executor"),
    "exporters": Kind("register_exporters", "exporter"),
    "engines": Kind("register_engines", "engine", key="type"),
}


class Registries:
    """The merged registries of one plugin manager; each kind is built on first use, then kept."""

    def __init__(self, pm: pluggy.PluginManager):
        self._pm = pm
        self._built: dict[str, Entries] = {}
        self._lock = threading.Lock()

    def get(self, kind: str) -> Entries:
        """``{name: entry}`` of ``kind`` (a key of :data:`KINDS`); the same mapping on every call."""
        found = self._built.get(kind)
        if found is None:
            with self._lock:  # NOTE: the service builds them from several threads
                found = self._built.get(kind)
                if found is None:
                    found = self._built[kind] = Entries(merge(self._pm, KINDS[kind]))
        return found


class Entries(Mapping):
    """A registry's ``{name: entry}``; a :class:`~meshkit.core.lazy.Deferred` entry is imported when first read.

    Names are known without importing anything, so checking a name (``"postgres" in store_types``)
    loads no store driver.
    """

    def __init__(self, entries: dict[str, Any]):
        self._entries = entries

    def __getitem__(self, name: str) -> Any:
        entry = self._entries[name]
        if isinstance(entry, Deferred):
            entry = self._entries[name] = entry.load()
        return entry

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


def merge(pm: pluggy.PluginManager, kind: Kind) -> dict[str, Any]:
    """The entries every plugin returns from ``kind.hook``, merged in registration order."""
    merged: dict[str, Any] = {}
    owners: dict[str, str] = {}
    for impl in _in_registration_order(getattr(pm.hook, kind.hook).get_hookimpls()):
        plugin = _plugin_label(impl)
        for name, value in _entries(impl.function(), kind, plugin):
            if isinstance(value, Override):
                value = value.value
            elif name in merged:
                raise PluginError(
                    f"The {kind.label} `{name}` is registered by both `{owners[name]}` and `{plugin}`.",
                    plugin=plugin,
                    hint=f"Rename one, or have `{plugin}` return `meshkit.override(...)` "
                    f"to replace the {kind.label} of `{owners[name]}`.",
                )
            merged[name], owners[name] = value, plugin
    return merged


def _in_registration_order(impls: list) -> list:
    # NOTE: pluggy lists implementations in the reverse of its call order: registration order, with
    # ``trylast`` ones first and ``tryfirst`` ones last, so a ``tryfirst`` plugin comes later and wins.
    return [impl for impl in impls if not (impl.hookwrapper or impl.wrapper)]


def _plugin_label(impl) -> str:
    """The plugin's registered name, or its class for an object registered without one."""
    if not impl.plugin_name.isdigit():
        return impl.plugin_name
    cls = type(impl.plugin)
    return f"{cls.__module__}.{cls.__qualname__}"


def _entries(result: Any, kind: Kind, plugin: str) -> list[tuple[str, Any]]:
    if result is None:
        return []
    if isinstance(result, Mapping):
        return [(str(name), value) for name, value in result.items()]
    if kind.key is None:
        raise PluginError(
            f"`{kind.hook}` of `{plugin}` returned {type(result).__name__}, not a mapping.",
            plugin=plugin,
            hint="Return `{name: value}`.",
        )
    entries = []
    for value in result:
        named = value.value if isinstance(value, Override) else value
        name = getattr(named, kind.key, None)
        if not isinstance(name, str) or not name:
            raise PluginError(
                f"`{kind.hook}` of `{plugin}` returned {named!r}, which has no `{kind.key}` name.",
                plugin=plugin,
                hint=f"Give it a `{kind.key}` class attribute.",
            )
        entries.append((name, value))
    return entries
