"""Purposes are a declared vocabulary granted to roles; a reader cannot name another one."""

from __future__ import annotations

import json

import pytest

from meshkit.core.errors import ConfigError, UserError
from meshkit.governance import AccessDeniedError, Subject, audit
from meshkit.governance.governor import Governor
from meshkit.governance.purposes import normalize_purpose

ANALYST = Subject("ann", "analyst")


def declare(governed, purposes) -> None:
    (governed.workspace.root / "policies" / "purposes.json").write_text(json.dumps({"purposes": purposes}))


@pytest.mark.parametrize(("given", "normal"), [
    ("analytics", "analytics"), ("  Analytics\t", "analytics"), ("ANALYTICS", "analytics"),
    ("", None), ("   ", None), (None, None), ("Straße", "strasse"),
])  # fmt: skip
def test_one_normalisation(given, normal):
    assert normalize_purpose(given) == normal


def test_a_purpose_name_is_short_text():
    with pytest.raises(UserError, match="at most 100"):
        normalize_purpose("x" * 101)
    with pytest.raises(UserError, match="not dict"):
        normalize_purpose({"purpose": "audit"})


def test_undeclared_and_ungranted_purposes_are_denied_and_audited(governed):
    declare(governed, {"analytics": {"roles": ["analyst"]}, "audit": {"roles": ["steward"]}})
    governor = Governor(governed)
    dataset = governor.dataset("warehouse/customers")
    assert governor.require(ANALYST, " Analytics ", dataset).allowed
    with pytest.raises(AccessDeniedError, match=r"purpose `audit` is not granted to role `analyst` \(role `analyst` may read for: analytics\)"):  # fmt: skip
        governor.require(ANALYST, "audit", dataset)
    with pytest.raises(AccessDeniedError, match="purpose `gossip` is not declared"):
        governor.require(ANALYST, "gossip", dataset)
    with pytest.raises(AccessDeniedError, match="no purpose was given and none is declared the default"):
        governor.require(ANALYST, "", dataset)
    with pytest.raises(AccessDeniedError, match="role `intern` is granted no purpose"):
        governor.require(Subject("ian", "intern"), "analytics", dataset)
    log = audit.entries(governed.metadata.engine, user="ann")
    assert [(e["purpose"], e["allowed"]) for e in reversed(log)] == [
        ("analytics", True), ("audit", False), ("gossip", False), (None, False),
    ]  # fmt: skip


def test_a_missing_purpose_is_the_declared_default(governed):
    declare(governed, {"analytics": {"roles": ["analyst"], "default": True}, "audit": {"roles": ["steward"]}})
    governor = Governor(governed)
    dataset = governor.dataset("warehouse/customers")
    assert governor.require(ANALYST, None, dataset).allowed
    assert governor.explain(ANALYST, "  ", dataset)["input"]["purpose"] == "analytics"
    with pytest.raises(AccessDeniedError, match="purpose `analytics` is not granted to role `steward`"):
        governor.require(Subject("sam", "steward"), None, dataset)


def test_without_declared_purposes_nothing_is_read(governed):
    (governed.workspace.root / "policies" / "purposes.json").unlink()
    governor = Governor(governed)
    with pytest.raises(AccessDeniedError, match="no purposes are declared"):
        governor.require(ANALYST, "analytics", governor.dataset("warehouse/customers"))


@pytest.mark.parametrize(("purposes", "message"), [
    ({"Marketing": {"roles": ["marketer"]}}, r"Purpose `Marketing` must be written .*\(`marketing`\)"),
    ({" audit": {"roles": ["steward"]}}, "Purpose ` audit` must be written"),
    ({"audit": {"role": ["steward"]}}, r"`purposes\.audit\.roles`: Field required"),
    ({"audit": {"roles": "steward"}}, r"`purposes\.audit\.roles`: Input should be a valid list"),
    ({"a": {"roles": [], "default": True}, "b": {"roles": [], "default": True}}, "`a`, `b` are all marked `default`"),
    (["audit"], "`purposes` must map each purpose"),
])  # fmt: skip
def test_bad_declarations_name_the_file_and_key(governed, purposes, message):
    declare(governed, purposes)
    governor = Governor(governed)
    with pytest.raises(ConfigError, match=message) as error:
        governor.require(ANALYST, "analytics", governor.dataset("warehouse/customers"))
    assert error.value.where == "policies/purposes.json"


def test_purposes_are_declared_once(governed):
    (governed.workspace.root / "policies" / "more.json").write_text('{"purposes": {}}')
    with pytest.raises(ConfigError, match="declared in policies/more.json too") as error:
        Governor(governed).engine.purposes()
    assert error.value.where == "policies/purposes.json"


def test_policies_see_the_normalised_purpose(governed):
    policy = governed.workspace.root / "policies" / "access.rego"
    policy.write_text(policy.read_text() + '\ndeny contains "no audit here" if input.purpose == "audit"\n')
    declare(governed, {"analytics": {"roles": ["analyst"]}, "audit": {"roles": ["analyst"]}})
    governor = Governor(governed)
    with pytest.raises(AccessDeniedError, match="no audit here"):
        governor.require(ANALYST, " AUDIT ", governor.dataset("warehouse/customers"))


def test_policy_eval_shows_the_refusal(governed, cli):
    result = cli("policy", "eval", "customers", "--role", "marketer", "--purpose", " ADS ")
    assert result.exit_code == 0, result.output
    assert "purpose ads" in result.stdout and "ALLOW" in result.stdout
    refused = cli("policy", "eval", "customers", "--role", "analyst", "--purpose", "ads")
    assert "DENY purpose `ads` is not granted to role `analyst`" in refused.stdout
