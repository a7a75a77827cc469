"""load_spec: YAML read once with positions; errors name the file, the line and the field."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict

from meshkit.core.errors import ConfigError
from meshkit.core.specs import load_spec, parse_yaml


class Port(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    size: int = 1


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    ports: list[Port] = []


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "name: a\nports:\n  - name: p\n    size: big\n",
            "spec.yaml:4",
            "ports[0].size: Input should be a valid integer",
        ),
        (
            "name: a\nports:\n  - name: p\n  - name: q\n    colour: red\n",
            "spec.yaml:5",
            "ports[1].colour: unknown field",
        ),
        ("ports: []\n", "spec.yaml:1", "name: Field required"),
        ("name: a\nports: [unclosed\n", "spec.yaml:3:1", "Invalid YAML"),
    ],
)
def test_load_spec_errors_name_line_and_field(tmp_path, text, where, words):
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_spec(path, Spec, hint="See the spec.", source="spec.yaml")
    assert info.value.where == where
    assert words in info.value.message
    assert info.value.hint in ("See the spec.", "Fix the YAML syntax.")


def test_load_spec_returns_the_model(tmp_path):
    path = tmp_path / "spec.yaml"
    path.write_text("name: a\nports: [{name: p, size: 2}]\n")
    assert load_spec(path, Spec, hint="") == Spec(name="a", ports=[Port(name="p", size=2)])


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read"):
        load_spec(tmp_path / "nope.yaml", Spec, hint="")


def test_document_lines_follow_keys_and_indexes():
    document = parse_yaml("a:\n  b:\n    - x\n    - y: 1\n", "f")
    assert [document.line(loc) for loc in [(), ("a",), ("a", "b"), ("a", "b", 1), ("a", "b", 1, "y"), ("a", "zz")]] == [
        1, 1, 2, 4, 4, 1,
    ]  # fmt: skip
