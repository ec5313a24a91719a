"""The IRSA planner and the trust rewrite: change only what a finding names, keep every other statement,
condition and Sid, never widen, pin aud, pin sub only for a known service account, refuse what is too big
or fails validation; mode, exemption and service-linked roles; deterministic remediation ids."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.test_rules_irsa import (
    ACCOUNT,
    BOTH_PROVIDERS,
    ISSUER,
    LIVE,
    NEW,
    OLD,
    PAYMENTS,
    REGION,
    SA,
    STS,
    doc,
    provider,
    role,
    stmt,
)

from eksguard.config import Config, Mode
from eksguard.detect.irsa import detect
from eksguard.model import ActionKind
from eksguard.plan.irsa import TrustAction, plan, remediation_id
from eksguard.plan.trust_edit import TRUST_POLICY_LIMIT, Edit, apply_edits, check, policy_size
from eksguard.snapshot.irsa import IrsaSnapshot, Role, parse_trust

TODAY = date(2026, 11, 20)
EVENT = "7a1c0e52-4b9d-4f0e-9c11-2d4e6f8a0b01"
ENFORCE, AUDIT = Config(mode=Mode.ENFORCE), Config(mode=Mode.AUDIT)
EC2_STATEMENT = {"Sid": "Ec2", "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                 "Action": "sts:AssumeRole"}


def snapshot(*roles: Role, providers: dict[str, bool] | None = None, clusters: Any = (LIVE,)) -> IrsaSnapshot:
    return IrsaSnapshot(roles, ACCOUNT, "aws", {provider().lower(): True} if providers is None else providers,
                        tuple(clusters), frozenset({REGION}))


def planned(r: Role, config: Config = ENFORCE, **kw: Any) -> list[TrustAction]:
    snap = snapshot(r, **kw)
    return list(plan(snap, detect(snap), config, EVENT, TODAY).actions)


def rewrite_of(r: Role, **kw: Any) -> TrustAction:
    (action,) = [a for a in planned(r, **kw) if a.rewrites]
    return action


def conditions(document: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return document["Statement"][index]["Condition"]


# -- each fix changes only what its finding names --------------------------------------------------------------

def test_aud_typo_changes_the_value_and_nothing_else() -> None:
    r = role(stmt(aud="sts.amazon.com", sid="AwsNode", extra={"StringLike": {"aws:RequestTag/team": "net*"}}),
             EC2_STATEMENT)
    action = rewrite_of(r)
    assert action.after is not None
    expected = copy.deepcopy(dict(r.document))
    expected["Statement"][0]["Condition"]["StringEquals"][f"{ISSUER}:aud"] = STS
    assert action.after == expected
    assert [f.rule_id for f in (action.finding, *action.related)] == ["IR-001"]


def test_missing_aud_is_added_next_to_the_existing_conditions() -> None:
    r = role(stmt(aud=None, sub="system:serviceaccount:app:*", sub_op="StringLike"),
             tags={"eksguard:service-account": "app/api"})
    action = rewrite_of(r)
    assert action.after is not None
    assert conditions(dict(action.after)) == {"StringEquals": {f"{ISSUER}:aud": STS, f"{ISSUER}:sub": SA}}


def test_aud_pinned_under_its_own_key_spelling() -> None:
    key = f"{ISSUER.upper()}:AUD"
    action = rewrite_of(role(stmt(aud=None, extra={"StringEquals": {key: ["sts.amazonaws.com", "other"]}})))
    assert action.after is not None
    assert conditions(dict(action.after))["StringEquals"][key] == STS


def test_wildcard_sub_tightened_to_the_tagged_service_account() -> None:
    r = role(stmt(sub="system:serviceaccount:*:*", sub_op="StringLike",
                  extra={"StringLike": {"aws:PrincipalTag/team": "payments-*"}}),
             tags={"eksguard:service-account": "app/api"})
    action = rewrite_of(r)
    assert action.after is not None
    assert conditions(dict(action.after)) == {
        "StringEquals": {f"{ISSUER}:aud": STS, f"{ISSUER}:sub": SA},
        "StringLike": {"aws:PrincipalTag/team": "payments-*"},  # untouched: not the finding's
    }


def test_wildcard_next_to_an_exact_sub_keeps_only_the_exact_one() -> None:
    action = rewrite_of(role(stmt(sub=[SA, "system:serviceaccount:app:*"], sub_op="StringLike")))
    assert action.after is not None
    assert conditions(dict(action.after))["StringLike"] == {f"{ISSUER}:sub": SA}


def test_no_sub_with_a_tag_gets_the_exact_sub() -> None:
    action = rewrite_of(role(stmt(sub=None), tags={"eksguard:service-account": "app/api"}))
    assert action.after is not None
    assert conditions(dict(action.after))["StringEquals"][f"{ISSUER}:sub"] == SA


def test_exact_sub_of_another_statement_is_known() -> None:
    r = role(stmt(sid="A"), stmt(sid="B", sub=None))
    action = rewrite_of(r)
    assert action.after is not None
    assert action.after["Statement"][0] == r.document["Statement"][0]
    assert conditions(dict(action.after), 1)["StringEquals"][f"{ISSUER}:sub"] == SA


def test_issuer_move_keeps_values_and_other_statements() -> None:
    r = role(stmt(OLD, sid="Payments"), stmt(ISSUER, sid="Demo", sub="system:serviceaccount:demo:x"),
             tags={"eksguard:cluster": "payments"})
    action = rewrite_of(r, providers={**BOTH_PROVIDERS, provider().lower(): True}, clusters=(LIVE, PAYMENTS))
    assert action.after is not None
    moved = action.after["Statement"][0]
    assert moved["Principal"] == {"Federated": provider(NEW)}
    assert moved["Condition"] == {"StringEquals": {f"{NEW}:aud": STS, f"{NEW}:sub": SA}}
    assert moved["Sid"] == "Payments"
    assert action.after["Statement"][1] == r.document["Statement"][1]
    assert action.finding.rule_id == "IR-005"


def test_issuer_move_and_aud_fix_in_one_rewrite() -> None:
    r = role(stmt(OLD, aud="sts.amazon.com"), tags={"eksguard:cluster": "payments"})
    acts = planned(r, providers=BOTH_PROVIDERS, clusters=(LIVE, PAYMENTS))
    (rewrite,) = acts
    assert rewrite.kind is ActionKind.REWROTE_TRUST and rewrite.after is not None
    assert {f.rule_id for f in (rewrite.finding, *rewrite.related)} == {"IR-001", "IR-005"}
    assert conditions(dict(rewrite.after)) == {"StringEquals": {f"{NEW}:aud": STS, f"{NEW}:sub": SA}}


def test_deleted_provider_fixed_by_the_move_is_related() -> None:
    r = role(stmt(OLD), tags={"eksguard:cluster": "payments"})
    acts = planned(r, providers={provider(OLD).lower(): False, provider(NEW).lower(): True},
                   clusters=(LIVE, PAYMENTS))
    assert [(a.kind, a.finding.rule_id, [f.rule_id for f in a.related]) for a in acts] == [
        (ActionKind.REWROTE_TRUST, "IR-005", ["IR-006"])]


def test_rewritten_trust_is_clean_on_the_next_read() -> None:
    r = role(stmt(aud="sts.amazon.com", sub="system:serviceaccount:*:*", sub_op="StringLike"),
             tags={"eksguard:service-account": "app/api"})
    action = rewrite_of(r)
    assert action.after is not None
    again = Role(r.name, r.arn, r.path, dict(action.after), r.tags)
    assert detect(snapshot(again)) == []


# -- alert only, refused, exempt, audit ------------------------------------------------------------------------

def test_unknown_service_account_is_alert_only() -> None:
    acts = planned(role(stmt(sub="system:serviceaccount:*:*", sub_op="StringLike")))
    assert [(a.kind, a.finding.rule_id, a.after) for a in acts] == [(ActionKind.ALERT_ONLY, "IR-003", None)]


def test_partial_fix_rewrites_what_it_can_and_alerts_the_rest() -> None:
    acts = planned(role(stmt(aud="sts.amazon.com", sub=None)))
    assert sorted((a.kind.value, a.finding.rule_id) for a in acts) == [
        ("alert-only", "IR-002"), ("rewrote-trust", "IR-001")]


def test_open_trust_is_never_rewritten() -> None:
    acts = planned(role({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}))
    assert [(a.kind, a.finding.rule_id) for a in acts] == [(ActionKind.ALERT_ONLY, "IR-007")]


def test_rewrite_over_the_size_limit_is_refused() -> None:
    filler = {"Sid": "Filler", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
              "Action": "sts:AssumeRole", "Condition": {"StringEquals": {"aws:PrincipalTag/x": ""}}}
    pad = TRUST_POLICY_LIMIT - policy_size(role(stmt(aud=None), filler).document) - 10
    filler["Condition"]["StringEquals"]["aws:PrincipalTag/x"] = "y" * pad
    r = role(stmt(aud=None), filler)
    assert policy_size(r.document) == TRUST_POLICY_LIMIT - 10  # fits now; the aud pin would not
    acts = planned(r)
    assert [(a.kind, a.finding.rule_id) for a in acts] == [(ActionKind.ALERT_ONLY, "IR-001")]
    assert "over IAM's 2048-character limit" in acts[0].note


def test_service_linked_and_own_roles_are_not_rewritten() -> None:
    for path in ("/aws-service-role/eks.amazonaws.com/", "/eksguard/"):
        acts = planned(role(stmt(aud="sts.amazon.com"), path=path))
        assert [a.kind for a in acts] == [ActionKind.ALERT_ONLY] and "not rewritten" in acts[0].note


@pytest.mark.parametrize(("tag", "kind"), [
    ("true", ActionKind.EXEMPT), ("2026-11-20", ActionKind.EXEMPT), ("2026-11-19", ActionKind.REWROTE_TRUST),
    ("soon", ActionKind.REWROTE_TRUST),
])
def test_exemption_tag(tag: str, kind: ActionKind) -> None:
    acts = planned(role(stmt(aud="sts.amazon.com"), tags={"eksguard:exempt": tag}))
    assert [a.kind for a in acts] == [kind]


def test_audit_mode_proposes_and_changes_nothing() -> None:
    acts = planned(role(stmt(aud="sts.amazon.com")), AUDIT)
    (action,) = acts
    assert action.kind is ActionKind.ALERT_ONLY and not action.rewrites
    assert action.after is not None and "audit mode" in action.note


def test_remediation_ids_are_stable_and_distinct() -> None:
    a, b = role(stmt(), name="a"), role(stmt(), name="b")
    assert remediation_id(EVENT, a, "trust") == remediation_id(EVENT, a, "trust")
    assert len({remediation_id(EVENT, a, "trust"), remediation_id(EVENT, b, "trust"),
                remediation_id("other", a, "trust"), remediation_id(EVENT, a, "IR-002")}) == 4


# -- check(): the last line of defence ---------------------------------------------------------------------------

def test_check_refuses_a_widening_sub() -> None:
    before = doc(stmt(sub="system:serviceaccount:app:*", sub_op="StringLike"))
    widened = apply_edits(before, [Edit(0, "pin-sub", ISSUER, subs=("system:serviceaccount:kube-system:admin",))])
    assert "widen" in (check(before, widened, [Edit(0, "pin-sub", ISSUER, subs=())]) or "")


def test_check_refuses_any_change_outside_the_edits() -> None:
    before = doc(stmt(aud="sts.amazon.com"), EC2_STATEMENT)
    edits = [Edit(0, "pin-aud", ISSUER)]
    after = apply_edits(before, edits)
    assert check(before, after, edits) is None
    for mutate in (
        lambda d: d["Statement"][1].update(Action="sts:*"),
        lambda d: d["Statement"][0].update(Sid="Renamed"),
        lambda d: d["Statement"][0]["Condition"]["StringEquals"].update({"aws:SourceIp": "1.2.3.4"}),
        lambda d: d["Statement"][0]["Principal"].update(Federated="arn:aws:iam::1:oidc-provider/x"),
        lambda d: d["Statement"].pop(),
        lambda d: d.update(Version="2008-10-17"),
    ):
        bad = copy.deepcopy(after)
        mutate(bad)
        assert check(before, bad, edits) is not None, bad


def test_check_refuses_an_unpinned_aud() -> None:
    before = doc(stmt(aud="sts.amazon.com"))
    assert "aud" in (check(before, before, [Edit(0, "pin-aud", ISSUER)]) or "")


def test_edits_do_not_touch_the_input() -> None:
    before = doc(stmt(aud="sts.amazon.com"))
    frozen = json.dumps(before, sort_keys=True)
    apply_edits(before, [Edit(0, "pin-aud", ISSUER)])
    assert json.dumps(before, sort_keys=True) == frozen


SUB_FORMS = st.one_of(st.none(), st.just(SA), st.just([SA]), st.just("system:serviceaccount:*:*"),
                      st.just("system:serviceaccount:app:*"), st.just([SA, "system:serviceaccount:app:*"]))


@settings(max_examples=150, deadline=None)
@given(aud=st.sampled_from([None, STS, "sts.amazon.com", [STS, "x"]]), sub=SUB_FORMS,
       sub_op=st.sampled_from(["StringEquals", "StringLike", "ForAnyValue:StringLike"]),
       tag=st.sampled_from([None, "app/api", "kube-system/aws-node"]), second=st.booleans())
def test_any_rewrite_is_valid_narrower_and_clean(aud: Any, sub: Any, sub_op: str, tag: str | None,
                                                 second: bool) -> None:
    statements = [stmt(aud=aud, sub=sub, sub_op=sub_op, sid="Irsa")] + ([EC2_STATEMENT] if second else [])
    r = role(*statements, tags={"eksguard:service-account": tag} if tag else None)
    for action in planned(r):
        if not action.rewrites:
            continue
        assert action.after is not None
        assert check(r.document, action.after, action.edits) is None
        assert parse_trust(action.after).statements[0].sid == "Irsa"
        if second:
            assert action.after["Statement"][1] == EC2_STATEMENT
        fixed = Role(r.name, r.arn, r.path, dict(action.after), r.tags)
        left = {f.rule_id for f in detect(snapshot(fixed))}
        assert not left & {f.rule_id for f in (action.finding, *action.related)}
