"""The security-group planner: one action per offending rule, in the mode, scope and exemption state of
its group; rules eksguard must never revoke; deterministic remediation ids."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from eksguard.config import Config, Mode, Scope
from eksguard.detect.sg import RULES_BY_ID, detect
from eksguard.model import ActionKind, Finding
from eksguard.plan.exemptions import exemption
from eksguard.plan.sg import RevokeRule, SgAction, SgPlan, never_touch, plan, remediation_id
from eksguard.snapshot.sg import GroupRole, SecurityGroup, SgRule, SgSnapshot

TODAY = date(2025, 6, 15)
EVENT = "3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f01"
GID = "sg-node"
AUDIT, ENFORCE = Config(mode=Mode.AUDIT), Config(mode=Mode.ENFORCE)
TAG = "eksguard:exempt"


def rule(rid: str, source: str = "0.0.0.0/0", ports: tuple[int, int] | None = (22, 22), proto: str = "tcp",
         gid: str = GID, egress: bool = False) -> SgRule:
    kind: dict[str, Any]
    if source.startswith("sg-"):
        kind = {"referenced_group_id": source}
    elif source.startswith("pl-"):
        kind = {"prefix_list_id": source}
    else:
        kind = {"cidr_ipv6" if ":" in source else "cidr_ipv4": source}
    low, high = ports if ports else (None, None)
    return SgRule(rid, gid, egress, proto, low, high, **kind)


def sg(*rules: SgRule, gid: str = GID, roles: tuple[GroupRole, ...] = (GroupRole.NODE,),
       tags: dict[str, str] | None = None, in_vpc: bool = True, name: str = "nodes") -> SecurityGroup:
    return SecurityGroup(gid, name, "vpc-1", tags or {}, tuple(replace(r, group_id=gid) for r in rules),
                         frozenset(roles), frozenset({"prod"}), in_vpc)


def finding(rule_id: str, target: str | None, gid: str = GID, remediable: bool = True) -> Finding:
    spec = RULES_BY_ID[rule_id]
    return Finding(rule_id, spec.severity, spec.title, gid, "hand-made", target_id=target,
                   remediable=remediable)


def planned(*groups: SecurityGroup, config: Config = ENFORCE, findings: list[Finding] | None = None,
            event_id: str = EVENT, today: date = TODAY) -> SgPlan:
    snap = SgSnapshot(groups)
    found = detect(snap, config) if findings is None else findings
    return plan(snap, found, config, event_id, today)


def only(p: SgPlan) -> SgAction:
    assert len(p.actions) == 1, p.actions
    return p.actions[0]


SSH_WORLD = rule("sgr-ssh")


# -- mode ----------------------------------------------------------------------------------------------------

def test_audit_mode_alerts_only() -> None:
    action = only(planned(sg(SSH_WORLD), config=AUDIT))
    assert action.kind is ActionKind.ALERT_ONLY
    assert "audit mode" in action.note
    assert action.revoke is None


def test_enforce_mode_revokes_the_offending_rule() -> None:
    action = only(planned(sg(SSH_WORLD, rule("sgr-vpn", "10.0.0.0/8"))))
    assert action.kind is ActionKind.REVOKED
    assert action.revoke == RevokeRule(GID, "sgr-ssh", False)
    assert action.rule == SSH_WORLD and action.group.group_id == GID


def test_enforce_revokes_egress_rules_as_egress() -> None:
    lb_egress = rule("sgr-out", proto="-1", ports=None, egress=True)
    f = finding("SG-001", "sgr-out")
    action = only(planned(sg(lb_egress), findings=[f]))
    assert action.revoke == RevokeRule(GID, "sgr-out", True)


# -- never touched, whatever the mode ------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "why"), [
    ("sg-bastion", "its source is another security group"),
    (GID, "its source is another security group"),
    ("pl-0123", "its source is a prefix list"),
], ids=["referenced-group", "self-rule", "prefix-list"])
def test_group_and_prefix_list_rules_are_never_revoked(source: str, why: str) -> None:
    target = rule("sgr-ref", source, ports=None, proto="-1")
    group = sg(target, roles=(GroupRole.CLUSTER,))
    # Even if a rule (wrongly) asks for it: a remediable finding targeting that very rule.
    action = only(planned(group, findings=[finding("SG-001", "sgr-ref"), finding("SG-002", "sgr-ref")]))
    assert action.kind is ActionKind.ALERT_ONLY
    assert action.revoke is None
    assert action.note == f"not revoked: {why}"
    assert never_touch(group, target) == why


def test_group_level_finding_has_no_single_rule_to_revoke() -> None:
    action = only(planned(sg(), findings=[finding("SG-001", None)]))
    assert action.kind is ActionKind.ALERT_ONLY
    assert action.rule is None and action.note == "not revoked: no single rule to revoke"


def test_cidr_rule_is_not_protected() -> None:
    assert never_touch(sg(SSH_WORLD), SSH_WORLD) is None


# -- one action per offending rule ---------------------------------------------------------------------------

def test_one_action_per_rule_flagged_by_two_rules() -> None:
    p = planned(sg(SSH_WORLD))  # a node group: SG-001 (high) and SG-002 (critical) both flag it
    action = only(p)
    assert action.finding.rule_id == "SG-002"
    assert [f.rule_id for f in action.related] == ["SG-001"]
    assert action.kind is ActionKind.REVOKED


def test_primary_does_not_depend_on_finding_order() -> None:
    group = sg(SSH_WORLD)
    a = only(planned(group, findings=[finding("SG-001", "sgr-ssh"), finding("SG-002", "sgr-ssh")]))
    b = only(planned(group, findings=[finding("SG-002", "sgr-ssh"), finding("SG-001", "sgr-ssh")]))
    assert (a.finding.rule_id, b.finding.rule_id) == ("SG-002", "SG-002")
    assert a.remediation_id == b.remediation_id


def test_equal_severity_tie_goes_to_lower_rule_id() -> None:
    same = [finding("SG-004", "sgr-ssh"), finding("SG-001", "sgr-ssh")]  # both high
    action = only(planned(sg(SSH_WORLD), findings=same))
    assert action.finding.rule_id == "SG-001" and [f.rule_id for f in action.related] == ["SG-004"]


def test_remediable_if_any_finding_on_the_rule_is() -> None:
    fs = [finding("SG-006", "sgr-ssh", remediable=False), finding("SG-003", "sgr-ssh", remediable=True)]
    action = only(planned(sg(SSH_WORLD), findings=fs))
    assert action.finding.rule_id == "SG-006"  # high beats medium
    assert action.kind is ActionKind.REVOKED


def test_separate_rules_get_separate_actions() -> None:
    p = planned(sg(SSH_WORLD, rule("sgr-rdp", ports=(3389, 3389))))
    assert sorted(a.rule.rule_id for a in p.actions if a.rule) == ["sgr-rdp", "sgr-ssh"]
    assert all(a.kind is ActionKind.REVOKED for a in p.actions)


# -- scope ---------------------------------------------------------------------------------------------------

def test_out_of_scope_group_lands_in_out_of_scope() -> None:
    outside = sg(SSH_WORLD, roles=(), in_vpc=False)
    p = planned(outside, config=Config(mode=Mode.ENFORCE, scope=Scope.EKS))
    assert p.actions == ()
    assert {f.rule_id for f in p.out_of_scope} == {"SG-002"}
    assert all(f.resource_id == GID for f in p.out_of_scope)


def test_scope_all_acts_on_groups_outside_cluster_vpcs() -> None:
    outside = sg(SSH_WORLD, roles=(), in_vpc=False)
    p = planned(outside, config=Config(mode=Mode.ENFORCE, scope=Scope.ALL))
    assert only(p).kind is ActionKind.REVOKED and p.out_of_scope == ()


def test_finding_for_a_group_not_in_the_snapshot_is_dropped() -> None:
    p = planned(sg(), findings=[finding("SG-002", "sgr-x", gid="sg-gone")])
    assert p == SgPlan((), ())


# -- exemptions ----------------------------------------------------------------------------------------------

EXEMPTIONS: list[tuple[str, str, ActionKind, str]] = [
    ("true", "true", ActionKind.EXEMPT, "exempt (no expiry)"),
    ("true-upper-padded", " TRUE ", ActionKind.EXEMPT, "exempt (no expiry)"),
    ("future-date", "2025-12-31", ActionKind.EXEMPT, "exempt until 2025-12-31"),
    ("today-is-still-exempt", "2025-06-15", ActionKind.EXEMPT, "exempt until 2025-06-15"),
    ("yesterday-expired", "2025-06-14", ActionKind.REVOKED, "exemption expired on 2025-06-14"),
    ("past-date", "2024-01-31", ActionKind.REVOKED, "exemption expired on 2024-01-31"),
    ("invalid-word", "forever", ActionKind.REVOKED, "exemption tag ignored"),
    ("invalid-date", "2025-02-30", ActionKind.REVOKED, "exemption tag ignored"),
    ("invalid-us-date", "12/31/2025", ActionKind.REVOKED, "exemption tag ignored"),
    ("empty", "", ActionKind.REVOKED, "exemption tag ignored"),
]


@pytest.mark.parametrize(("value", "kind", "note"), [pytest.param(*e[1:], id=e[0]) for e in EXEMPTIONS])
def test_exemption_in_enforce_mode(value: str, kind: ActionKind, note: str) -> None:
    action = only(planned(sg(SSH_WORLD, tags={TAG: value})))
    assert action.kind is kind
    assert note in action.note
    assert (action.revoke is not None) is (kind is ActionKind.REVOKED)


def test_exempt_findings_are_still_reported() -> None:
    action = only(planned(sg(SSH_WORLD, tags={TAG: "true"})))
    assert action.finding.rule_id == "SG-002" and action.related


def test_invalid_exemption_note_names_the_tag_and_value() -> None:
    action = only(planned(sg(SSH_WORLD, tags={TAG: "forever"})))
    assert f"{TAG}='forever'" in action.note


def test_expired_exemption_in_audit_mode_keeps_both_notes() -> None:
    action = only(planned(sg(SSH_WORLD, tags={TAG: "2024-01-31"}), config=AUDIT))
    assert action.kind is ActionKind.ALERT_ONLY
    assert "audit mode" in action.note and "exemption expired on 2024-01-31" in action.note


def test_custom_exempt_tag_key() -> None:
    config = Config(mode=Mode.ENFORCE, exempt_tag_key="acme:skip")
    assert only(planned(sg(SSH_WORLD, tags={"acme:skip": "true"}), config=config)).kind is ActionKind.EXEMPT
    assert only(planned(sg(SSH_WORLD, tags={TAG: "true"}), config=config)).kind is ActionKind.REVOKED


def test_exemption_without_tag_is_inactive_and_silent() -> None:
    ex = exemption({}, TAG, TODAY)
    assert (ex.active, ex.note) == (False, "")


# -- remediation ids -----------------------------------------------------------------------------------------

def test_remediation_ids_are_deterministic_per_event_group_and_rule() -> None:
    group = sg(SSH_WORLD, rule("sgr-rdp", ports=(3389, 3389)))
    def ids(event_id: str) -> dict[str, str]:
        return {a.rule.rule_id: a.remediation_id for a in planned(group, event_id=event_id).actions if a.rule}

    first, again, other = ids(EVENT), ids(EVENT), ids("other-event")
    assert first == again
    assert first["sgr-ssh"] != first["sgr-rdp"]
    assert set(first.values()).isdisjoint(other.values())


def test_remediation_id_does_not_depend_on_mode_or_date() -> None:
    group = sg(SSH_WORLD)
    ids = {only(planned(group, config=c, today=d)).remediation_id
           for c in (AUDIT, ENFORCE) for d in (TODAY, date(2030, 1, 1))}
    assert len(ids) == 1


def test_remediation_id_differs_across_groups() -> None:
    a, b = finding("SG-002", "sgr-1", gid="sg-a"), finding("SG-002", "sgr-1", gid="sg-b")
    assert remediation_id(EVENT, a) != remediation_id(EVENT, b)
    assert remediation_id(EVENT, a) == remediation_id(EVENT, a)


# -- alert-only rules and SG-003's switch --------------------------------------------------------------------

@pytest.mark.parametrize(("revoke_wide", "kind", "note"), [
    (True, ActionKind.REVOKED, ""),
    (False, ActionKind.ALERT_ONLY, "alert-only rule"),
])
def test_sg003_follows_revoke_wide_public_cidrs(revoke_wide: bool, kind: ActionKind, note: str) -> None:
    wide = rule("sgr-wide", "8.0.0.0/8", ports=(443, 443))
    config = Config(mode=Mode.ENFORCE, revoke_wide_public_cidrs=revoke_wide)
    action = only(planned(sg(wide, roles=()), config=config))
    assert (action.finding.rule_id, action.kind, action.note) == ("SG-003", kind, note)


@pytest.mark.parametrize(("group", "rule_id"), [
    (sg(rule("sgr-ssh", "203.0.113.0/24"), rule("sgr-out", proto="-1", ports=None, egress=True), roles=(),
        name="bastion"), "SG-005"),
    (sg(roles=(GroupRole.CLUSTER,), name="eks-cluster-sg"), "SG-006"),
    (sg(rule("sgr-out", proto="-1", ports=None, egress=True), roles=(GroupRole.DEFAULT,), name="default"),
     "SG-007"),
], ids=["SG-005", "SG-006", "SG-007"])
def test_alert_only_rules_never_revoke_in_enforce(group: SecurityGroup, rule_id: str) -> None:
    actions = [a for a in planned(group).actions if a.finding.rule_id == rule_id]
    assert actions
    assert all(a.kind is ActionKind.ALERT_ONLY and a.note == "alert-only rule" and a.revoke is None
               for a in actions)
