"""Decision tests: cases of an input document and the decision the policies must give for it.

``policies/*_test.yaml`` holds a list of cases; YAML anchors share inputs between them::

    - name: analysts see PII masked
      input: &analyst {subject: {role: analyst}, purpose: analytics, columns: [...]}
      expect:
        allowed: true
        includes: [{type: RedactColumn, column: email}]
        excludes: [{type: RedactColumn, column: marketing_consent}]

``expect`` takes ``allowed``, ``actions`` (exactly these), ``includes``, ``excludes`` and
``reason`` (a text the decision's reason contains). Each case runs through the same decision
as enforcement (policies combined with ``policy_default_deny``). Unlike Rego ``test_*`` rules
with ``with input as``, they need nothing of the embedded engine's limited ``with``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text
from meshkit.governance.decision import Action
from meshkit.governance.policies import PolicyEngine, PolicyTestResult


class Expect(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allowed: bool | None = None
    actions: list[Action] | None = None
    includes: list[Action] = []
    excludes: list[Action] = []
    reason: str | None = None


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    input: dict[str, Any]
    expect: Expect


def case_files(engine: PolicyEngine) -> list[Path]:
    if not engine.policy_dir.is_dir():
        return []
    return sorted(p for p in engine.policy_dir.rglob("*_test.y*ml") if p.suffix in (".yaml", ".yml"))


def load_cases(path: Path, where: str) -> list[Case]:
    """The cases of one file; a ConfigError naming the file, line or case otherwise."""
    try:
        data = yaml.safe_load(read_text(path))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"Invalid YAML: {getattr(exc, 'problem', exc)}.", where=f"{where}{line}") from None
    if not isinstance(data, list):
        raise ConfigError("A decision test file holds a list of cases.", where=where,
                          hint="Start each case with `- name: ...`, then `input:` and `expect:`.")  # fmt: skip
    cases = []
    for index, item in enumerate(data, 1):
        try:
            cases.append(Case.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "case"
            name = item.get("name") if isinstance(item, dict) else None
            raise ConfigError(f"Case {index}{f' ({name})' if name else ''}: `{field}`: {first['msg']}.", where=where,
                              hint="A case has `name`, `input` and `expect` (allowed, actions, includes, "
                                   "excludes, reason).") from None  # fmt: skip
    return cases


def check(engine: PolicyEngine, case: Case) -> str:
    """What is wrong with the decision for ``case`` (empty when it is as expected)."""
    decision = engine.decide(case.input)
    expect, got = case.expect, {str(a) for a in decision.actions}
    problems = []
    if expect.allowed is not None and decision.allowed != expect.allowed:
        problems.append(f"expected {'allow' if expect.allowed else 'deny'}, got "
                        f"{'allow' if decision.allowed else 'deny'} ({decision.reason})")  # fmt: skip
    if expect.actions is not None and got != (wanted := {str(a) for a in expect.actions}):
        problems.append(f"actions {sorted(got)} are not {sorted(wanted)}")
    if missing := sorted({str(a) for a in expect.includes} - got):
        problems.append(f"missing {', '.join(missing)}")
    if present := sorted({str(a) for a in expect.excludes} & got):
        problems.append(f"unexpected {', '.join(present)}")
    if expect.reason is not None and expect.reason not in decision.reason:
        problems.append(f"reason `{decision.reason}` does not contain `{expect.reason}`")
    return "; ".join(problems)


def run_decision_tests(engine: PolicyEngine, match: str | None = None) -> list[PolicyTestResult]:
    """Every case of ``policies/*_test.yaml`` whose name contains ``match``."""
    results = []
    for path in case_files(engine):
        where = engine.where(path)
        for case in load_cases(path, where):
            if match and match not in case.name:
                continue
            message = check(engine, case)
            results.append(PolicyTestResult(where, "", case.name, not message, message))
    return results
