"""A job's own configuration: VDK's ``config.ini`` (and a ``[meshkit]`` section).

``[owner] team``, ``[job] schedule_cron``, ``[contacts]`` are job metadata; the keys of ``[vdk]`` and
``[meshkit]`` become the job-config layer of the configuration (VDK keys meshkit does not know are
kept for VDK plugins and listed, so an existing VDK job runs unchanged). ``db_default_type`` is read
from ``[job]`` too, in any case (``SQLITE``, ``DuckDB``). A ``[vdk_<name>]`` section is VDK's
named connection: with ``sqlite_file`` or ``duckdb_database`` it declares the store ``<name>``.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

#: VDK's values of ``db_default_type`` that name a meshkit store differently.
VDK_DB_TYPES = {"postgresql": "postgres", "mariadb": "mysql"}

#: The key of a ``[vdk_<name>]`` section that says the store type of connection ``<name>``, and the
#: store option it gives.
CONNECTION_KEYS = {"sqlite_file": ("sqlite", "path"), "duckdb_database": ("duckdb", "path"),
                   "duckdb_file": ("duckdb", "path")}  # fmt: skip


def db_type(name: str) -> str:
    """A connection name as VDK writes it (``SQLITE``, ``PostgreSQL``) in meshkit's terms (a URL is kept)."""
    if "://" in name:
        return name
    lowered = name.strip().lower()
    return VDK_DB_TYPES.get(lowered, lowered)


@dataclass
class JobConfig:
    """What ``config.ini`` says about a job."""

    team: str | None = None
    schedule_cron: str | None = None
    contacts: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)
    #: The ``[vdk]`` section as it is written (VDK plugins read their own keys from it).
    vdk: dict[str, str] = field(default_factory=dict)
    #: The ``[vdk_<name>]`` sections, by ``<name>``.
    sections: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Stores the ``[vdk_<name>]`` sections declare: ``{name: {"type": ..., option: value}}``.
    connections: dict[str, dict[str, str]] = field(default_factory=dict)


def load_job_config(
    job_dir: Path, known_keys: Mapping[str, str], environ: Mapping[str, str] | None = None
) -> JobConfig:
    """Parse ``job_dir/config.ini`` if present; errors name the file and line.

    ``known_keys`` maps each config key and alias to its key.
    """
    path = job_dir / "config.ini"
    result = JobConfig()
    if not path.is_file():
        return result
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(read_text(path), source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"Cannot parse config.ini: {exc.message if hasattr(exc, 'message') else exc}.", where=str(path),
                          hint="Fix the INI syntax: `[section]` headers and `key = value` lines.") from None  # fmt: skip
    result.team = parser.get("owner", "team", fallback=None) or None
    result.schedule_cron = parser.get("job", "schedule_cron", fallback=None) or None
    if parser.has_section("contacts"):
        for key, value in parser.items("contacts"):
            result.contacts[key] = [v.strip() for v in value.replace(";", ",").split(",") if v.strip()]
    if parser.has_option("job", "db_default_type"):
        result.values["db_default_type"] = parser.get("job", "db_default_type")
    if parser.has_section("vdk"):
        result.vdk = dict(parser.items("vdk"))
        for key, value in result.vdk.items():
            if key in known_keys:
                result.values[known_keys[key]] = value
            else:
                result.ignored.append(key)
    if "db_default_type" in result.values:
        result.values["db_default_type"] = db_type(result.values["db_default_type"])
    for section in parser.sections():
        if section.startswith("vdk_"):
            name = section.removeprefix("vdk_").lower()
            result.sections[name] = dict(parser.items(section))
            if store := _connection(name, result.sections[name], os.environ if environ is None else environ):
                result.connections[name] = store
    if parser.has_section("meshkit"):
        for key, value in parser.items("meshkit"):
            if key not in known_keys:
                raise ConfigError(
                    f"Unknown config key `{key}` in [meshkit].",
                    where=str(path),
                    hint="Run `meshkit config` to list keys.",
                )
            result.values[key] = value
    return result


def _connection(name: str, values: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str] | None:
    """The store a ``[vdk_<name>]`` section declares; ``VDK_<NAME>_<KEY>`` in the environment overrides it."""
    for key, (store_type, option) in CONNECTION_KEYS.items():
        variable = f"VDK_{name.upper()}_{key.upper()}"
        value = environ.get(variable, values.get(key))
        if value:
            return {"type": store_type, option: value}
    return None
