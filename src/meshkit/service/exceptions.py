"""Errors of the control service: each maps to an HTTP status and a stable error code."""

from __future__ import annotations

from meshkit.core.errors import MeshkitError, UserError


class ApiError(UserError):
    """An error returned to an API client as ``{"error": {"code", "message", "hint"}}``."""

    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, hint: str | None = None, where: str | None = None, code: str | None = None
    ):
        super().__init__(message, hint=hint, where=where)
        if code:
            self.code = code

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.hint, self.where, self.code))


def _rebuild(cls, message, hint, where, code):
    return cls(message, hint=hint, where=where, code=code)


class NotFoundError(ApiError):
    """The team, job, source, deployment or execution does not exist."""

    status = 404
    code = "not_found"


class ConflictError(ApiError):
    """The request conflicts with the current state (exists already, still running...)."""

    status = 409
    code = "conflict"


class AuthenticationError(ApiError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401
    code = "unauthorized"


class ForbiddenError(ApiError):
    """The caller's role on the team is too low for the operation."""

    status = 403
    code = "forbidden"


class PayloadTooLargeError(ApiError):
    """An uploaded source is larger than ``service_max_source_mb``."""

    status = 413
    code = "too_large"


def status_of(exc: MeshkitError) -> tuple[int, str]:
    """HTTP status and error code for any meshkit error."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code
    if exc.exit_code == 3:
        return 503, "platform_error"
    return 400, "user_error" if exc.exit_code == 1 else "config_error"
