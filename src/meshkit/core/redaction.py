"""Keep secret values out of logs, statuses, errors and API responses."""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"
#: Names of settings, query parameters and DSN keys whose values are credentials.
_SECRET_NAME = (
    r"(?:[a-z0-9]+[_-])*(?:ssl)?(?:password|passwd|pwd|secret|token|api_?key|access_?key|secret_?key)"
)
_URL_PASSWORD = re.compile(r"(?P<user>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*):[^@/\s]*@")
_QUERY_SECRET = re.compile(rf"(?P<sep>[?&])(?P<key>{_SECRET_NAME})=[^&#\s]*(?P<next>&?)", re.I)
_DSN_SECRET = re.compile(
    rf"(?P<space>\s*)\b(?P<key>{_SECRET_NAME})\s*=\s*(?:'(?:[^'\\]|\\.)*'|[^\s&'\"]+)", re.I
)


def strip_credentials(text: str, mask: str = "") -> str:
    """``text`` without the credentials written in the URLs and DSNs it holds, or with them as ``mask``.

    Removes the password of ``scheme://user:PASSWORD@host``, secret query parameters
    (``?password=...``, ``&token=...``) and libpq-style ``password=...``; the rest is kept, so a
    store named by its URL keeps one name whatever its password.

    >>> strip_credentials("postgresql://ann:pw@db:5432/ops?password=x&sslmode=require")
    'postgresql://ann@db:5432/ops?sslmode=require'
    >>> strip_credentials("host=db user=ann password='p w' dbname=ops", mask="***")
    'host=db user=ann password=*** dbname=ops'
    """
    if not text or not isinstance(text, str):
        return text
    text = _URL_PASSWORD.sub(lambda m: f"{m['user']}:{mask}@" if mask else f"{m['user']}@", text)
    while (found := _QUERY_SECRET.sub(lambda m: _query_rest(m, mask), text)) != text:
        text = found
    return _DSN_SECRET.sub(lambda m: f"{m['space']}{m['key']}={mask}" if mask else "", text)


def _query_rest(match: re.Match, mask: str) -> str:
    if mask:
        return f"{match['sep']}{match['key']}={mask}{match['next']}"
    # NOTE: `?secret=x&a=1` keeps `?a=1`, `&secret=x&a=1` keeps `&a=1`, a last parameter leaves nothing.
    return match["sep"] if match["next"] else ""


def scrub(value: Any) -> Any:
    """``value`` (JSON-like) with ``strip_credentials`` applied to every string in it: the form to store."""
    if isinstance(value, str):
        return strip_credentials(value)
    if isinstance(value, dict):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


class Redactor:
    """Replaces every registered secret value, and passwords inside URLs, with ``***``."""

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()
        self._pattern: re.Pattern | None = None

    def add(self, value: str | None) -> None:
        """Register a secret value (values shorter than 4 characters are too common to mask)."""
        if value and len(str(value)) >= 4:
            with self._lock:
                if str(value) not in self._values:
                    self._values.add(str(value))
                    self._pattern = None

    def redact(self, text: str) -> str:
        if not text:
            return text
        text = strip_credentials(str(text), MASK)
        with self._lock:
            if not self._values:
                return text
            if self._pattern is None:
                ordered = sorted(self._values, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(v) for v in ordered))
            pattern = self._pattern
        return pattern.sub(MASK, text)


def redact_error(error, redactor: Redactor):
    """Redact a ``MeshkitError`` in place (message, hint, location and shown source lines); returns it."""
    error.message = redactor.redact(error.message)
    error.hint = redactor.redact(error.hint) if error.hint else error.hint
    error.where = redactor.redact(error.where) if error.where else error.where
    error.args = (error.message,)
    if getattr(error, "frames", None):
        error.frames = [(f, n, func, redactor.redact(line)) for f, n, func, line in error.frames]
    return error


class RedactingStream:
    """A text stream that redacts what is written to it, then writes it to ``stream``."""

    def __init__(self, stream, redactor: Redactor):
        self._stream = stream
        self._redactor = redactor

    def write(self, text: str) -> int:
        self._stream.write(self._redactor.redact(text))
        return len(text)

    def __getattr__(self, name: str):  # flush, fileno, isatty, encoding, ...
        return getattr(self._stream, name)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message of every record."""

    def __init__(self, redactor: Redactor):
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = self.redactor.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.redactor.redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True
