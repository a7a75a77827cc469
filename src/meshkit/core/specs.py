"""Spec files: YAML read once, keeping the line of every node, and validated into pydantic models.

``load_spec(path, Model)`` is what a domain calls for a spec file (a transfer, a product...); its
errors name the file, the line and the field. ``read_yaml`` gives the data with its positions for
files that are not one model (dbt properties, checks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

M = TypeVar("M", bound=BaseModel)

#: The fastest safe loader available (libyaml's when installed).
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class YamlDocument:
    """A parsed YAML document: its data, and its node tree for the lines of fields."""

    data: Any
    node: yaml.Node | None
    source: str

    def line(self, loc: tuple = ()) -> int | None:
        """The 1-based line of the value at ``loc`` (keys and list indexes); for a key the mapping lacks,
        the line of the closest enclosing value."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                match = next(((k, v) for k, v in node.value if k.value == part), None)
                if match is None:
                    return line
                key, node = match
                line = key.start_mark.line + 1
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            else:
                break
        return line

    def where(self, loc: tuple = ()) -> str:
        """``source:line`` of the value at ``loc`` (``source`` alone when the line is unknown)."""
        line = self.line(loc)
        return f"{self.source}:{line}" if line else self.source


def parse_yaml(text: str, source: str, *, loader: type = SafeLoader, error: type[Exception] = ConfigError,
               problem: str = "Invalid YAML") -> YamlDocument:  # fmt: skip
    """Parse ``text`` once into data and nodes; a syntax error is ``error`` naming ``source:line:column``."""
    parser = loader(text)
    try:
        node = parser.get_single_node()
        data = parser.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise error(f"{problem}: {reason}.", where=where, hint="Fix the YAML syntax.") from None
    finally:
        parser.dispose()
    return YamlDocument(data, node, source)


def read_yaml(path: str | Path, source: str | None = None, **options: Any) -> YamlDocument:
    """Read and parse the YAML file ``path`` (named ``source`` in errors); see :func:`parse_yaml`."""
    return parse_yaml(read_text(path), source or str(path), **options)


def field_path(loc: tuple) -> str:
    """``spec.source[0].name`` for pydantic's location ``("spec", "source", 0, "name")``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate(document: YamlDocument, model: type[M], *, hint: str,
             check: Callable[[M], tuple[tuple, str] | None] | None = None) -> M:  # fmt: skip
    """``document``'s data as ``model``; the first problem is a ``ConfigError`` naming its field and line.

    ``check(spec)`` may find a problem the model's fields cannot express: ``(location, message)``.
    """
    if not isinstance(document.data, dict):
        raise ConfigError(
            f"`{document.source}` must hold one YAML mapping of fields.", where=document.source, hint=hint
        )
    try:
        spec = model.model_validate(document.data)
    except ValidationError as exc:
        raise spec_error(exc, document, hint=hint) from None
    problem = check(spec) if check is not None else None
    if problem is not None:
        loc, message = problem
        raise ConfigError(f"{field_path(loc)}: {message}.", where=document.where(loc), hint=hint)
    return spec


def spec_error(exc: ValidationError, document: YamlDocument, *, hint: str) -> ConfigError:
    """The ``ConfigError`` for ``exc``, raised on ``document``: its first problem, with its field and line."""
    errors = exc.errors()
    loc = tuple(
        p for p in errors[0]["loc"] if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    )
    message = re.sub(r"^(Value error|Assertion failed), ", "", errors[0]["msg"])
    message = message.replace("Extra inputs are not permitted", "unknown field").rstrip(".")
    more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
    return ConfigError(
        f"{field_path(loc) or 'document'}: {message}{more}.", where=document.where(loc), hint=hint
    )


def parse_spec(text: str, source: str, model: type[M], *, hint: str,
               check: Callable[[M], tuple[tuple, str] | None] | None = None, **options: Any) -> M:  # fmt: skip
    """The spec in YAML ``text`` as ``model``: see :func:`load_spec`."""
    return validate(parse_yaml(text, source, **options), model, hint=hint, check=check)


def load_spec(path: str | Path, model: type[M], *, hint: str, source: str | None = None,
              check: Callable[[M], tuple[tuple, str] | None] | None = None, **options: Any) -> M:  # fmt: skip
    """Read the spec file ``path`` once and validate it as ``model``.

    Errors name the file (``source`` when given), the line and the field, and end with ``hint``
    (where the spec's reference is); ``check`` and ``options`` are those of :func:`validate` and
    :func:`parse_yaml`. A file that cannot be read is a ``ConfigError`` too.
    """
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfigError(
            f"Cannot read `{path}`: {exc.strerror}.", where=str(path), hint="Check the path."
        ) from None
    return parse_spec(text, source or str(path), model, hint=hint, check=check, **options)
