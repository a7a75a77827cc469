"""What a policy decides: allow or deny, why, and what to do to the data (actions).

Actions follow Fybrik's model: per column ``RedactColumn``, ``RemoveColumn`` and ``DigestColumn``,
per dataset ``FilterRows`` with a SQL predicate (DuckDB dialect). When several actions name the
same column the strongest wins: remove, then redact, then digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, model_validator

ActionType = Literal["RemoveColumn", "RedactColumn", "DigestColumn", "FilterRows"]
ACTION_TYPES: tuple[str, ...] = get_args(ActionType)
#: Column actions, strongest first.
COLUMN_ACTIONS: tuple[str, ...] = ("RemoveColumn", "RedactColumn", "DigestColumn")

Operation = Literal["read", "write", "transfer"]


@dataclass(frozen=True)
class Subject:
    """Who asks: a user, their role and team."""

    user: str | None = None
    role: str | None = None
    team: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"user": self.user, "role": self.role, "team": self.team}

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in self.as_dict().items() if v]
        return ", ".join(parts) or "anonymous"


class Action(BaseModel):
    """One obligation of a decision."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ActionType
    #: The column of a column action.
    column: str | None = None
    #: The SQL predicate of ``FilterRows``: rows for which it is true are kept.
    predicate: str | None = None
    #: Why the policy asks for it.
    reason: str | None = None

    @model_validator(mode="after")
    def _check_target(self) -> Action:
        if self.type == "FilterRows" and not self.predicate:
            raise ValueError("FilterRows needs a `predicate`")
        if self.type != "FilterRows" and not self.column:
            raise ValueError(f"{self.type} needs a `column`")
        return self

    def __str__(self) -> str:
        return f"FilterRows({self.predicate})" if self.type == "FilterRows" else f"{self.type}({self.column})"


class Decision(BaseModel):
    """The answer of the policies for one subject, purpose, operation and dataset."""

    allowed: bool
    reason: str
    actions: list[Action] = []
    dataset: str = ""

    def column_actions(self) -> dict[str, str]:
        """``{column_lower: action type}``, the strongest action per column."""
        chosen: dict[str, str] = {}
        for action in self.actions:
            if action.column is None:
                continue
            key = action.column.lower()
            current = chosen.get(key)
            if current is None or COLUMN_ACTIONS.index(action.type) < COLUMN_ACTIONS.index(current):
                chosen[key] = action.type
        return chosen

    def predicates(self) -> list[str]:
        return [a.predicate for a in self.actions if a.type == "FilterRows" and a.predicate]

    def summary(self) -> str:
        verdict = "allow" if self.allowed else "deny"
        actions = ", ".join(str(a) for a in self.actions)
        return f"{verdict}: {self.reason}" + (f" [{actions}]" if actions and self.allowed else "")


DEFAULT_DENY_REASON = "no policy allows this access (default deny)"


def unclassified_denial(document: dict[str, Any], result: dict[str, Any]) -> str | None:
    """Why a dataset whose classification is unknown may not be read by this subject, or ``None``.

    Only its owner (the subject's team or user) reads it, unless the policies grant
    ``allow_unclassified``. An input without ``dataset.classified`` (a hand-written test case)
    is taken as classified.
    """
    dataset = document.get("dataset") or {}
    if dataset.get("classified", True) is not False or result.get("allow_unclassified") is True:
        return None
    subject, owner = document.get("subject") or {}, dataset.get("owner")
    if owner and owner in (subject.get("team"), subject.get("user")):
        return None
    return (f"the classification of `{dataset.get('name')}` is unknown (a column is neither declared nor derived "
            f"from classified columns), so only its owner ({owner or 'none recorded'}) may read it "
            f"unless a policy grants `allow_unclassified`")  # fmt: skip


def combine(result: dict[str, Any], *, default_deny: bool, dataset: str,
            document: dict[str, Any] | None = None) -> Decision:  # fmt: skip
    """Turn the policy document (``allow``, ``deny``, ``reasons``, ``actions``) into a ``Decision``.

    Any ``deny`` reason wins; then a dataset of unknown classification is denied to all but its
    owner (see ``unclassified_denial``, given the input ``document``); otherwise ``allow``
    decides; without ``allow`` the workspace default (deny, unless ``policy_default_deny`` is
    false) applies.
    """
    denies = sorted(str(d) for d in _as_list(result.get("deny")))
    if not denies and document is not None and (unclassified := unclassified_denial(document, result)):
        denies = [unclassified]
    actions = sorted({Action.model_validate(a) for a in _as_list(result.get("actions"))}, key=str)
    reasons = sorted(str(r) for r in _as_list(result.get("reasons")))
    if denies:
        return Decision(allowed=False, reason="; ".join(denies), dataset=dataset)
    if result.get("allow") is True:
        return Decision(
            allowed=True, reason="; ".join(reasons) or "allowed by policy", actions=actions, dataset=dataset
        )
    if default_deny:
        return Decision(allowed=False, reason=DEFAULT_DENY_REASON, dataset=dataset)
    return Decision(allowed=True, reason="; ".join(reasons) or "no policy denies this access (default allow)",
                    actions=actions, dataset=dataset)  # fmt: skip


def _as_list(value: Any) -> list:
    if value is None or value is False:
        return []
    if isinstance(value, (list, tuple, set)):
        return list(value)
    return [value]
