"""docs/configuration.md lists the config keys as the code declares them.

Every key of the core, job runtime, ingestion and stores must be documented; every documented key
must exist with the documented type and default. Print the rows with
``python tests/docs/test_config_doc.py [KEY ...]`` and paste them into the doc.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from meshkit.core.config import ConfigBuilder, ConfigKey, format_number
from meshkit.core.plugins import build_plugin_manager

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
#: Plugins whose keys must all be documented (other sections document theirs as they go).
FOUNDATION = ("meshkit.core.", "meshkit.data.stores.", "meshkit.data.ingest", "meshkit.job.")
_ROW = re.compile(r"^\| `(?P<key>[a-z0-9_]+)` \| (?P<type>[^|]+) \| (?P<default>[^|]+) \|", re.M)


def declared() -> dict[str, tuple[str, ConfigKey]]:
    """``{key: (plugin name, ConfigKey)}`` for every key the built-in plugins declare."""
    pm = build_plugin_manager(load_entrypoints=False)
    keys: dict[str, tuple[str, ConfigKey]] = {}
    for impl in pm.hook.configure.get_hookimpls():
        builder = ConfigBuilder()
        impl.function(config=builder)
        keys.update({k: (impl.plugin_name, spec) for k, spec in builder.keys.items()})
    return keys


def type_cell(spec: ConfigKey) -> str:
    bounds = f", {format_number(spec.bounds[0])} to {format_number(spec.bounds[1])}" if spec.bounds else ""
    return spec.type.__name__ + bounds + (", secret" if spec.secret else "")


def default_cell(spec: ConfigKey) -> str:
    if spec.default is None:
        return "(none)"
    if isinstance(spec.default, bool):
        return f"`{str(spec.default).lower()}`"
    return f"`{spec.default}`"


def render(key: str, spec: ConfigKey) -> str:
    return f"| `{key}` | {type_cell(spec)} | {default_cell(spec)} | {spec.description.replace('|', '/')} |"


@pytest.fixture(scope="module")
def documented() -> dict[str, tuple[str, str]]:
    return {
        m.group("key"): (m.group("type").strip(), m.group("default").strip())
        for m in _ROW.finditer(DOC.read_text())
    }


KEYS = declared()


@pytest.mark.parametrize("key", sorted(k for k, (plugin, _) in KEYS.items() if plugin.startswith(FOUNDATION)))
def test_foundation_key_is_documented(documented, key):
    assert key in documented, f"docs/configuration.md lacks `{key}`; add:\n{render(key, KEYS[key][1])}"


def test_documented_keys_match_the_code(documented):
    wrong = []
    for key, (type_text, default_text) in documented.items():
        if key not in KEYS:
            wrong.append(f"`{key}` is documented but no plugin declares it")
        elif (type_text, default_text) != (type_cell(KEYS[key][1]), default_cell(KEYS[key][1])):
            wrong.append(f"`{key}` should read: {render(key, KEYS[key][1])}")
    assert wrong == []


def test_rows_are_parsed():
    assert "db_default_type" in KEYS and KEYS["db_default_type"][0] == "meshkit.job.connection"
    sample = render("db_default_type", KEYS["db_default_type"][1])
    assert _ROW.match(sample) and _ROW.match(sample).group("default") == "`duckdb`"


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    for key, (plugin, spec) in sorted(KEYS.items(), key=lambda item: (item[1][0], item[0])):
        if not wanted or key in wanted:
            print(render(key, spec), f"<!-- {plugin} -->" if not wanted else "")
