"""Reading the user's text files (specs, config, SQL, policies) with errors that point at the bad byte."""

from __future__ import annotations

import re
from pathlib import Path

from meshkit.core.errors import ConfigError


def read_text(path: str | Path) -> str:
    """The UTF-8 text of the user's file ``path``.

    A byte that is not UTF-8 is a ``ConfigError`` naming the file, the line and column, and the
    byte offset, with the fix (save as UTF-8). ``OSError`` propagates for the caller to word.
    """
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            f"Not UTF-8 text: byte 0x{data[exc.start]:02x} at line {line}, column {column} "
            f"(byte offset {exc.start}) cannot be decoded.",
            where=f"{path}:{line}",
            hint="Save the file as UTF-8 (or replace the character).",
        ) from None


def key_location(path: str | Path, key: str, section: str | None = None) -> str:
    """``path:line`` of the line setting ``key`` (in ``[section]`` if given) in an INI or TOML file, else ``path``."""
    current = None
    pattern = re.compile(rf"""["']?{re.escape(key)}["']?\s*[=:]""", re.I)
    try:
        lines = read_text(path).splitlines()
    except (OSError, ConfigError):
        return str(path)
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if text.startswith("["):
            current = text.strip("[] ")
        elif (section is None or current == section) and pattern.match(text):
            return f"{path}:{number}"
    return str(path)
