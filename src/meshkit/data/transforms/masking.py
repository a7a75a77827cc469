"""Transforms that hide values: Digest (one-way hashes) and Redact (fixed, random, formatted).

Digests are lowercase hex strings of the UTF-8 canonical text. DuckDB computes md5, sha1 and
sha256 natively; sha512, crc32, xxhash32, xxhash64 and murmur32 run as Arrow UDFs (one call per
DuckDB vector), the same functions the Arrow path calls, so both paths give identical digests.
Formatted redaction is one Arrow UDF too: a byte table maps ASCII text at memory speed, where
DuckDB's ``translate`` and regular expressions cost microseconds per value.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable

import mmh3
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash
from sqlglot import exp

from meshkit.data.transforms.base import TextTransform, Udf, fragment, map_text, text_array, text_expression

_HASHERS: dict[str, Callable[[bytes], str]] = {
    "md5": lambda b: hashlib.md5(b).hexdigest(),
    "sha1": lambda b: hashlib.sha1(b).hexdigest(),
    "sha256": lambda b: hashlib.sha256(b).hexdigest(),
    "sha512": lambda b: hashlib.sha512(b).hexdigest(),
    "crc32": lambda b: f"{zlib.crc32(b):08x}",
    "xxhash32": xxhash.xxh32_hexdigest,
    "xxhash64": xxhash.xxh64_hexdigest,
    "murmur32": lambda b: f"{mmh3.hash(b, 0, signed=False):08x}",
}
#: Digest algorithms DuckDB computes natively (the others are UDFs).
NATIVE_DIGESTS = frozenset({"md5", "sha1", "sha256"})
DIGEST_ALGORITHMS = tuple(_HASHERS)


def digest_text(algorithm: str, value: str) -> str:
    """The digest of one text value, as both paths compute it."""
    return _HASHERS[algorithm](value.encode())


def _digest_udf(algorithm: str) -> Callable[[pa.ChunkedArray], pa.Array]:
    hasher = _HASHERS[algorithm]

    def digest(values: pa.ChunkedArray) -> pa.Array:
        return pa.array(
            [None if v is None else hasher(v.encode()) for v in values.to_pylist()], type=pa.string()
        )

    return digest


class Digest(TextTransform):
    """Replace values by a hash: ``options.algo`` is one of ``DIGEST_ALGORITHMS`` (default sha256)."""

    action = "Digest"
    OPTIONS = frozenset({"algo"})

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        self.algorithm = str(self.options.get("algo", "sha256")).lower()
        if self.algorithm not in _HASHERS:
            raise self.error(
                f"unknown algo `{self.algorithm}`", hint=f"Use one of: {', '.join(DIGEST_ALGORITHMS)}."
            )

    def label(self) -> str:
        return f"Digest({self.algorithm})"

    @property
    def _udf_name(self) -> str:
        return f"__mk_digest_{self.algorithm}"

    def udfs(self, schema: pa.Schema) -> list[Udf]:
        if self.algorithm in NATIVE_DIGESTS:
            return []
        return [Udf(self._udf_name, _digest_udf(self.algorithm), ["VARCHAR"], "VARCHAR")]

    def column_sql(self, value: exp.Expression, field: pa.Field) -> exp.Expression:
        text = text_expression(value, field.type)
        if self.algorithm in NATIVE_DIGESTS:
            return exp.func(self.algorithm, text, dialect="duckdb")
        return exp.Anonymous(this=self._udf_name, expressions=[text])

    def column_array(self, array: pa.Array, field: pa.Field) -> pa.Array:
        hasher = _HASHERS[self.algorithm]
        return map_text(array, lambda v: hasher(v.encode()))


REDACT_MODES = ("fixed", "random", "formatted")
_UNICODE_CLASSES = ((r"\p{Nd}", "9"), (r"\p{Lu}", "X"), (r"[\p{Ll}\p{Lt}\p{Lm}\p{Lo}]", "x"))
#: Byte -> masked byte for ASCII text: digits -> 9, capitals -> X, small letters -> x.
_ASCII_MASK = np.arange(256, dtype=np.uint8)
_ASCII_MASK[ord("0") : ord("9") + 1] = ord("9")
_ASCII_MASK[ord("A") : ord("Z") + 1] = ord("X")
_ASCII_MASK[ord("a") : ord("z") + 1] = ord("x")
_FORMATTED_UDF = "__mk_redact_formatted"


def mask_formatted(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Formatted masking of strings: ASCII bytes through ``_ASCII_MASK``, other text by Unicode class.

    The byte table leaves multi-byte UTF-8 sequences alone and agrees with the Unicode classes on
    ASCII, so the regular expressions only run when some value is not ASCII.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.type != pa.string():
        values = values.cast(pa.string())
    validity, offsets, data = values.buffers()
    raw = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    masked = pa.Array.from_buffers(pa.string(), len(values), [validity, offsets, pa.py_buffer(_ASCII_MASK[raw])],
                                   values.null_count, values.offset)  # fmt: skip
    if raw.size and raw.max() >= 0x80:
        for pattern, repl in _UNICODE_CLASSES:
            masked = pc.replace_substring_regex(masked, pattern, repl)
    return masked


class Redact(TextTransform):
    """Hide values, nulls stay null. ``options.mode``:

    - ``fixed`` (default): every value becomes ``options.value`` (default ``***``);
    - ``random``: random lowercase letters of the same length (not reproducible);
    - ``formatted``: same length and shape: digits become ``9``, capitals ``X``, other letters
      ``x``, the rest is kept; ``options.keepLast: N`` leaves the last N characters visible.
    """

    action = "Redact"
    OPTIONS = frozenset({"mode", "value", "keepLast"})

    def __init__(self, columns=(), options=None, name=None, **kw):
        super().__init__(columns, options, name, **kw)
        self.mode = str(self.options.get("mode", "fixed")).lower()
        if self.mode not in REDACT_MODES:
            raise self.error(f"unknown mode `{self.mode}`", hint=f"Use one of: {', '.join(REDACT_MODES)}.")
        self.value = str(self.options.get("value", "***"))
        try:
            self.keep_last = int(self.options.get("keepLast", 0))
        except ValueError:
            raise self.error("`keepLast` must be a whole number", hint="Write e.g. `keepLast: 4`.") from None
        if self.keep_last < 0 or (self.keep_last and self.mode != "formatted"):
            raise self.error("`keepLast` must be positive and goes with mode `formatted`")

    def label(self) -> str:
        return f"Redact({self.mode})"

    def udfs(self, schema: pa.Schema) -> list[Udf]:
        return (
            [Udf(_FORMATTED_UDF, mask_formatted, ["VARCHAR"], "VARCHAR")] if self.mode == "formatted" else []
        )

    def column_sql(self, value: exp.Expression, field: pa.Field) -> exp.Expression:
        text = text_expression(value, field.type)
        if self.mode == "fixed":
            return (
                exp.Case()
                .when(exp.Is(this=value.copy(), expression=exp.Null()), exp.Null())
                .else_(exp.Literal.string(self.value))
            )
        if self.mode == "random":
            letter = "chr(97 + CAST(floor(random() * 26) AS INTEGER))"
            return fragment(f"array_to_string(list_transform(range(length(x)), i -> {letter}), '')", x=text)
        masked = exp.Anonymous(this=_FORMATTED_UDF, expressions=[text])
        if self.keep_last:
            n = exp.Literal.number(self.keep_last)
            return fragment("left(m, -n) || right(x, n)", m=masked, x=text, n=n)
        return masked

    def column_array(self, array: pa.Array, field: pa.Field) -> pa.Array:
        text = text_array(array)
        if self.mode == "fixed":
            return pc.if_else(
                pc.is_null(text), pa.scalar(None, pa.string()), pa.scalar(self.value, pa.string())
            )
        if self.mode == "random":
            rng = np.random.default_rng()
            return map_text(text, lambda v: "".join(chr(97 + c) for c in rng.integers(0, 26, len(v))))
        masked = mask_formatted(text)
        if self.keep_last:
            head = pc.utf8_slice_codeunits(masked, 0, -self.keep_last)
            masked = pc.binary_join_element_wise(head, pc.utf8_slice_codeunits(text, -self.keep_last), "")
        return masked
