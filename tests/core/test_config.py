import pytest

from meshkit.core.config import Config, ConfigBuilder, Layer, parse_overrides
from meshkit.core.errors import ConfigError


def make(layers, environ=None):
    builder = ConfigBuilder()
    builder.add("threads", 4, "worker threads", type=int)
    builder.add("mode", "fast", "run mode")
    builder.add("token", None, "api token", secret=True)
    builder.add("verbose", False, "verbose", type=bool)
    return Config(builder.keys, layers, environ or {})


@pytest.mark.parametrize(
    ("layers", "environ", "value", "source"),
    [
        ([], {}, "fast", "default"),
        ([Layer("meshkit.toml", {"mode": "toml"})], {}, "toml", "meshkit.toml"),
        (
            [Layer("meshkit.toml", {"mode": "toml"}), Layer("jobs/a/config.ini", {"mode": "job"})],
            {},
            "job",
            "jobs/a/config.ini",
        ),
        ([Layer("jobs/a/config.ini", {"mode": "job"})], {"VDK_MODE": "vdk"}, "vdk", "environment VDK_MODE"),
        (
            [Layer("jobs/a/config.ini", {"mode": "job"})],
            {"MESHKIT_MODE": "env", "VDK_MODE": "vdk"},
            "env",
            "environment MESHKIT_MODE",
        ),
        ([Layer("command line", {"mode": "cli"})], {"MESHKIT_MODE": "env"}, "cli", "command line"),
    ],
)
def test_precedence(layers, environ, value, source):
    config = make(layers, environ)
    assert config.get("mode") == value
    assert config.source("mode") == source


def test_job_layer_goes_below_environment_and_command_line():
    config = make([Layer("command line", {"threads": "9"})], {"MESHKIT_MODE": "env"})
    config = config.with_layer(Layer("config.ini", {"mode": "job", "threads": "2"}))
    assert config.get("mode") == "env"
    assert config.get("threads") == 9


def test_types_are_converted_and_bad_values_named():
    config = make([Layer("meshkit.toml", {"threads": "8", "verbose": "yes"})])
    assert config.get("threads") == 8 and config.get("verbose") is True
    with pytest.raises(ConfigError, match=r"`threads` from environment MESHKIT_THREADS must be int"):
        make([], {"MESHKIT_THREADS": "many"}).get("threads")


def test_unknown_key_suggests_the_close_one():
    with pytest.raises(ConfigError) as err:
        make([Layer("meshkit.toml", {"thread": 3})])
    assert "Unknown config key `thread`" in str(err.value)
    assert "Did you mean `threads`?" in str(err.value)
    assert err.value.where == "meshkit.toml"


def test_explain_masks_secrets():
    rows = {
        key: (value, source)
        for key, value, source, _ in make([Layer("meshkit.toml", {"token": "s3cr3t-value"})]).explain()
    }
    assert rows["token"] == ("********", "meshkit.toml")
    assert rows["threads"] == (4, "default")


def test_parse_overrides():
    assert parse_overrides(["a=1", "B=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])
