"""Keep secret values out of logs, statuses, errors and API responses."""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]+:)(?P<pw>[^@\s]+)(?=@)")


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
        text = _URL_PASSWORD.sub(lambda m: m.group("scheme") + MASK, str(text))
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
