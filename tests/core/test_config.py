import pytest

from meshkit.core.config import Config, ConfigBuilder, Layer, parse_overrides
from meshkit.core.errors import ConfigError
from meshkit.core.references import resolve as resolve_reference


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
    builder = ConfigBuilder()
    builder.add("roots", [], "folders", type=list)
    roots = Config(builder.keys, [Layer("meshkit.toml", {"roots": ["/a", "/b"]})], {})
    assert roots.get("roots") == ["/a", "/b"]
    assert roots.with_layer(Layer("command line", {"roots": " /c, ,/d "})).get("roots") == ["/c", "/d"]
    assert Config(builder.keys, [], {}).get("roots") == []


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


def test_secret_keys_are_resolved_when_read_and_shown_unresolved(monkeypatch):
    monkeypatch.setenv("MK_TEST_TOKEN", "the-real-token")
    seen = []

    def resolve(value):
        seen.append(value)
        return {"secret:tok": "from-the-backend"}.get(value) or resolve_reference(value)

    config = Config(make([]).keys, [Layer("meshkit.toml", {"token": "env:MK_TEST_TOKEN", "mode": "env:X"})],
                    {}, resolve=resolve)  # fmt: skip
    assert config.get("token") == "the-real-token"
    assert config.get("mode") == "env:X"  # only keys declared secret hold references
    assert config.with_layer(Layer("config.ini", {"token": "secret:tok"})).get("token") == "from-the-backend"
    assert config.secret_values() == []  # a reference is not a value to redact; its resolution is
    assert {k: v for k, v, *_ in config.explain()}["token"] == "env:MK_TEST_TOKEN"
    assert seen == ["env:MK_TEST_TOKEN", "secret:tok"]
    vault = make([Layer("meshkit.toml", {"token": {"vaultPath": "/kv/tok"}})])
    with pytest.raises(ConfigError, match=r"`token` from meshkit.toml cannot be resolved: Secret `/kv/tok`"):
        vault.get("token")
    unset = make([], {"MESHKIT_TOKEN": "env:MK_TEST_UNSET"})
    with pytest.raises(
        ConfigError, match=r"`token` from environment MESHKIT_TOKEN cannot be resolved: .*MK_TEST_UNSET"
    ):
        unset.get("token")


def test_a_secret_key_whose_resolution_reads_itself_is_a_clear_error():
    holder = {}

    def resolve(value):  # a secrets backend that needs the key being resolved (secret_key, vault_token)
        return holder["config"].get("token")

    holder["config"] = Config(
        make([]).keys, [Layer("meshkit.toml", {"token": "secret:tok"})], {}, resolve=resolve
    )
    with pytest.raises(ConfigError, match=r"reading secrets needs `token` itself") as err:
        holder["config"].get("token")
    assert "env:VAR" in err.value.hint


def test_parse_overrides():
    assert parse_overrides(["a=1", "B=x=y"]) == {"a": "1", "b": "x=y"}
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_every_secret_key_of_the_builtin_plugins_reads_its_resolved_value(tmp_path, monkeypatch):
    from meshkit.testing import plugin_workspace

    monkeypatch.setenv("MK_TEST_SECRET_VALUE", "resolved-value-of-the-reference")
    with plugin_workspace(tmp_path / "ws") as mk:
        secret_keys = sorted(key for key, spec in mk.config.keys.items() if spec.secret)
    assert {"service_jwt_secret", "notify_smtp_password", "postgres_dsn", "vault_token"} <= set(secret_keys)
    overrides = dict.fromkeys(secret_keys, "env:MK_TEST_SECRET_VALUE")
    with plugin_workspace(tmp_path / "ws", **overrides) as mk:
        for key in secret_keys:
            assert mk.config.get(key) == "resolved-value-of-the-reference", key
        shown = {key: value for key, value, *_ in mk.config.explain()}
        assert {shown[key] for key in secret_keys} == {"env:MK_TEST_SECRET_VALUE"}
        assert mk.redactor.redact("resolved-value-of-the-reference") == "***"
