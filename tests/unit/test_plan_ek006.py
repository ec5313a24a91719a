"""EK-006 in enforce mode, the planner's decision (pure, no AWS): which cluster-admin grants are disassociated
(RevokeClusterAdmin, a non-empty AdminPrincipals, cluster scope, not eksguard's own role, not exempt) and why every
other one is alert only. Named fixtures, each changing one thing from the grant that is disassociated."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import pytest
from tests.paths import TEMPLATE
from tests.unit.test_least_privilege import _physical

from eksguard.config import Config, Mode
from eksguard.config_eks import EksConfig
from eksguard.detect.eks import detect
from eksguard.local.template import LocalContext, TemplateResolver, load_template
from eksguard.model import ActionKind
from eksguard.plan.eks import DisassociateChange, plan
from eksguard.snapshot.eks import AccessGrant, ClusterPosture, EksSnapshot

ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
BREAK_GLASS = "arn:aws:iam::123456789012:role/break-glass"
CONTRACTOR = "arn:aws:iam::123456789012:role/contractor"
OWN_ROLE = "arn:aws:iam::123456789012:role/eksguard/eksguard-kube-reader"
ENTRY = "arn:aws:eks:ap-northeast-2:123456789012:access-entry/prod/role/123456789012/contractor/0b1c2d3e"
TODAY = date(2026, 11, 22)
REVOKE = EksConfig(admin_principals=frozenset({BREAK_GLASS}), revoke_cluster_admin=True)


def _grant(**changes: Any) -> AccessGrant:
    return replace(AccessGrant(CONTRACTOR, ADMIN, "cluster", (), ENTRY, {},
                               {"policyArn": ADMIN, "accessScope": {"type": "cluster", "namespaces": []}}), **changes)


def _cluster(*grants: AccessGrant, **changes: Any) -> ClusterPosture:
    """Passes every rule but EK-006: private endpoint, logs on, KMS secrets, API authentication."""
    good = ClusterPosture("prod", "arn:aws:eks:ap-northeast-2:123456789012:cluster/prod", False, True, (),
                          frozenset({"api", "audit", "authenticator"}), "arn:aws:kms:ap-northeast-2:123456789012:key/k",
                          "API", grants=(AccessGrant(BREAK_GLASS, ADMIN), *grants))
    return replace(good, **changes)


@dataclass(frozen=True)
class Case:
    cluster: ClusterPosture
    eks: EksConfig = REVOKE
    mode: Mode = Mode.ENFORCE
    kind: ActionKind = ActionKind.ALERT_ONLY
    note: str = ""  # what the note must say


DISASSOCIATED = {
    "contractor-cluster-admin": Case(_cluster(_grant()), kind=ActionKind.REVOKED),
    "entry-exemption-expired": Case(_cluster(_grant(entry_tags={"eksguard:exempt": "2026-11-21"})),
                                    kind=ActionKind.REVOKED, note="expired on 2026-11-21"),
    "role-with-another-path": Case(_cluster(_grant(principal_arn="arn:aws:iam::123456789012:role/ops/contractor")),
                                   kind=ActionKind.REVOKED),
}
NOT_DISASSOCIATED = {
    "admin-principals-empty-lock-out-guard": Case(_cluster(_grant()), replace(REVOKE, admin_principals=frozenset()),
                                                  note="lock-out guard"),
    "revoke-cluster-admin-off": Case(_cluster(_grant()), replace(REVOKE, revoke_cluster_admin=False),
                                     note="RevokeClusterAdmin is off"),
    "audit-mode": Case(_cluster(_grant()), mode=Mode.AUDIT, note="audit mode"),
    "namespace-scoped": Case(_cluster(_grant(scope="namespace", namespaces=("payments",))),
                             note="namespace-scoped (payments)"),
    "aws-auth-only": Case(_cluster(auth_mode="CONFIG_MAP", grants=None), note="aws-auth only"),
    "eksguard-own-role": Case(_cluster(_grant(principal_arn=OWN_ROLE)), note="an eksguard role"),
    "access-entry-exempt": Case(_cluster(_grant(entry_tags={"eksguard:exempt": "true"})), kind=ActionKind.EXEMPT),
    "access-entry-exempt-until-tomorrow": Case(_cluster(_grant(entry_tags={"eksguard:exempt": "2026-11-23"})),
                                               kind=ActionKind.EXEMPT, note="exempt until 2026-11-23"),
    "cluster-exempt": Case(_cluster(_grant(), tags={"eksguard:exempt": "true"}), kind=ActionKind.EXEMPT),
    "cluster-updating": Case(_cluster(_grant(), status="UPDATING"), note="cluster is UPDATING"),
}


def _decide(case: Case) -> list[Any]:
    snap = EksSnapshot((case.cluster,))
    return plan(snap, detect(snap, case.eks, only=("EK-006",)), Config(mode=case.mode), case.eks, "event-1", TODAY)


@pytest.mark.parametrize("name", DISASSOCIATED)
def test_disassociated(name: str) -> None:
    case = DISASSOCIATED[name]
    (action,) = _decide(case)
    grant = next(g for g in case.cluster.grants or () if g.principal_arn != BREAK_GLASS)
    assert action.kind is ActionKind.REVOKED
    assert action.change == DisassociateChange("prod", grant.principal_arn, ADMIN, "cluster", ())
    assert case.note in action.note


@pytest.mark.parametrize("name", NOT_DISASSOCIATED)
def test_not_disassociated(name: str) -> None:
    case = NOT_DISASSOCIATED[name]
    actions = _decide(case)  # with AdminPrincipals empty, break-glass's grant is a finding too
    assert actions and all(a.change is None and a.kind is case.kind for a in actions)
    assert all(case.note in a.note for a in actions)


def test_a_principal_in_admin_principals_is_no_finding() -> None:
    snap = EksSnapshot((_cluster(),))
    assert detect(snap, REVOKE, only=("EK-006",)) == []
    both = replace(REVOKE, admin_principals=frozenset({BREAK_GLASS, CONTRACTOR}))
    assert detect(EksSnapshot((_cluster(_grant()),)), both, only=("EK-006",)) == []


def test_the_finding_is_remediable_only_when_it_would_be_disassociated() -> None:
    def remediable(cluster: ClusterPosture, eks: EksConfig) -> bool:
        (finding,) = detect(EksSnapshot((cluster,)), eks, only=("EK-006",))
        return finding.remediable

    assert remediable(_cluster(_grant()), REVOKE)
    assert not remediable(_cluster(_grant()), replace(REVOKE, revoke_cluster_admin=False))
    assert not remediable(_cluster(_grant(scope="namespace", namespaces=("payments",))), REVOKE)


def test_config_reads_the_switch() -> None:
    assert EksConfig.from_env({"EKSGUARD_REVOKE_CLUSTER_ADMIN": "true"}).revoke_cluster_admin
    assert not EksConfig.from_env({}).revoke_cluster_admin


def _disassociate_granted(**parameters: str) -> bool:
    """Whether any function of the template may call eks:DisassociateAccessPolicy with these parameters."""
    template = load_template(TEMPLATE)
    ctx = LocalContext(account_id="123456789012", region="us-east-1", parameters=parameters,
                       physical=_physical(template))
    resolver = TemplateResolver(template, ctx)
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for policy in resolver.resolve(resource["Properties"].get("Policies", [])):
            for statement in policy["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                if "eks:DisassociateAccessPolicy" in actions:
                    return True
    return False


def test_the_lock_out_guard_holds_in_iam_too() -> None:
    assert _disassociate_granted(Mode="enforce", RevokeClusterAdmin="true", AdminPrincipals=BREAK_GLASS)
    assert not _disassociate_granted(Mode="enforce", RevokeClusterAdmin="true", AdminPrincipals="")
    assert not _disassociate_granted(Mode="audit", RevokeClusterAdmin="true", AdminPrincipals=BREAK_GLASS)
    assert not _disassociate_granted(Mode="enforce", AdminPrincipals=BREAK_GLASS)
