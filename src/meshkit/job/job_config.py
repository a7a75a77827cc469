"""A job's own configuration: VDK's ``config.ini`` (and a ``[meshkit]`` section).

``[owner] team``, ``[job] schedule_cron``, ``[contacts]`` are job metadata; the keys of ``[vdk]`` and
``[meshkit]`` become the job-config layer of the configuration (VDK keys meshkit does not know are
ignored and listed, so an existing VDK job runs unchanged).
"""

from __future__ import annotations

import configparser
from dataclasses import dataclass, field
from pathlib import Path

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

#: VDK keys whose meshkit name differs.
VDK_KEY_NAMES = {"db_default_type": "db_default_type", "ingest_method_default": "ingest_method_default",
                 "ingest_target_default": "ingest_target_default", "ingester_payload_size_bytes_threshold": None}  # fmt: skip

#: VDK's values of ``db_default_type`` that name a meshkit store differently.
VDK_DB_TYPES = {"postgresql": "postgres", "mariadb": "mysql", "duckdb": "duckdb", "sqlite": "sqlite", "postgres": "postgres",
                "mysql": "mysql"}  # fmt: skip


@dataclass
class JobConfig:
    """What ``config.ini`` says about a job."""

    team: str | None = None
    schedule_cron: str | None = None
    contacts: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def load_job_config(job_dir: Path, known_keys: set[str]) -> JobConfig:
    """Parse ``job_dir/config.ini`` if present; errors name the file and line."""
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
    if parser.has_section("vdk"):
        for key, value in parser.items("vdk"):
            name = VDK_KEY_NAMES.get(key, key)
            if name in known_keys:
                result.values[name] = (
                    VDK_DB_TYPES.get(value.lower(), value) if name == "db_default_type" else value
                )
            else:
                result.ignored.append(key)
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
