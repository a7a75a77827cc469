"""Encrypt: AES-GCM with a key from the secrets backend, or AES-SIV for joinable tokens.

``options.key`` is a reference (``secret:NAME``, ``env:VAR`` or a ``vaultPath``), never a key
itself. The 256-bit AES-GCM key (or the 512-bit AES-SIV key) is derived from the secret with
HKDF-SHA256. Tokens are unpadded URL-safe base64: ``nonce || ciphertext || tag`` in ``random``
mode, the SIV output in ``deterministic`` mode, where equal values give equal tokens so the
encrypted column can still be joined on. ``decrypt`` turns a token back into its text.
"""

from __future__ import annotations

import base64
import os
import secrets

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, AESSIV
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlglot import exp

from meshkit.core.errors import ConfigError, UserError
from meshkit.core.references import resolve as resolve_reference
from meshkit.data.transforms.base import TextTransform, Udf, map_text, text_expression

ENCRYPT_MODES = ("random", "deterministic")
_NONCE = 12


def derive_key(secret: str, mode: str) -> bytes:
    """The AES key for ``mode`` derived from the secret's text."""
    size = 64 if mode == "deterministic" else 32
    return HKDF(hashes.SHA256(), length=size, salt=None, info=f"meshkit-encrypt-{mode}".encode()).derive(
        secret.encode()
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


class Cipher:
    """Encrypts and decrypts text values with one key in one mode."""

    def __init__(self, secret: str | None, mode: str = "random", *, key: bytes | None = None):
        self.mode = mode
        self._key = key or derive_key(str(secret), mode)
        self._aead = AESSIV(self._key) if mode == "deterministic" else AESGCM(self._key)

    def __reduce__(self):
        # NOTE: a distributed engine (Spark) ships the UDF to its executors: the derived key travels in
        # memory with it, never the secret it was derived from.
        return (_cipher_from_key, (self._key, self.mode))

    def encrypt_all(self, values: list[str | None]) -> list[str | None]:
        if self.mode == "deterministic":
            return [None if v is None else _b64(self._aead.encrypt(v.encode(), None)) for v in values]
        nonces = os.urandom(_NONCE * len(values))
        out = []
        for i, v in enumerate(values):
            if v is None:
                out.append(None)
                continue
            nonce = nonces[i * _NONCE : (i + 1) * _NONCE]
            out.append(_b64(nonce + self._aead.encrypt(nonce, v.encode(), None)))
        return out

    def decrypt(self, token: str) -> str:
        data = _unb64(token)
        try:
            if self.mode == "deterministic":
                return self._aead.decrypt(data, None).decode()
            return self._aead.decrypt(data[:_NONCE], data[_NONCE:], None).decode()
        except (InvalidTag, ValueError):
            raise UserError("Cannot decrypt the token: wrong key, wrong mode or altered data.") from None


def _cipher_from_key(key: bytes, mode: str) -> Cipher:
    return Cipher(None, mode, key=key)


def decrypt(token: str | None, secret: str, mode: str = "random") -> str | None:
    """The text an ``Encrypt`` token stands for (``secret`` is the resolved key text)."""
    return None if token is None else Cipher(secret, mode).decrypt(token)


class Encrypt(TextTransform):
    """Encrypt values: ``options.key`` (a reference), ``options.mode`` random (default) or deterministic."""

    action = "Encrypt"
    OPTIONS = frozenset({"key", "mode"})

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        self.mode = str(self.options.get("mode", "random")).lower()
        if self.mode not in ENCRYPT_MODES:
            raise self.error(f"unknown mode `{self.mode}`", hint=f"Use one of: {', '.join(ENCRYPT_MODES)}.")
        reference = self.options.get("key")
        is_reference = isinstance(reference, dict) or str(reference or "").startswith(("secret:", "env:"))
        if not is_reference:
            raise self.error("`key` must be a reference to a secret, not a key",
                             hint="Write `key: secret:NAME` (meshkit secrets set NAME) or `key: env:VAR`.")  # fmt: skip
        try:
            secret = (self._resolve or resolve_reference)(reference)
        except ConfigError as exc:
            raise self.error(f"cannot read its key: {exc.message}", hint=exc.hint) from None
        self._cipher = Cipher(str(secret), self.mode)
        self._udf_name = f"__mk_encrypt_{secrets.token_hex(4)}"

    def label(self) -> str:
        return f"Encrypt({self.mode})"

    def udfs(self, schema: pa.Schema) -> list[Udf]:
        cipher = self._cipher

        def encrypt(values: pa.ChunkedArray) -> pa.Array:
            return pa.array(cipher.encrypt_all(values.to_pylist()), type=pa.string())

        return [Udf(self._udf_name, encrypt, ["VARCHAR"], "VARCHAR", volatile=self.mode == "random")]

    def column_sql(self, value: exp.Expression, field: pa.Field) -> exp.Expression:
        return exp.Anonymous(this=self._udf_name, expressions=[text_expression(value, field.type)])

    def column_array(self, array: pa.Array, field: pa.Field) -> pa.Array:
        values = map_text(array, str).to_pylist()
        return pa.array(self._cipher.encrypt_all(values), type=pa.string())
