"""``vdk.internal.core.config``: the configuration VDK plugins declare and read.

Keys are case-insensitive and live in sections: ``vdk`` (the main one) and one per ``[vdk_<name>]``
section of the job's ``config.ini`` (section ``<name>``). A value is resolved when it is read,
highest first, in VDK's order: ``VDK_<KEY>`` or ``<KEY>`` in the environment (``VDK_<SECTION>_<KEY>``
for a section), a value a plugin set, the job's ``config.ini``, then the declared default. A key
meshkit itself declares (``db_default_type``, ``sqlite_file``...) is meshkit's effective value
(its own environment, ``config.ini`` and ``meshkit.toml`` layers) unless a plugin set it and the
environment or command line does not. Values are converted to the type of the default, as VDK does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from meshkit.core.config import to_bool
from meshkit.core.errors import ConfigError

MAIN = "vdk"


@dataclass
class ConfigEntry:
    """One declared key."""

    default: Any = None
    description: str | None = None
    sensitive: bool = False
    #: A value set by a plugin (``set_value``).
    value: Any = None


def _norm(text: Any) -> str:
    return str(text).lower()


class ConfigurationBuilder:
    """Passed to ``vdk_configure``: plugins declare keys and may set values."""

    def __init__(self, meshkit=None, environ: Mapping[str, str] | None = None) -> None:
        self._meshkit = meshkit
        self._environ = environ
        self._sections: dict[str, dict[str, ConfigEntry]] = {MAIN: {}}

    def _entry(self, key: str, section: str | None) -> ConfigEntry:
        return self._sections.setdefault(_norm(section or MAIN), {}).setdefault(_norm(key), ConfigEntry())

    def add(self, key: str, default_value: Any = None, show_default_value: bool = True,
            description: str | None = None, is_sensitive: bool = False, section: str | None = MAIN) -> ConfigurationBuilder:  # fmt: skip
        """Declare ``key`` with its default (whose type values are converted to) and description."""
        entry = self._entry(key, section)
        entry.default, entry.description, entry.sensitive = default_value, description, is_sensitive
        return self

    def set_value(self, key: str, value: Any, section: str | None = MAIN) -> ConfigurationBuilder:
        """Provide a value for ``key`` (a configuration provider plugin)."""
        self._entry(key, section).value = value
        return self

    def list_config_keys_from_main_sections(self) -> list[str]:
        return list(self._sections[MAIN])

    def list_config_keys_for_section(self, section: str) -> list[str]:
        return list(self._sections.get(_norm(section), {}))

    def list_all_section_names(self) -> list[str]:
        return list(self._sections)

    def build(self) -> Configuration:
        return Configuration(self._sections, self._meshkit, self._environ)


class Configuration:
    """What plugins read with ``get_value(key, section=None)``."""

    def __init__(self, sections: dict[str, dict[str, ConfigEntry]], meshkit=None,
                 environ: Mapping[str, str] | None = None):  # fmt: skip
        self._sections = sections
        self._meshkit = meshkit
        self._environ = os.environ if environ is None else environ
        #: The job's ``config.ini`` values by section (``vdk`` and the ``[vdk_<name>]`` ones).
        self.job_values: dict[str, dict[str, str]] = {}

    def use_job_values(self, main: Mapping[str, str], sections: Mapping[str, Mapping[str, str]]) -> None:
        """Read the ``[vdk]`` and ``[vdk_<name>]`` sections of the job being run."""
        self.job_values = {
            MAIN: dict(main),
            **{_norm(name): dict(values) for name, values in sections.items()},
        }

    def _meshkit_key(self, key: str, section: str) -> str | None:
        if section != MAIN or self._meshkit is None:
            return None
        return self._meshkit.config.canonical(key)

    def get_value(self, key: str, section: str | None = None) -> Any:
        """The effective value of ``key`` (``None`` if it is neither declared nor set)."""
        section = _norm(section or MAIN)
        key = _norm(key)
        if section != MAIN:
            key = key.removeprefix(f"{section}_")
        entry = self._sections.get(section, {}).get(key)
        plugin_value = entry.value if entry is not None else None
        if meshkit_key := self._meshkit_key(key, section):
            source = self._meshkit.config.source(meshkit_key)
            if plugin_value is None or source.startswith(("environment", "command line")):
                return self._meshkit.config.get(meshkit_key)
            return self._convert(key, plugin_value, entry.default)
        prefix = "" if section == MAIN else f"{section.upper()}_"
        for variable in (f"VDK_{prefix}{key.upper()}", f"{prefix}{key.upper()}"):
            if variable in self._environ:
                return self._convert(key, self._environ[variable], entry and entry.default)
        if plugin_value is not None:
            return self._convert(key, plugin_value, entry.default)
        job = self.job_values.get(section, {})
        if key in job:
            return self._convert(key, job[key], entry and entry.default)
        return entry.default if entry is not None else None

    @staticmethod
    def _convert(key: str, value: Any, default: Any) -> Any:
        if value is None or default is None or isinstance(value, type(default)):
            return value
        try:
            return to_bool(value) if isinstance(default, bool) else type(default)(value)
        except (TypeError, ValueError):
            raise ConfigError(f"Config key `{key}` is `{value}`, which is not a {type(default).__name__}.",
                              hint="Fix the value in config.ini or the environment.") from None  # fmt: skip

    def get_required_value(self, key: str, section: str | None = None) -> Any:
        value = self.get_value(key, section)
        if value is None or value == "":
            raise ConfigError(f"Config key `{key}` is required but not set.",
                              hint=f"Set it in config.ini [vdk] or as the environment variable VDK_{key.upper()}.")  # fmt: skip
        return value

    def override_value(self, key: str, value: Any, section: str | None = None) -> None:
        self._sections.setdefault(_norm(section or MAIN), {}).setdefault(
            _norm(key), ConfigEntry()
        ).value = value

    def get_description(self, key: str, section: str | None = None) -> str | None:
        entry = self._sections.get(_norm(section or MAIN), {}).get(_norm(key))
        return entry.description if entry else None

    def is_sensitive(self, key: str, section: str | None = None) -> bool:
        entry = self._sections.get(_norm(section or MAIN), {}).get(_norm(key))
        return bool(entry and entry.sensitive)

    def list_sections(self) -> list[str]:
        return list(dict.fromkeys([*self._sections, *self.job_values]))

    def list_keys_in_section(self, section: str) -> list[str]:
        section = _norm(section)
        return list(dict.fromkeys([*self._sections.get(section, {}), *self.job_values.get(section, {})]))

    def list_config_keys_from_main_sections(self) -> list[str]:
        return self.list_keys_in_section(MAIN)

    def list_config_keys(self) -> list[str]:
        return self.list_keys_in_section(MAIN)

    def __getitem__(self, key):
        if isinstance(key, tuple):
            return self.get_value(key[0], key[1])
        return self.get_value(key)
