"""``vdk.api.plugin.plugin_registry``: the registry a plugin gets in ``vdk_start``."""

from __future__ import annotations

import pluggy

from meshkit.vdk.hook_markers import GROUP_NAME

#: What a ``hookwrapper=True`` implementation receives from ``yield``.
HookCallResult = pluggy.Result


class PluginException(Exception):
    """A plugin could not be loaded."""


class PluginHookRelay:
    """Calls hooks by name: ``relay.vdk_initialize(context=...)`` (keyword arguments only)."""

    def __init__(self, hook_relay):
        self._relay = hook_relay

    def __dir__(self):
        return dir(self._relay)

    def __getattr__(self, name):
        return getattr(self._relay, name)


class PluginRegistry:
    """The VDK plugins of one meshkit instance: add hook specifications and implementations, call hooks."""

    def __init__(self) -> None:
        self.pm = pluggy.PluginManager(GROUP_NAME)

    def list_plugins(self) -> list[tuple[str, str]]:
        """``(name, plugin)`` pairs of the loaded plugins."""
        return [(name, str(plugin)) for name, plugin in self.pm.list_name_plugin() if plugin is not None]

    def has_plugin(self, name: str) -> bool:
        return self.pm.has_plugin(name)

    def is_plugin_load_success(self) -> bool:
        return True

    def load_plugin_with_hooks_impl(
        self, module_or_class_with_hook_impls: object, name: str | None = None
    ) -> None:
        """Register a module, class or instance whose functions are marked with ``hookimpl``."""
        if not self.pm.is_registered(module_or_class_with_hook_impls):
            self.pm.register(module_or_class_with_hook_impls, name=name)

    def add_hook_specs(self, module_or_class_with_hookspecs: object) -> None:
        self.pm.add_hookspecs(module_or_class_with_hookspecs)

    def hook(self) -> PluginHookRelay:
        return PluginHookRelay(self.pm.hook)


#: VDK's name of the registry type, for plugins' annotations.
IPluginRegistry = PluginRegistry
