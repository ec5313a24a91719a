"""Plan what to do about security-group findings: one action per offending rule (de-duplicated
across the rules that flagged it), in the mode, scope and exemption state of its group."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from eksguard.config import Config, Mode, Scope
from eksguard.detect import catalog
from eksguard.detect.rule import Rule
from eksguard.model import ActionKind, Finding
from eksguard.plan.exemptions import exemption
from eksguard.snapshot.sg import GroupRole, SecurityGroup, SgRule, SgSnapshot

# Stable namespace: the same event and rule always give the same remediation id, so a
# redelivered event finds the record of the first attempt instead of acting twice.
REMEDIATION_NAMESPACE = uuid.UUID("6c1f3e0a-3b43-4d0c-9a55-6b2f4d1c9e21")


@dataclass(frozen=True)
class RevokeRule:
    group_id: str
    rule_id: str
    is_egress: bool


@dataclass(frozen=True)
class SgAction:
    remediation_id: str
    kind: ActionKind
    finding: Finding
    related: tuple[Finding, ...]
    group: SecurityGroup
    rule: SgRule | None
    note: str = ""

    @property
    def revoke(self) -> RevokeRule | None:
        if self.kind is not ActionKind.REVOKED or self.rule is None:
            return None
        return RevokeRule(self.rule.group_id, self.rule.rule_id, self.rule.is_egress)


@dataclass(frozen=True)
class SgPlan:
    actions: tuple[SgAction, ...]
    out_of_scope: tuple[Finding, ...] = ()


def remediates(rule: Rule) -> bool:
    """Every security-group remediation is the same: revoke the one offending rule by its id."""
    return rule.action is ActionKind.REVOKED


def remediation_id(event_id: str, finding: Finding) -> str:
    key = f"{event_id}|{finding.resource_id}|{finding.target_id or finding.rule_id}"
    return str(uuid.uuid5(REMEDIATION_NAMESPACE, key))


def in_scope(group: SecurityGroup, config: Config) -> bool:
    return config.scope is Scope.ALL or group.in_cluster_vpc


def never_touch(group: SecurityGroup, rule: SgRule | None) -> str | None:
    """Rules eksguard must not revoke whatever the mode, and why."""
    if rule is None:
        return "no single rule to revoke"
    if rule.referenced_group_id:
        return "its source is another security group"
    if rule.prefix_list_id:
        return "its source is a prefix list"
    if GroupRole.CLUSTER in group.roles and rule.referenced_group_id == group.group_id:
        return "it is the cluster security group's self rule (EKS manages it)"
    return None


def plan(snapshot: SgSnapshot, findings: Iterable[Finding], config: Config, event_id: str,
         today: date) -> SgPlan:
    by_target: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        # Findings about the same rule merge into one action; rule-less findings stay apart.
        by_target.setdefault((f.resource_id, f.target_id or f"{f.rule_id}: {f.detail}"), []).append(f)
    actions: list[SgAction] = []
    out_of_scope: list[Finding] = []
    for (group_id, target), group_findings in by_target.items():
        group = snapshot.group(group_id)
        if group is None:
            continue
        if not in_scope(group, config):
            out_of_scope.extend(group_findings)
            continue
        # Worst first; on a tie the lower rule id (the more specific catalog entry) leads.
        ordered = sorted(group_findings, key=lambda f: (-f.severity, f.rule_id))
        primary, related = ordered[0], tuple(ordered[1:])
        rule = next((r for r in group.rules if r.rule_id == target), None)
        actions.append(_decide(group, rule, primary, related, config, event_id, today))
    return SgPlan(tuple(actions), tuple(out_of_scope))


def _decide(group: SecurityGroup, rule: SgRule | None, primary: Finding, related: tuple[Finding, ...],
            config: Config, event_id: str, today: date) -> SgAction:
    rid = remediation_id(event_id, primary)
    exempt = exemption(group.tags, config.exempt_tag_key, today)
    if exempt.active:
        return SgAction(rid, ActionKind.EXEMPT, primary, related, group, rule, exempt.note)
    remediable = any(f.remediable and remediates(catalog.rule(f.rule_id)) for f in (primary, *related))
    refusal = never_touch(group, rule)
    if config.mode is Mode.ENFORCE and remediable and refusal is None:
        return SgAction(rid, ActionKind.REVOKED, primary, related, group, rule, exempt.note)
    if config.mode is Mode.AUDIT:
        note = "audit mode: nothing changed"
    elif not remediable:
        note = "alert-only rule"
    else:
        note = f"not revoked: {refusal}"
    return SgAction(rid, ActionKind.ALERT_ONLY, primary, related, group, rule,
                    "; ".join(n for n in (note, exempt.note) if n))
