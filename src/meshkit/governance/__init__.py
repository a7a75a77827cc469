"""Policy-driven governance: Rego policies decide, every read path enforces, the audit log records."""

from meshkit.governance.decision import Action, Decision, Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.governor import Governor

__all__ = ["AccessDeniedError", "Action", "Decision", "Governor", "Subject"]
