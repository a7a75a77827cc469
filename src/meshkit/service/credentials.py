"""Where ``meshkit login`` keeps the control service's URL and token (files of mode 0600).

Looked up in order: ``MESHKIT_TOKEN`` (with ``service_url``), the workspace's
``.meshkit/credentials``, then the user's ``~/.config/meshkit/credentials``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from meshkit.core.errors import ConfigError

FILE = "credentials"


@dataclass
class Credentials:
    url: str
    token: str
    source: str


def user_file() -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "meshkit" / FILE


def workspace_file(meshkit) -> Path:
    return meshkit.workspace.root / ".meshkit" / FILE


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to a file readable by its owner only (mode 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)
    return path


def save(path: Path, url: str, token: str) -> Path:
    """Write a credentials file."""
    return write_private(path, json.dumps({"url": url, "token": token}))


def load(meshkit, url: str | None = None) -> Credentials:
    """The credentials to use, or a ConfigError saying how to log in."""
    env_token = os.environ.get("MESHKIT_TOKEN")
    if env_token:
        return Credentials(url or meshkit.config.get("service_url"), env_token, "environment MESHKIT_TOKEN")
    for path in (workspace_file(meshkit), user_file()):
        if path.is_file():
            try:
                data = json.loads(path.read_text())
                return Credentials(url or data["url"], data["token"], str(path))
            except (ValueError, KeyError, TypeError):
                raise ConfigError(
                    "The credentials file is damaged.", where=str(path), hint="Run `meshkit login` again."
                ) from None
    raise ConfigError("Not logged in to a control service.",
                      hint="Run `meshkit login --url URL` (or set MESHKIT_TOKEN).")  # fmt: skip
