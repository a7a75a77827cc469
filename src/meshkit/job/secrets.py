"""Job secrets: credentials a data job reads at run time and nobody sees in logs or errors.

A secrets backend keeps string values per scope (a job name, or ``""`` for the workspace). The
``secrets_backend`` key picks one of the ``register_secrets_backends`` hook's backends: ``local``
(the metadata database, encrypted with AES-256-GCM), ``env`` (read-only ``MESHKIT_SECRET_<NAME>``
variables), ``vault`` (HashiCorp Vault KV version 2) or ``memory`` (for tests). Every value read
is registered with ``meshkit.redactor``, so it is masked wherever meshkit prints or logs text.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets as _random
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from meshkit.core.backends import SecretsBackend
from meshkit.core.errors import ConfigError, PlatformError, TransientError, UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.metadata import secrets as secrets_table
from meshkit.job.properties import scope_label

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from meshkit.core.context import Meshkit

ENV_PREFIX = "MESHKIT_SECRET_"
KEY_FILE = "secret.key"
#: First byte of every ciphertext: the format (AES-256-GCM, 12-byte nonce), so it can change later.
_FORMAT = b"\x01"
_NONCE = 12


def _check_values(values: dict[str, str], scope: str) -> dict[str, str]:
    for key, value in values.items():
        if not isinstance(key, str) or not key:
            raise UserError(f"Secret names must be non-empty strings ({scope_label(scope)}).")
        if not isinstance(value, str):
            raise UserError(
                f"Secret `{key}` of {scope_label(scope)} is a {type(value).__name__}; secrets are strings.",
                hint="Convert the value to a string (e.g. JSON-encode it) before storing it.",
            )
    return dict(values)


# ---------------------------------------------------------------------------- local


def generate_key() -> str:
    """A new random 256-bit key, URL-safe base64 encoded (the format of ``secret_key``)."""
    return base64.urlsafe_b64encode(_random.token_bytes(32)).decode()


def _decode_key(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        # NOTE: never echo the value; it is a secret even when malformed.
        raise ConfigError(
            "The secret key is not 32 bytes of URL-safe base64.",
            where=where,
            hint='Generate one with `python -c "from meshkit.job.secrets import generate_key; print(generate_key())"`.',
        )
    return key


def load_key(meshkit: Meshkit) -> bytes:
    """The key of local secrets: config ``secret_key`` (or ``MESHKIT_SECRET_KEY``), else ``.meshkit/secret.key``.

    The key file is created on first use, readable by its owner only (mode 0600).
    """
    configured = meshkit.config.get("secret_key")
    if configured:
        meshkit.redactor.add(str(configured))
        return _decode_key(
            str(configured), f"config key `secret_key` ({meshkit.config.source('secret_key')})"
        )
    path = meshkit.workspace.state_dir / KEY_FILE
    if not path.exists():
        _create_key_file(path)
    text = path.read_text()
    meshkit.redactor.add(text.strip())
    return _decode_key(text, str(path))


def _create_key_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_key() + "\n")


class LocalSecrets:
    """Secrets in the metadata database table ``secrets``, encrypted with AES-256-GCM.

    The scope and name are authenticated with each value, so a ciphertext copied to another row
    does not decrypt.
    """

    def __init__(self, meshkit: Meshkit):
        self._meshkit = meshkit
        self._engine = meshkit.metadata.engine
        self._aead: AESGCM | None = None

    @property
    def aead(self) -> AESGCM:
        if self._aead is None:
            from cryptography.hazmat.primitives.ciphers.aead import AESGCM

            self._aead = AESGCM(load_key(self._meshkit))
        return self._aead

    def _encrypt(self, scope: str, key: str, value: str) -> bytes:
        nonce = _random.token_bytes(_NONCE)
        return _FORMAT + nonce + self.aead.encrypt(nonce, value.encode(), f"{scope}\0{key}".encode())

    def _decrypt(self, scope: str, key: str, blob: bytes) -> str:
        blob = bytes(blob)
        if blob[:1] != _FORMAT:
            raise PlatformError(
                f"Secret `{key}` of {scope_label(scope)} has an unknown format.", hint="Set it again."
            )
        from cryptography.exceptions import InvalidTag

        try:
            value = self.aead.decrypt(
                blob[1 : 1 + _NONCE], blob[1 + _NONCE :], f"{scope}\0{key}".encode()
            ).decode()
        except InvalidTag:
            raise ConfigError(
                f"Cannot decrypt secret `{key}` of {scope_label(scope)}: it was encrypted with another key.",
                hint="Use the `secret_key` (or .meshkit/secret.key) it was set with, or set the secret again.",
            ) from None
        self._meshkit.redactor.add(value)
        return value

    def get(self, scope: str, key: str) -> str | None:
        query = sa.select(secrets_table.c.ciphertext).where(
            secrets_table.c.scope == scope, secrets_table.c.key == key
        )
        with self._engine.connect() as conn:
            blob = conn.execute(query).scalar_one_or_none()
        return None if blob is None else self._decrypt(scope, key, blob)

    def get_all(self, scope: str) -> dict[str, str]:
        query = sa.select(secrets_table.c.key, secrets_table.c.ciphertext).where(
            secrets_table.c.scope == scope
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(secrets_table.c.key)).all()
        return {key: self._decrypt(scope, key, blob) for key, blob in rows}

    def set_all(self, scope: str, values: dict[str, str]) -> None:
        values = _check_values(values, scope)
        for value in values.values():
            self._meshkit.redactor.add(value)
        now = datetime.now(timezone.utc)
        rows = [
            {"scope": scope, "key": k, "ciphertext": self._encrypt(scope, k, v), "updated_at": now}
            for k, v in values.items()
        ]
        with self._engine.begin() as conn:
            conn.execute(sa.delete(secrets_table).where(secrets_table.c.scope == scope))
            if rows:
                conn.execute(sa.insert(secrets_table), rows)


# ---------------------------------------------------------------------------- env and memory


class EnvSecrets:
    """Read-only secrets from ``MESHKIT_SECRET_<NAME>`` variables, the same for every scope."""

    def __init__(self, meshkit: Meshkit | None = None):
        self._redact = meshkit.redactor.add if meshkit is not None else (lambda value: None)

    def get(self, scope: str, key: str) -> str | None:
        value = os.environ.get(ENV_PREFIX + key, os.environ.get(ENV_PREFIX + key.upper()))
        self._redact(value)
        return value

    def get_all(self, scope: str) -> dict[str, str]:
        found = {
            k[len(ENV_PREFIX) :]: v
            for k, v in os.environ.items()
            if k.startswith(ENV_PREFIX) and len(k) > len(ENV_PREFIX)
        }
        for value in found.values():
            self._redact(value)
        return found

    def set_all(self, scope: str, values: dict[str, str]) -> None:
        raise ConfigError(
            "The `env` secrets backend is read-only.",
            hint=f"Set environment variables {ENV_PREFIX}<NAME> instead, or use `-c secrets_backend=local`.",
        )


class MemorySecrets:
    """Secrets in a dict, gone with the process: for tests of jobs and plugins."""

    def __init__(self, meshkit: Meshkit | None = None):
        self._redact = meshkit.redactor.add if meshkit is not None else (lambda value: None)
        self._scopes: dict[str, dict[str, str]] = {}

    def get(self, scope: str, key: str) -> str | None:
        value = self._scopes.get(scope, {}).get(key)
        self._redact(value)
        return value

    def get_all(self, scope: str) -> dict[str, str]:
        return {k: v for k in self._scopes.get(scope, {}) if (v := self.get(scope, k)) is not None}

    def set_all(self, scope: str, values: dict[str, str]) -> None:
        values = _check_values(values, scope)
        for value in values.values():
            self._redact(value)
        self._scopes[scope] = values


# ---------------------------------------------------------------------------- vault


class VaultSecrets:
    """Secrets in HashiCorp Vault's KV version 2 engine, one Vault secret per scope.

    A job's secrets are at ``<vault_path>/jobs/<job>``, the workspace's at ``<vault_path>/workspace``,
    under the ``vault_mount`` mount. The address and token fall back to ``VAULT_ADDR``/``VAULT_TOKEN``.
    """

    def __init__(self, meshkit: Meshkit):
        try:
            import hvac
        except ImportError:
            raise ConfigError(
                "The `vault` secrets backend needs hvac.", hint="pip install 'meshkit[vault]'"
            ) from None
        self._meshkit = meshkit
        config = meshkit.config
        url = meshkit.resolve(config.get("vault_url")) or os.environ.get("VAULT_ADDR")
        token = config.get("vault_token") or os.environ.get("VAULT_TOKEN")
        if not url:
            raise ConfigError(
                "No Vault address for the `vault` secrets backend.", hint="Set `vault_url` or VAULT_ADDR."
            )
        if not token:
            raise ConfigError(
                "No Vault token for the `vault` secrets backend.",
                hint="Set MESHKIT_VAULT_TOKEN or VAULT_TOKEN.",
            )
        meshkit.redactor.add(token)
        self._hvac = hvac
        self._kv = hvac.Client(url=url, token=token).secrets.kv.v2
        self._mount = config.get("vault_mount")
        self._root = config.get("vault_path").strip("/")

    def _path(self, scope: str) -> str:
        return f"{self._root}/jobs/{scope}" if scope else f"{self._root}/workspace"

    def _call(self, func, scope: str, missing_ok: bool = False, **kwargs):
        exceptions = self._hvac.exceptions
        try:
            return func(path=self._path(scope), mount_point=self._mount, **kwargs)
        except exceptions.InvalidPath:
            if missing_ok:
                return None
            raise ConfigError(
                f"Vault has no KV version 2 mount `{self._mount}` for `{self._path(scope)}`.",
                hint="Enable it (`vault secrets enable -path=secret kv-v2`) or set `vault_mount`.",
            ) from None
        except exceptions.Forbidden:
            raise ConfigError(
                f"Vault refused access to `{self._mount}/{self._path(scope)}`.",
                hint="Check that the token's policy allows this path.",
            ) from None
        except (exceptions.VaultDown, exceptions.InternalServerError, exceptions.BadGateway) as exc:
            raise TransientError(
                f"Vault is unavailable: {type(exc).__name__}.", hint="Retry later."
            ) from None
        except exceptions.VaultError as exc:
            raise PlatformError(
                f"Vault error on `{self._path(scope)}`: {self._meshkit.redactor.redact(str(exc))}."
            ) from None
        except OSError as exc:  # requests' ConnectionError is an OSError
            raise TransientError(
                f"Cannot reach Vault: {type(exc).__name__}.", hint="Check `vault_url` and that Vault is up."
            ) from None

    def get_all(self, scope: str) -> dict[str, str]:
        response = self._call(
            self._kv.read_secret_version, scope, missing_ok=True, raise_on_deleted_version=True
        )
        data = {k: str(v) for k, v in (response or {}).get("data", {}).get("data", {}).items()}
        for value in data.values():
            self._meshkit.redactor.add(value)
        return data

    def get(self, scope: str, key: str) -> str | None:
        return self.get_all(scope).get(key)

    def set_all(self, scope: str, values: dict[str, str]) -> None:
        values = _check_values(values, scope)
        for value in values.values():
            self._meshkit.redactor.add(value)
        self._call(self._kv.create_or_update_secret, scope, secret=values)


# ---------------------------------------------------------------------------- registration


def secrets_backend(meshkit: Meshkit) -> SecretsBackend:
    """The secrets backend configured for ``meshkit`` (key ``secrets_backend``)."""
    return meshkit.backend("secrets")


@hookimpl
def register_secrets_backends():
    return {"local": LocalSecrets, "env": EnvSecrets, "vault": VaultSecrets, "memory": MemorySecrets}


@hookimpl
def configure(config):
    config.add(
        "secrets_backend",
        "local",
        "Where secrets live: local (encrypted in the metadata DB), env, vault, memory.",
    )
    config.add(
        "vault_url", None, "Address of HashiCorp Vault for the `vault` secrets backend (default: VAULT_ADDR)."
    )
    config.add(
        "vault_token",
        None,
        "Vault token, or a reference such as env:VAR (default: VAULT_TOKEN).",
        secret=True,
    )
    config.add("vault_mount", "secret", "Mount point of Vault's KV version 2 engine.")
    config.add("vault_path", "meshkit", "Path prefix of meshkit's secrets in Vault.")
