"""The governor: builds the policy input from the catalog, decides, caches, and audits.

Every read path (governed SQL, Flight, transfers) asks ``Governor.decide``, which first resolves
the purpose (normalised, or the declared default) so every channel decides, caches and audits the
same one. Decisions are cached per (subject, purpose, dataset, operation, location) for
``policy_cache_seconds``; the cache is dropped at once when a policy file or the dataset's catalog
entry changes (its ``updated_at``).
"""

from __future__ import annotations

import hmac
import threading
import time
from typing import TYPE_CHECKING, Any

from meshkit.catalog.catalog import Catalog, Dataset
from meshkit.core.errors import ConfigError
from meshkit.governance import audit
from meshkit.governance.decision import DEFAULT_DENY_REASON, Decision, Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.policies import PolicyEngine

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

POLICY_DIR = "policies"
DECISION_CACHE_SIZE = 4096


def input_document(subject: Subject, purpose: str | None, dataset: Dataset, *, operation: str = "read",
                   location: str | None = None) -> dict[str, Any]:  # fmt: skip
    """The ``input`` a policy sees."""
    return {
        "subject": subject.as_dict(),
        "purpose": purpose,
        "location": location,
        "operation": operation,
        "dataset": {
            "name": dataset.id,
            "store": dataset.store,
            "asset": dataset.asset,
            "tags": dataset.tags,
            "owner": dataset.owner,
            "domain": dataset.domain,
            "product": dataset.product,
            "residency": dataset.residency,
            "classified": dataset.classified,
        },  # fmt: skip
        "columns": [{"name": c.name, "type": c.type, "tags": c.all_tags} for c in dataset.columns],
    }


