"""Plan what to do about IRSA findings: per role, at most one trust rewrite carrying every fix the
findings allow (one UpdateAssumeRolePolicy, one before-image, one alert), and one alert-only action
per rule id for what is left, in the mode and exemption state of the role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from eksguard.config import Config, Mode
from eksguard.detect import catalog
from eksguard.detect.rule import Rule
from eksguard.model import ActionKind, Finding
from eksguard.plan.exemptions import exemption
from eksguard.plan.trust_edit import Edit, apply_edits, check
from eksguard.snapshot.irsa import IrsaSnapshot, Role

# Not the security-group namespace: a role and a group can never share a remediation id.
REMEDIATION_NAMESPACE = uuid.UUID("0b9e3c57-52d4-4a63-8f0e-2f7d6c1a4b88")
SERVICE_ROLE_PATH = "/aws-service-role/"


@dataclass(frozen=True)
class TrustAction:
    remediation_id: str
    kind: ActionKind  # rewrote-trust | alert-only | exempt
    role: Role
    finding: Finding  # the most severe finding the action is about
    related: tuple[Finding, ...] = ()
    # The document eksguard writes (rewrite) or would write (audit mode, for the alert); else None.
    after: Mapping[str, Any] | None = None
    edits: tuple[Edit, ...] = ()
    note: str = ""

    @property
    def rewrites(self) -> bool:
        return self.kind is ActionKind.REWROTE_TRUST


@dataclass(frozen=True)
class IrsaPlan:
    actions: tuple[TrustAction, ...]


def remediation_id(event_id: str, role: Role, what: str) -> str:
    return str(uuid.uuid5(REMEDIATION_NAMESPACE, f"{event_id}|{role.arn}|{what}"))


def never_touch(role: Role, config: Config) -> str | None:
    if role.path.startswith(SERVICE_ROLE_PATH):
        return "a service-linked role (AWS owns its trust policy)"
    if role.path.startswith(config.own_role_path):
        return "one of eksguard's own roles"
    return None


def _pin_aud(stmt: int, issuer: str, ev: Mapping[str, Any]) -> Edit:
    return Edit(stmt, "pin-aud", issuer)


def _pin_sub(stmt: int, issuer: str, ev: Mapping[str, Any]) -> Edit:
    return Edit(stmt, "pin-sub", issuer, subs=tuple(ev["subs"]))


def _move_issuer(stmt: int, issuer: str, ev: Mapping[str, Any]) -> Edit:
    return Edit(stmt, "move-issuer", issuer, new_issuer=ev["new_issuer"], new_provider=ev["new_provider"])


# The planner's dispatch: which trust edit fixes a finding of each remediable rule (catalog action
# rewrote-trust). tests/unit/test_catalog.py fails when a remediable rule has no edit here.
EDITS: Mapping[str, Callable[[int, str, Mapping[str, Any]], Edit]] = {
    "IR-001": _pin_aud, "IR-002": _pin_sub, "IR-003": _pin_sub, "IR-005": _move_issuer,
}


def remediates(rule: Rule) -> bool:
    return rule.action is ActionKind.REWROTE_TRUST and rule.rule_id in EDITS


def edits_for(findings: Iterable[Finding]) -> tuple[tuple[Edit, ...], tuple[Finding, ...]]:
    """The edits remediable findings ask for, and the findings those edits fix."""
    edits: dict[tuple[int, str, str], Edit] = {}
    fixed: list[Finding] = []
    for f in findings:
        ev = dict(f.evidence)
        stmt, issuer = ev.get("statement"), ev.get("issuer")
        make = EDITS.get(f.rule_id) if catalog.rule(f.rule_id).action is ActionKind.REWROTE_TRUST else None
        if not f.remediable or make is None or not isinstance(stmt, int) or not isinstance(issuer, str):
            continue
        edit = make(stmt, issuer, ev)
        edits[(stmt, issuer, edit.kind)] = edit
        fixed.append(f)
    return tuple(edits.values()), tuple(fixed)


def _fixed_on_the_side(f: Finding, edits: tuple[Edit, ...]) -> bool:
    """IR-006 (provider gone) is fixed by moving that statement to an existing provider; IR-004 on aud by
    the aud pin."""
    ev = dict(f.evidence)
    for e in (e for e in edits if e.statement == ev.get("statement")):
        if f.rule_id == "IR-006" and e.kind == "move-issuer" and str(ev.get("provider", "")).lower().endswith(
                "oidc-provider/" + e.issuer.lower()):
            return True
        if f.rule_id == "IR-004" and e.kind == "pin-aud" and ev.get("claim") == "aud" and ev.get("issuer") == e.issuer:
            return True
    return False


def _worst_first(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (-f.severity, f.rule_id, f.target_id or ""))


def plan(snapshot: IrsaSnapshot, findings: Iterable[Finding], config: Config, event_id: str,
         today: date) -> IrsaPlan:
    by_role: dict[str, list[Finding]] = {}
    for f in findings:
        by_role.setdefault(f.resource_id, []).append(f)
    actions: list[TrustAction] = []
    for role in snapshot.roles:
        if role.name in by_role:
            actions += plan_role(role, by_role[role.name], config, event_id, today)
    return IrsaPlan(tuple(actions))


def plan_role(role: Role, findings: list[Finding], config: Config, event_id: str, today: date) -> list[TrustAction]:
    exempt = exemption(role.tags, config.exempt_tag_key, today)
    if exempt.active:
        return _per_rule(role, findings, ActionKind.EXEMPT, exempt.note, event_id)
    edits, fixed = edits_for(findings)
    after: dict[str, Any] | None = None
    note = ""
    if edits:
        refusal = never_touch(role, config)
        if refusal is None:
            after = apply_edits(role.document, edits)
            refusal = check(role.document, after, edits)
        if refusal is not None:
            after, edits, fixed, note = None, (), (), f"not rewritten: {refusal}"
    fixed += tuple(f for f in findings if f not in fixed and _fixed_on_the_side(f, edits))
    rest = [f for f in findings if f not in fixed]
    notes = [n for n in (note, exempt.note) if n]
    if fixed and config.mode is Mode.ENFORCE:
        ordered = _worst_first(fixed)
        rewrite = TrustAction(remediation_id(event_id, role, "trust"), ActionKind.REWROTE_TRUST, role, ordered[0],
                              tuple(ordered[1:]), after, edits, "; ".join(notes))
        return [rewrite, *_per_rule(role, rest, ActionKind.ALERT_ONLY, _rest_note(config, notes), event_id)]
    audit_note = "audit mode: nothing changed" + (" (the proposed trust is in `after`)" if after else "")
    actions = _per_rule(role, list(fixed), ActionKind.ALERT_ONLY, "; ".join([audit_note, *notes]), event_id, after)
    return actions + _per_rule(role, rest, ActionKind.ALERT_ONLY, _rest_note(config, notes), event_id)


def _rest_note(config: Config, notes: list[str]) -> str:
    head = "audit mode: nothing changed" if config.mode is Mode.AUDIT else "alert only"
    return "; ".join([head, *notes])


def _per_rule(role: Role, findings: list[Finding], kind: ActionKind, note: str, event_id: str,
              after: Mapping[str, Any] | None = None) -> list[TrustAction]:
    by_rule: dict[str, list[Finding]] = {}
    for f in _worst_first(findings):
        by_rule.setdefault(f.rule_id, []).append(f)
    return [TrustAction(remediation_id(event_id, role, rule_id), kind, role, group[0], tuple(group[1:]),
                        after, (), note) for rule_id, group in by_rule.items()]
