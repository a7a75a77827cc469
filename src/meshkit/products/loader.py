"""Read ``products/NAME.yaml``; errors name the file, the field and its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text
from meshkit.core.specs import YamlDocument, parse_yaml
from meshkit.core.workspace import Workspace
from meshkit.products.spec import Product

PRODUCTS_DIR = "products"


class JsonYamlLoader(yaml.SafeLoader):
    """Safe YAML that leaves dates as strings, as JSON Schema (and so ODCS) reads them."""


JsonYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


HINT = "See docs/reference/product-spec.md."


def parse_product(text: str, where: str) -> Product:
    """A ``Product`` from YAML text; ``where`` names the source in errors."""
    document = parse_yaml(text, where, loader=JsonYamlLoader)
    if not isinstance(document.data, dict):
        raise ConfigError(
            "A product descriptor is a YAML mapping.", where=where, hint="Start with `name:` and `version:`."
        )
    return validate_product(document.data, where, document=document)


def validate_product(data: dict[str, Any], where: str, document: YamlDocument | None = None,
                     field_name: Callable[[tuple], str] | None = None) -> Product:  # fmt: skip
    """A ``Product`` from plain data; ``document`` (its YAML) or ``field_name`` locate an error in the source."""
    try:
        return Product.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = (field_name(loc) if field_name else ".".join(str(p) for p in loc)) or "(top level)"
        more = f" ({len(exc.errors()) - 1} more error(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"Field `{field}`: {error['msg']}{more}.", where=document.where(loc) if document else where,
                          hint=HINT) from None  # fmt: skip


def load_product(path: str | Path) -> Product:
    path = Path(path)
    try:
        text = read_text(path)
    except OSError as exc:
        raise ConfigError(f"Cannot read product descriptor: {exc.strerror}.", where=str(path)) from None
    return parse_product(text, str(path))


def product_path(workspace: Workspace, name_or_path: str) -> Path:
    """The descriptor file of a product given by name or path."""
    for candidate in (Path(name_or_path), workspace.resolve(name_or_path),
                      workspace.root / PRODUCTS_DIR / f"{name_or_path}.yaml",
                      workspace.root / PRODUCTS_DIR / f"{name_or_path}.yml"):  # fmt: skip
        if candidate.is_file():
            return candidate
    known = sorted(p.stem for p in product_files(workspace))
    hint = f"Known products: {', '.join(known)}." if known else "Create products/NAME.yaml."
    raise ConfigError(f"No product `{name_or_path}` found.", hint=hint)


def product_files(workspace: Workspace) -> list[Path]:
    folder = workspace.root / PRODUCTS_DIR
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