class Governor:
    """Policy decisions for one workspace."""

    def __init__(self, meshkit: Meshkit):
        self.meshkit = meshkit
        config = meshkit.config
        self.catalog = Catalog(meshkit)
        self.engine = PolicyEngine(meshkit.workspace.root / POLICY_DIR, package=config.get("policy_package"),
                                   default_deny=config.get("policy_default_deny"), opa_url=config.get("policy_opa_url"))  # fmt: skip
        self.location = config.get("policy_location")
        self.ttl = float(config.get("policy_cache_seconds"))
        self._decisions: dict[tuple, tuple[float, tuple, Decision]] = {}
        self._datasets: dict[str, tuple[float, Dataset]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ datasets

    def dataset(self, name: str) -> Dataset:
        """The catalog entry for ``name``, cached like decisions but read again as soon as it changes.

        Tags change under a reader's feet when a run or a publish propagates them along lineage.
        """
        with self._lock:
            hit = self._datasets.get(name)
        if hit and hit[0] > time.monotonic() and self.catalog.updated_at(hit[1].id) == hit[1].updated_at:
            return hit[1]
        found = self.catalog.find(name)
        with self._lock:
            self._datasets[name] = (time.monotonic() + self.ttl, found)
        return found

    # ------------------------------------------------------------------ decisions

    def purpose(self, purpose: str | None) -> str | None:
        """The purpose a read is decided for: ``purpose`` normalised, or the declared default."""
        return self.engine.purposes().resolve(purpose)

    def decide(self, subject: Subject, purpose: str | None, dataset: Dataset, *, operation: str = "read",
               channel: str = "api", statement: str | None = None, audit_log: bool = True) -> Decision:  # fmt: skip
        """The decision for this access, recorded in the audit log."""
        signature = self.engine.signature()
        purpose = self.engine.purposes(signature).resolve(purpose)
        key = (subject, purpose, dataset.id, operation, self.location)
        version = (signature, dataset.updated_at)
        with self._lock:
            hit = self._decisions.get(key)
        if hit and hit[0] > time.monotonic() and hit[1] == version:
            decision = hit[2]
        else:
            document = input_document(subject, purpose, dataset, operation=operation, location=self.location)
            decision = self.engine.decide(document)
            with self._lock:
                if len(self._decisions) >= DECISION_CACHE_SIZE:
                    self._decisions.clear()
                self._decisions[key] = (time.monotonic() + self.ttl, version, decision)
        if audit_log:
            redacted = self.meshkit.redactor.redact(statement) if statement else None
            audit.record(self.meshkit.metadata.engine, decision, subject=subject, purpose=purpose, operation=operation,
                         channel=channel, location=self.location, statement=redacted)  # fmt: skip
        return decision

    def require(self, subject: Subject, purpose: str | None, dataset: Dataset, **kw) -> Decision:
        """``decide``, raising ``AccessDeniedError`` when denied."""
        decision = self.decide(subject, purpose, dataset, **kw)
        if not decision.allowed:
            purpose = self.purpose(purpose)
            raise AccessDeniedError(
                f"Access to `{dataset.id}` denied for {subject} (purpose {purpose or 'none'}): {decision.reason}.",
                dataset=dataset.id, reason=decision.reason,
                hint=self.grant_hint(subject, purpose, dataset, decision),
            )  # fmt: skip
        return decision

    def grant_hint(self, subject: Subject, purpose: str | None, dataset: Dataset, decision: Decision) -> str:
        """What to change in ``policies/`` so that ``subject`` may read ``dataset`` for ``purpose``."""
        role = subject.role or "ROLE"
        unclassified = not dataset.classified and "classification" in decision.reason
        if self.engine.purposes().refusal(subject.role, purpose):
            name = purpose or "analytics"
            grant = (f'To grant it, declare the purpose for the role in {POLICY_DIR}/purposes.json: '
                     f'{{"purposes": {{"{name}": {{"roles": ["{role}"], "default": true}}}}}}')  # fmt: skip
            if subject.role is None:
                grant += "; and read with `--role ROLE` (or set `role` in `[governance.subjects.USER]` of meshkit.toml)"
        elif not unclassified and decision.reason != DEFAULT_DENY_REASON:
            grant = f"A `deny` rule of {POLICY_DIR}/*.rego refuses it; change that rule to grant it"
        else:
            who = (
                f'input.subject.team == "{subject.team}"'
                if subject.team
                else f'input.subject.role == "{role}"'
            )
            grant = (
                f"To grant it, add to a {POLICY_DIR}/*.rego file (package meshkit.access): `allow if {who}`"
            )
            if unclassified:
                grant += (f" and `allow_unclassified if {who}` (or declare the columns of `{dataset.id}` "
                          "in a product contract)")  # fmt: skip
        return f"{grant}. `meshkit policy eval` shows the policy input and decision."

    def explain(
        self, subject: Subject, purpose: str | None, dataset: Dataset, *, operation: str = "read"
    ) -> dict[str, Any]:
        """The policy input, the raw policy document and the combined decision (not cached)."""
        purpose = self.purpose(purpose)
        document = input_document(subject, purpose, dataset, operation=operation, location=self.location)
        return {
            "input": document,
            "result": self.engine.evaluate(document),
            "decision": self.engine.decide(document),
        }

    # ------------------------------------------------------------------ callers

    def subject_for_token(self, token: str) -> Subject | None:
        """The subject whose ``[governance.subjects.NAME] token`` (a reference) equals ``token``."""
        for name, entry in self.subjects().items():
            expected = entry.get("token")
            if expected is None:
                continue
            value = str(self.meshkit.resolve(expected))
            if hmac.compare_digest(value.encode(), token.encode()):
                return Subject(user=entry.get("user", name), role=entry.get("role"), team=entry.get("team"))
        return None

    def subjects(self) -> dict[str, dict[str, Any]]:
        """``[governance.subjects.NAME]`` tables of ``meshkit.toml``."""
        return self.subjects_of(self.meshkit)

    @staticmethod
    def subjects_of(meshkit: Meshkit) -> dict[str, dict[str, Any]]:
        """``[governance.subjects.NAME]`` tables of the ``meshkit.toml`` of ``meshkit``."""
        subjects = meshkit.workspace.settings.get("governance", {}).get("subjects", {})
        if not isinstance(subjects, dict):
            raise ConfigError("`[governance.subjects]` must hold tables.", where="meshkit.toml")
        return subjects
