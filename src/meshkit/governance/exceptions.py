"""Errors of governance: access refused by policy."""

from __future__ import annotations

from meshkit.core.errors import UserError


class AccessDeniedError(UserError):
    """A policy refused the access; ``dataset`` and ``reason`` say which and why."""

    def __init__(self, message: str, *, dataset: str, reason: str, **kw):
        super().__init__(message, **kw)
        self.dataset = dataset
        self.reason = reason

    def __reduce__(self):
        return (AccessDeniedError._rebuild, (self.message, self.dataset, self.reason, self.hint))

    @staticmethod
    def _rebuild(message, dataset, reason, hint):
        return AccessDeniedError(message, dataset=dataset, reason=reason, hint=hint)
