"""Pipeline specs: the graph is checked when the file is read, and errors name the field and line."""

import json
from pathlib import Path

import pytest

from meshkit.core.errors import ConfigError
from meshkit.pipelines.spec import parse_pipeline, pipeline_json_schema

ROOT = Path(__file__).resolve().parents[2]
DAILY = """\
concurrency: 2
triggers:
  - {type: webhook, secret: "env:HOOK_KEY"}
  - {type: dataset}
defaults: {retries: 1}
nodes:
  - {name: load, job: greetings, arguments: {day: "2024-01-01"}}
  - {name: build, build: country_population+, depends_on: [load], retries: 2}
  - {name: check, check: all, depends_on: [build], fail_pipeline_on_error: false}
  - {name: publish, publish: population, depends_on: [load]}
"""


def test_nodes_layers_and_defaults():
    pipeline = parse_pipeline(DAILY, "pipelines/daily.yaml", name="daily")
    assert pipeline.name == "daily"
    assert [n.kind for n in pipeline.nodes] == ["job", "build", "check", "publish"]
    assert pipeline.layers() == [["load"], ["build", "publish"], ["check"]]
    assert pipeline.dependents("load") == ["build", "publish", "check"]
    assert pipeline.node("build").build.select == ["country_population+"]
    assert pipeline.node("check").check == []
    assert pipeline.setting(pipeline.node("build"), "retries") == 2
    assert pipeline.setting(pipeline.node("load"), "retries") == 1
    assert pipeline.setting(pipeline.node("check"), "fail_pipeline_on_error") is False
    assert [t.type for t in pipeline.triggers] == ["webhook", "dataset"]


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("nodes:\n  - {name: a, job: x, depends_on: [b]}\n  - {name: b, job: y, depends_on: [a]}\n",
         "p.yaml", "cycle: a -> b -> a"),
        ("nodes:\n  - {name: a, job: x, transfer: y}\n", "p.yaml:2", "exactly one of"),
        ("nodes:\n  - {name: a, job: x, depends_on: [zz]}\n", "p.yaml", "node `a` depends on unknown node(s): zz"),
        ("nodes:\n  - {name: a, job: x}\n  - {name: a, job: y}\n", "p.yaml", "repeated: a"),
        ("triggers:\n  - {type: webhook, secret: abc}\nnodes: [{name: a, job: x}]\n", "p.yaml:2",
         "triggers.0.secret"),
        ("nodes:\n  - {name: a, transfer: t, arguments: {x: 1}}\n", "p.yaml:2", "job nodes only"),
        ("nodes: [\n", "p.yaml:2", "Invalid YAML"),
    ],
)  # fmt: skip
def test_errors_name_the_field_and_line(text, where, message):
    with pytest.raises(ConfigError) as err:
        parse_pipeline(text, "p.yaml", name="p")
    assert err.value.where == where
    assert message in str(err.value)


def test_published_json_schema_is_current():
    published = json.loads((ROOT / "docs" / "schemas" / "pipeline.schema.json").read_text())
    assert published == pipeline_json_schema()


def test_each_node_is_a_meshkit_command():
    pipeline = parse_pipeline(DAILY.replace("{name: publish,", "{name: copy, transfer: cities}\n  - {name: publish,"),
                              "p.yaml", name="p")  # fmt: skip
    commands = {node.name: node.command() for node in pipeline.nodes}
    assert commands == {
        "load": ["run", "greetings", "--arguments", '{"day": "2024-01-01"}'],
        "build": ["build", "--select", "country_population+"],
        "check": ["check"],
        "copy": ["transfer", "apply", "transfers/cities.yaml"],
        "publish": ["product", "publish", "population"],
    }
