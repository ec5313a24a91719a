"""IRSA trust rules IR-001 ... IR-007 and the IAM posture rules EK-005 / EK-007, Checkov style: for each rule
named passing and failing fixtures. Plus the trust-policy model (every shape IAM accepts) and the registry."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from eksguard.detect import iam_policy
from eksguard.detect.irsa import RULES, RULES_BY_ID, detect
from eksguard.model import Finding
from eksguard.snapshot.iam_policy import IamPostureSnapshot, PolicyView, broad_eks_grant
from eksguard.snapshot.irsa import (
    ClusterIssuer,
    IrsaSnapshot,
    IssuerSeen,
    Role,
    TrustPolicyError,
    eks_issuer,
    like_match,
    parse_trust,
    refresh_targets,
    sa_from_tag,
    successor,
)

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/F019FFEA32E091F4E0FE70E38D2FBFAF"
OLD = f"oidc.eks.{REGION}.amazonaws.com/id/F4615095CA4F8EB7DBF8D022D0219448"
NEW = f"oidc.eks.{REGION}.amazonaws.com/id/FA12DE78A0421CFB3978876C331E5BA8"
STS = "sts.amazonaws.com"
SA = "system:serviceaccount:app:api"


def provider(issuer: str = ISSUER) -> str:
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"


def stmt(issuer: str = ISSUER, aud: Any = STS, sub: Any = SA, sub_op: str = "StringEquals", *,
         extra: dict[str, dict[str, Any]] | None = None, principal: Any = None, action: Any = None,
         effect: str = "Allow", sid: str | None = None, condition: Any = "build") -> dict[str, Any]:
    """One IRSA statement as the EKS docs write it; every part can be swapped for another shape."""
    conditions: dict[str, dict[str, Any]] = {}
    if aud is not None:
        conditions.setdefault("StringEquals", {})[f"{issuer}:aud"] = aud
    if sub is not None:
        conditions.setdefault(sub_op, {})[f"{issuer}:sub"] = sub
    for op, block in (extra or {}).items():
        conditions.setdefault(op, {}).update(block)
    out: dict[str, Any] = {"Effect": effect, "Principal": principal or {"Federated": provider(issuer)},
                           "Action": action or "sts:AssumeRoleWithWebIdentity"}
    if sid:
        out["Sid"] = sid
    if condition == "build":
        if conditions:
            out["Condition"] = conditions
    elif condition is not None:
        out["Condition"] = condition
    return out


def doc(*statements: dict[str, Any]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": list(statements) or [stmt()]}


def role(*statements: dict[str, Any], tags: dict[str, str] | None = None, name: str = "app-api",
         path: str = "/") -> Role:
    return Role(name, f"arn:aws:iam::{ACCOUNT}:role{path}{name}", path, doc(*statements), tags or {})


LIVE = ClusterIssuer("demo", REGION, f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/demo", ISSUER)
PAYMENTS = ClusterIssuer("payments", REGION, f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/payments", NEW)


@dataclass(frozen=True)
class Case:
    role: Role
    providers: dict[str, bool] = field(default_factory=lambda: {provider().lower(): True})
    clusters: tuple[ClusterIssuer, ...] = (LIVE,)
    regions: frozenset[str] = frozenset({REGION})
    history: tuple[IssuerSeen, ...] = ()

    @property
    def snapshot(self) -> IrsaSnapshot:
        return IrsaSnapshot((self.role,), ACCOUNT, "aws", self.providers, self.clusters, self.regions, self.history)


def case(*statements: dict[str, Any], tags: dict[str, str] | None = None, **kw: Any) -> Case:
    return Case(role(*statements, tags=tags), **kw)


def run(rule_id: str, c: Case) -> list[Finding]:
    return list(RULES_BY_ID[rule_id].check(c.role, c.snapshot))


STALE_CLUSTERS = (LIVE, PAYMENTS)
BOTH_PROVIDERS = {provider(OLD).lower(): True, provider(NEW).lower(): True}

FIXTURES: dict[str, dict[str, dict[str, Case]]] = {
    "IR-001": {
        "fail": {
            "aud-typo-sts-amazon-com": case(stmt(aud="sts.amazon.com")),
            "no-aud": case(stmt(aud=None)),
            "aud-list-with-extra-value": case(stmt(aud=[STS, "my-app"])),
            "aud-wildcard-like": case(stmt(aud=None, extra={"StringLike": {f"{ISSUER}:aud": "sts.*"}})),
            "aud-only-in-string-not-equals": case(stmt(aud=None, extra={"StringNotEquals": {f"{ISSUER}:aud": "x"}})),
            "second-statement-aud-typo": case(stmt(), stmt(aud="sts.amazon.com", sid="Second")),
        },
        "pass": {
            "aud-exact": case(stmt()),
            "aud-exact-list-of-one": case(stmt(aud=[STS])),
            "aud-key-upper-case-issuer": case(stmt(aud=None, extra={"StringEquals": {
                f"{ISSUER.upper()}:AUD": STS}})),
            "aud-for-any-value-string-equals": case(stmt(aud=None, extra={"ForAnyValue:StringEquals": {
                f"{ISSUER}:aud": STS}})),
            "aud-string-like-no-wildcard": case(stmt(aud=None, extra={"StringLike": {f"{ISSUER}:aud": STS}})),
            "not-an-irsa-role": case({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                      "Action": "sts:AssumeRole"}),
            "deny-statement": case(stmt(), stmt(aud=None, effect="Deny")),
            "github-oidc-not-eks": case(stmt(principal={"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/"
                                                        "token.actions.githubusercontent.com"}, aud=None)),
        },
    },
    "IR-002": {
        "fail": {
            "no-sub-unknown-sa": case(stmt(sub=None)),
            "no-sub-tagged-sa": case(stmt(sub=None), tags={"eksguard:service-account": "app/api"}),
            "no-condition-at-all": case(stmt(aud=None, sub=None)),
            "sub-only-string-not-like": case(stmt(sub=None, extra={"StringNotLike": {f"{ISSUER}:sub": "x"}})),
        },
        "pass": {
            "exact-sub": case(stmt()),
            "wildcard-sub-is-ir003": case(stmt(sub="system:serviceaccount:*:*", sub_op="StringLike")),
            "sub-key-upper-case": case(stmt(sub=None, extra={"StringEquals": {f"{ISSUER.upper()}:SUB": SA}})),
        },
    },
    "IR-003": {
        "fail": {
            "any-namespace-any-sa": case(stmt(sub="system:serviceaccount:*:*", sub_op="StringLike")),
            "namespace-wildcard": case(stmt(sub="system:serviceaccount:app:*", sub_op="StringLike")),
            "question-mark": case(stmt(sub="system:serviceaccount:app:ap?", sub_op="StringLike")),
            "for-any-value-string-like": case(stmt(sub="system:serviceaccount:*:*",
                                                   sub_op="ForAnyValue:StringLike")),
            "list-exact-and-wildcard": case(stmt(sub=[SA, "system:serviceaccount:app:*"], sub_op="StringLike")),
            "tagged-sa-outside-the-wildcard": case(stmt(sub="system:serviceaccount:app:*", sub_op="StringLike"),
                                                   tags={"eksguard:service-account": "kube-system/aws-node"}),
        },
        "pass": {
            "exact-sub": case(stmt()),
            "string-like-without-wildcard": case(stmt(sub_op="StringLike")),
            "wildcard-anded-with-exact": case(stmt(sub="system:serviceaccount:*:*", sub_op="StringLike",
                                                   extra={"StringEquals": {f"{ISSUER}:sub": SA}})),
            "star-under-string-equals-is-ir004": case(stmt(sub="system:serviceaccount:*:*")),
        },
    },
    "IR-004": {
        "fail": {
            "star-sub-string-equals": case(stmt(sub="system:serviceaccount:*:*")),
            "star-aud-string-equals": case(stmt(aud="*")),
            "question-mark-string-equals": case(stmt(sub="system:serviceaccount:app:ap?")),
        },
        "pass": {
            "exact": case(stmt()),
            "star-under-string-like": case(stmt(sub="system:serviceaccount:app:*", sub_op="StringLike")),
            "star-in-unrelated-key": case(stmt(extra={"StringEquals": {"aws:PrincipalTag/team": "*"}})),
        },
    },
    "IR-005": {
        "fail": {
            "recreated-cluster-tagged": case(stmt(OLD), tags={"eksguard:cluster": "payments"},
                                             clusters=STALE_CLUSTERS, providers=BOTH_PROVIDERS),
            "recreated-cluster-from-history": case(stmt(OLD), clusters=STALE_CLUSTERS, providers=BOTH_PROVIDERS,
                                                   history=(IssuerSeen("payments", REGION, OLD),)),
            "recreated-no-new-provider": case(stmt(OLD), tags={"eksguard:cluster": "payments"},
                                              clusters=STALE_CLUSTERS, providers={provider(OLD).lower(): True}),
            "deleted-cluster-no-successor": case(stmt(OLD), clusters=(LIVE,)),
            "tag-by-cluster-arn": case(stmt(OLD), tags={"eksguard:cluster": PAYMENTS.arn},
                                       clusters=STALE_CLUSTERS, providers=BOTH_PROVIDERS),
        },
        "pass": {
            "live-issuer": case(stmt()),
            "live-issuer-key-case": case(stmt(ISSUER.lower())),
            "region-not-read": case(stmt(OLD), clusters=(), regions=frozenset()),
            "cluster-still-creating-other-live": case(stmt(), clusters=(LIVE, replace(PAYMENTS, issuer=None))),
        },
    },
    "IR-006": {
        "fail": {
            "provider-deleted": case(stmt(), providers={provider().lower(): False}),
        },
        "pass": {
            "provider-exists": case(stmt()),
            "provider-not-looked-up": case(stmt(), providers={}),
            "provider-arn-case": case(stmt(), providers={provider().lower(): True}),
        },
    },
    "IR-007": {
        "fail": {
            "principal-star-string": case({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}),
            "principal-aws-star": case({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}),
            "principal-aws-star-in-list": case({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "*"]},
                                                "Action": ["sts:AssumeRole", "sts:TagSession"]}),
            "web-identity-no-condition": case(stmt(aud=None, sub=None)),
            "web-identity-via-sts-star": case(stmt(aud=None, sub=None, action="sts:*")),
            "github-web-identity-no-condition": case(stmt(principal={"Federated": f"arn:aws:iam::{ACCOUNT}:"
                                                          "oidc-provider/token.actions.githubusercontent.com"},
                                                          aud=None, sub=None)),
        },
        "pass": {
            "irsa-with-conditions": case(stmt()),
            "account-principal": case({"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                                       "Action": "sts:AssumeRole"}),
            "deny-star": case(stmt(), {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"}),
            "pod-identity": case({"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                  "Action": ["sts:AssumeRole", "sts:TagSession"]}),
        },
    },
}

CASES = [
    pytest.param(rule_id, verdict, c, id=f"{rule_id}-{verdict}-{name}")
    for rule_id, verdicts in FIXTURES.items()
    for verdict, named in verdicts.items()
    for name, c in named.items()
]


@pytest.mark.parametrize(("rule_id", "verdict", "c"), CASES)
def test_rule(rule_id: str, verdict: str, c: Case) -> None:
    findings = run(rule_id, c)
    if verdict == "pass":
        assert findings == []
    else:
        assert findings, f"{rule_id} found nothing"
        assert {f.rule_id for f in findings} == {rule_id}
        assert all(f.severity is RULES_BY_ID[rule_id].severity and f.detail and f.resource_id == c.role.name
                   for f in findings)


def test_every_rule_has_pass_and_fail_fixtures() -> None:
    assert set(FIXTURES) == {r.rule_id for r in RULES} == {f"IR-00{i}" for i in range(1, 8)}
    assert all(v["pass"] and v["fail"] for v in FIXTURES.values())


# -- remediable or not: exactly what the planner may act on ---------------------------------------------------

@pytest.mark.parametrize(("rule_id", "name", "remediable"), [
    ("IR-001", "aud-typo-sts-amazon-com", True),
    ("IR-001", "no-aud", True),
    ("IR-002", "no-sub-unknown-sa", False),
    ("IR-002", "no-sub-tagged-sa", True),
    ("IR-003", "any-namespace-any-sa", False),
    ("IR-003", "list-exact-and-wildcard", True),
    ("IR-003", "tagged-sa-outside-the-wildcard", False),
    ("IR-005", "recreated-cluster-tagged", True),
    ("IR-005", "recreated-cluster-from-history", True),
    ("IR-005", "recreated-no-new-provider", False),
    ("IR-005", "deleted-cluster-no-successor", False),
    ("IR-004", "star-sub-string-equals", False),
    ("IR-006", "provider-deleted", False),
    ("IR-007", "principal-star-string", False),
])
def test_remediable(rule_id: str, name: str, remediable: bool) -> None:
    (finding,) = run(rule_id, FIXTURES[rule_id]["fail"][name])
    assert finding.remediable is remediable


def test_ir003_tag_inside_the_wildcard_is_the_service_account() -> None:
    c = case(stmt(sub="system:serviceaccount:app:*", sub_op="StringLike"),
             tags={"eksguard:service-account": "app/api"})
    (finding,) = run("IR-003", c)
    assert finding.remediable and dict(finding.evidence)["subs"] == (SA,)


def test_ir005_names_the_successor_and_the_provider_command() -> None:
    (ready,) = run("IR-005", FIXTURES["IR-005"]["fail"]["recreated-cluster-tagged"])
    ev = dict(ready.evidence)
    assert (ev["issuer"], ev["new_issuer"], ev["new_provider"], ev["cluster"]) == (OLD, NEW, provider(NEW), "payments")
    (waiting,) = run("IR-005", FIXTURES["IR-005"]["fail"]["recreated-no-new-provider"])
    assert "eksctl utils associate-iam-oidc-provider --cluster payments --region ap-northeast-2 --approve" \
        in waiting.detail
    assert f"aws iam create-open-id-connect-provider --url https://{NEW}" in waiting.detail


def test_detect_runs_every_rule_over_every_role() -> None:
    broken = role(stmt(aud="sts.amazon.com", sub="system:serviceaccount:*:*"), name="broken")
    fine = role(stmt(), name="fine")
    snap = IrsaSnapshot((broken, fine), ACCOUNT, providers={provider().lower(): True}, clusters=(LIVE,),
                        regions=frozenset({REGION}))
    assert sorted((f.resource_id, f.rule_id) for f in detect(snap)) == [("broken", "IR-001"), ("broken", "IR-004")]


# -- the trust-policy model -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("statement", "principals"), [
    ({"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRole"}, (("*", "*"),)),
    ({"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:root", "2"]}, "Action": "x"},
     (("AWS", "arn:aws:iam::1:root"), ("AWS", "2"))),
    ({"Effect": "Allow", "Principal": ["arn:aws:iam::1:root"], "Action": "x"}, (("AWS", "arn:aws:iam::1:root"),)),
    ({"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com", "Federated": provider()}, "Action": "x"},
     (("Service", "ec2.amazonaws.com"), ("Federated", provider()))),
])
def test_principal_shapes(statement: dict[str, Any], principals: tuple[tuple[str, str], ...]) -> None:
    assert parse_trust({"Statement": statement}).statements[0].principals == principals


def test_single_statement_object_and_action_list() -> None:
    trust = parse_trust({"Version": "2012-10-17", "Statement": stmt(action=["sts:TagSession",
                                                                             "sts:AssumeRoleWithWebIdentity"])})
    assert len(trust.irsa_statements) == 1 and trust.irsa_statements[0].eks_issuers == (ISSUER,)


def test_condition_values_string_list_and_scalars() -> None:
    s = parse_trust(doc(stmt(extra={"Bool": {"aws:SecureTransport": True}, "NumericLessThan": {"x:n": 3}}))
                    ).statements[0]
    assert {(c.operator, c.values) for c in s.conditions} >= {("Bool", ("true",)), ("NumericLessThan", ("3",))}


@pytest.mark.parametrize("bad", [
    {"Statement": []}, {"Statement": "x"}, {"Statement": [{"Effect": "Maybe"}]}, {"Statement": [[]]},
    {"Statement": [{"Effect": "Allow", "Condition": []}]}, {"Statement": [{"Effect": "Allow", "Principal": 3}]},
    {"Statement": [{"Effect": "Allow", "Action": [{"a": 1}]}]},
])
def test_malformed_trust_is_an_error(bad: dict[str, Any]) -> None:
    with pytest.raises(TrustPolicyError):
        parse_trust(bad)


@pytest.mark.parametrize(("text", "issuer"), [
    (f"https://{ISSUER}", ISSUER), (ISSUER, ISSUER), (f"https://{ISSUER}/", ISSUER),
    ("https://token.actions.githubusercontent.com", None), ("https://oidc.eks.x.amazonaws.com/id/", None),
])
def test_eks_issuer(text: str, issuer: str | None) -> None:
    assert eks_issuer(text) == issuer


@pytest.mark.parametrize(("value", "sub"), [
    ("app/api", SA), ("kube-system/aws-node", "system:serviceaccount:kube-system:aws-node"),
    ("a/b.c", "system:serviceaccount:a:b.c"), ("App/api", None), ("app", None), ("app/api/x", None), ("", None),
])
def test_service_account_tag(value: str, sub: str | None) -> None:
    assert sa_from_tag(value) == sub


@pytest.mark.parametrize(("pattern", "value", "matches"), [
    ("system:serviceaccount:*:*", SA, True), ("system:serviceaccount:app:ap?", SA, True),
    ("system:serviceaccount:web:*", SA, False), ("system:serviceaccount:[a]pp:api", SA, False),
])
def test_like_match_is_iam_string_like(pattern: str, value: str, matches: bool) -> None:
    assert like_match(pattern, value) is matches


def test_successor_prefers_the_tag_and_never_guesses() -> None:
    snap = Case(role(stmt(OLD)), clusters=STALE_CLUSTERS, history=(IssuerSeen("payments", REGION, OLD),)).snapshot
    assert successor(role(stmt(OLD), tags={"eksguard:cluster": "payments"}), OLD, snap)[0] == PAYMENTS
    assert successor(role(stmt(OLD)), OLD, snap)[0] == PAYMENTS  # from history
    assert successor(role(stmt(OLD)), OLD, replace(snap, history=()))[0] is None
    assert successor(role(stmt(OLD), tags={"eksguard:cluster": "nope"}), OLD, snap)[0] is None


def test_refresh_targets_are_the_roles_the_cluster_replaced() -> None:
    tagged = role(stmt(OLD), tags={"eksguard:cluster": "payments"}, name="payments-api")
    other = role(stmt(OLD), name="untracked")
    live = role(stmt(), name="demo-app")
    snap = IrsaSnapshot((tagged, other, live), ACCOUNT, clusters=STALE_CLUSTERS, regions=frozenset({REGION}))
    assert [r.name for r in refresh_targets(snap, PAYMENTS)] == ["payments-api"]


# -- EK-005 and EK-007 (alert only) ---------------------------------------------------------------------------

NODE_TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                      "Action": "sts:AssumeRole"}]}
NODE = Role("demo-node-role", f"arn:aws:iam::{ACCOUNT}:role/demo-node-role", "/", NODE_TRUST)
AWS_NODE = role(stmt(sub="system:serviceaccount:kube-system:aws-node"), name="demo-aws-node")
POD_IDENTITY_AWS_NODE = Role("cni-pod-identity", f"arn:aws:iam::{ACCOUNT}:role/cni-pod-identity", "/",
                             {"Statement": [{"Effect": "Allow", "Principal": {"Service": "pods.eks.amazonaws.com"},
                                             "Action": ["sts:AssumeRole", "sts:TagSession"]}]},
                             {"eksguard:service-account": "kube-system/aws-node"})


def policy(document: dict[str, Any], attached: tuple[tuple[str, str], ...] = (("user", "hmj-eks-user"),),
           inline_of: str | None = None) -> PolicyView:
    return PolicyView(f"arn:aws:iam::{ACCOUNT}:policy/HMJ-EKS-USER-POLICY", "HMJ-EKS-USER-POLICY", document,
                      attached_to=attached, inline_of=inline_of)


def allow(action: Any, resource: Any = "*", key: str = "Action") -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", key: action, "Resource": resource}]}


POSTURE: dict[str, dict[str, dict[str, IamPostureSnapshot]]] = {
    "EK-005": {
        "fail": {
            "node-role-and-irsa-aws-node": IamPostureSnapshot(ACCOUNT, cni_roles=(NODE, AWS_NODE)),
            "node-role-and-pod-identity-aws-node": IamPostureSnapshot(ACCOUNT, cni_roles=(NODE, POD_IDENTITY_AWS_NODE)),
        },
        "pass": {
            "node-role-only": IamPostureSnapshot(ACCOUNT, cni_roles=(NODE,)),
            "aws-node-role-only": IamPostureSnapshot(ACCOUNT, cni_roles=(AWS_NODE,)),
            "cni-on-a-wildcard-irsa-role": IamPostureSnapshot(ACCOUNT, cni_roles=(NODE, role(
                stmt(sub="system:serviceaccount:kube-system:*", sub_op="StringLike"), name="cni-any")))
        },
    },
    "EK-007": {
        "fail": {
            "hmj-eks-star-on-star": IamPostureSnapshot(ACCOUNT, (policy(allow("eks:*")),)),
            "star-on-star-list": IamPostureSnapshot(ACCOUNT, (policy(allow(["s3:GetObject", "*"], ["*"])),)),
            "eks-star-upper-case": IamPostureSnapshot(ACCOUNT, (policy(allow("EKS:*")),)),
            "not-action-leaves-eks": IamPostureSnapshot(ACCOUNT, (policy(allow(["iam:*"], key="NotAction")),)),
            "inline-on-role": IamPostureSnapshot(ACCOUNT, (policy(allow("*"), (), inline_of="demo-ci-deployer"),)),
        },
        "pass": {
            "eks-read-only": IamPostureSnapshot(ACCOUNT, (policy(allow(["eks:DescribeCluster", "eks:List*"])),)),
            "eks-star-on-one-cluster": IamPostureSnapshot(ACCOUNT, (policy(allow(
                "eks:*", f"arn:aws:eks:{REGION}:{ACCOUNT}:cluster/demo")),)),
            "not-attached": IamPostureSnapshot(ACCOUNT, (policy(allow("eks:*"), ()),)),
            "deny-star": IamPostureSnapshot(ACCOUNT, (policy({"Statement": [{"Effect": "Deny", "Action": "*",
                                                                             "Resource": "*"}]}),)),
            "not-action-excludes-eks": IamPostureSnapshot(ACCOUNT, (policy(allow(["eks:*"], key="NotAction")),)),
        },
    },
}


@pytest.mark.parametrize(("rule_id", "verdict", "snap"), [
    pytest.param(rule_id, verdict, snap, id=f"{rule_id}-{verdict}-{name}")
    for rule_id, verdicts in POSTURE.items() for verdict, named in verdicts.items() for name, snap in named.items()
])
def test_posture_rule(rule_id: str, verdict: str, snap: IamPostureSnapshot) -> None:
    findings = list(iam_policy.RULES_BY_ID[rule_id].check(snap))
    if verdict == "pass":
        assert findings == []
    else:
        assert findings and {f.rule_id for f in findings} == {rule_id}
        assert all(not f.remediable for f in findings), "EK-005 / EK-007 are alert only"


def test_posture_rules_registry() -> None:
    assert set(POSTURE) == {r.rule_id for r in iam_policy.RULES}


def test_ek005_names_the_node_role_not_the_aws_node_role() -> None:
    (finding,) = iam_policy.detect(POSTURE["EK-005"]["fail"]["node-role-and-irsa-aws-node"])
    assert finding.resource_id == "demo-node-role" and "demo-aws-node" in finding.detail
    assert "never blindly" in finding.detail


def test_ek007_names_who_holds_the_policy() -> None:
    (finding,) = iam_policy.detect(POSTURE["EK-007"]["fail"]["hmj-eks-star-on-star"])
    assert finding.resource_id == "HMJ-EKS-USER-POLICY" and "user hmj-eks-user" in finding.detail


def test_broad_grant_reads_a_seed_document_policy() -> None:
    assert broad_eks_grant(json.loads('{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"eks:*",'
                                      '"Resource":"*"}}')) == "Action eks:* on Resource *"
