"""VDK's ``Configuration`` as plugins read it: VDK's precedence, sections, types, meshkit's keys."""

import pytest

from meshkit.core.errors import ConfigError
from meshkit.testing import plugin_workspace
from meshkit.vdk.config import ConfigurationBuilder


def build(environ=None, meshkit=None, **set_values):
    builder = ConfigurationBuilder(meshkit, {} if environ is None else environ)
    builder.add("retries", 1, description="an int").add("verbose", False).add("name", None)
    builder.add("file", "default.db", section="side")
    for key, value in set_values.items():
        builder.set_value(key, value)
    return builder.build()


def test_precedence_is_environment_then_plugin_then_config_ini_then_default():
    config = build()
    assert config.get_value("retries") == 1
    config.use_job_values({"retries": "3"}, {})
    assert config.get_value("RETRIES") == 3
    config = build(retries="5")
    config.use_job_values({"retries": "3"}, {})
    assert config.get_value("retries") == 5
    config = build({"VDK_RETRIES": "7"}, retries="5")
    assert config.get_value("retries") == 7
    assert build({"RETRIES": "8"}).get_value("retries") == 8


def test_values_take_the_type_of_the_default():
    config = build({"VDK_VERBOSE": "yes", "VDK_NAME": "x"})
    assert config.get_value("verbose") is True and config["name"] == "x"
    with pytest.raises(ConfigError, match="`retries` is `many`, which is not a int"):
        build({"VDK_RETRIES": "many"}).get_value("retries")


def test_sections_come_from_vdk_subsections_and_their_variables():
    environ = {}
    config = build(environ)
    config.use_job_values({}, {"side": {"file": "side.db"}, "other": {"file": "other.db"}})
    assert config.get_value("file", section="side") == "side.db"
    assert config.get_value("side_file", section="side") == "side.db"
    assert config.get_value("file", section="other") == "other.db"
    assert set(config.list_sections()) == {"vdk", "side", "other"}
    environ["VDK_SIDE_FILE"] = "env.db"
    assert config["file", "side"] == "env.db"


def test_required_value_says_how_to_set_it():
    with pytest.raises(ConfigError, match="VDK_NAME"):
        build().get_required_value("name")


def test_meshkit_keys_read_as_meshkit_resolves_them(workspace, monkeypatch):
    with plugin_workspace(workspace.root) as mk:
        config = build(meshkit=mk)
        assert config.get_value("DB_DEFAULT_TYPE") == "duckdb"
        assert config.get_value("duckdb_database") == ".meshkit/warehouse.duckdb"
        config = build(meshkit=mk, db_default_type="sqlite")
        assert config.get_value("db_default_type") == "sqlite"
        monkeypatch.setenv("VDK_DB_DEFAULT_TYPE", "postgres")
        assert config.get_value("db_default_type") == "postgres"
