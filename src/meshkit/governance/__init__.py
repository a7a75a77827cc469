"""Policy-driven governance: Rego policies decide, every read path enforces, the audit log records."""

from meshkit.core.lazy import lazy_exports

#: Loaded on first use: importing ``meshkit.governance.settings`` (a plugin of every start) then
#: loads no policy engine nor pydantic.
_EXPORTS = {
    "AccessDeniedError": "exceptions", "Action": "decision", "Decision": "decision", "Governor": "governor",
    "Subject": "decision",
}  # fmt: skip
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
