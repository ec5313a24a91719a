"""K8 rules K8-000 ... K8-004, Checkov style: for each rule named passing and failing fixtures built from the
Kubernetes API's own JSON (parsed by snapshot/k8s.py). Plus the IMDS policy evaluation against the practice's
Calico example and its near misses, the Calico selector language, and aws-auth parsing."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from eksguard.detect.calico_selector import UnsupportedSelector, endpoint_lookup, evaluate, parse
from eksguard.detect.imds_policy import imds_reachable
from eksguard.detect.k8s import RULES, RULES_BY_ID, K8Inputs, detect
from eksguard.model import Severity
from eksguard.snapshot.irsa import Role
from eksguard.snapshot.k8s import ClusterK8sSnapshot, Namespace
from eksguard.snapshot.k8s_api import (
    aws_auth_from_api,
    calico_policy_from_api,
    namespace_from_api,
    network_policy_from_api,
    service_account_from_api,
)

ACCOUNT = "123456789012"
REGION = "ap-northeast-2"
CLUSTER = "prod"
ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/F019FFEA32E091F4E0FE70E38D2FBFAF"
OTHER_ISSUER = f"oidc.eks.{REGION}.amazonaws.com/id/F4615095CA4F8EB7DBF8D022D0219448"
NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/prod-node-role"
KARPENTER = f"arn:aws:iam::{ACCOUNT}:role/KarpenterNodeRole-prod"
ADMIN_USER = f"arn:aws:iam::{ACCOUNT}:user/alice"
ALLOWED = ("kube-system", "amazon-cloudwatch", "external-dns")
HOP_LIMIT_2 = ("launch template prod-nodes version 3: hop limit 2 (> 1: reachable from pods)",)


# --- the API's JSON ------------------------------------------------------------------------------------------


def namespace(name: str, **labels: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name, **labels}}}


def gnp(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": name},
            "spec": spec}


def cnp(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def knp(ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def aws_auth(roles: list[dict[str, Any]] | str = (), users: list[dict[str, Any]] | str = ()) -> dict[str, Any]:
    """kube-system/aws-auth as EKS and eksctl write it: YAML strings inside the ConfigMap's data."""
    def text(v: Any) -> str:
        return v if isinstance(v, str) else json.dumps(list(v))  # JSON is YAML
    data = {k: text(v) for k, v in (("mapRoles", roles), ("mapUsers", users)) if v}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": data}


def service_account(ns: str, name: str, role: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns}
    if role:
        meta["annotations"] = {"eks.amazonaws.com/role-arn": role}
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta}


NODE_MAPPING = {"rolearn": NODE_ROLE, "username": "system:node:{{EC2PrivateDNSName}}",
                "groups": ["system:bootstrappers", "system:nodes"]}
KARPENTER_MASTERS = {"rolearn": KARPENTER, "username": "system:node:{{EC2PrivateDNSName}}",
                     "groups": ["system:bootstrappers", "system:nodes", "system:masters"]}
USER_MASTERS = {"userarn": ADMIN_USER, "username": "alice", "groups": ["system:masters"]}

# The practice: deny egress to IMDS for every namespace but three (order 0.5), then allow all egress (order 1).
PRACTICE = (
    gnp("deny-imds", {"order": 0.5, "types": ["Egress"],
                      "selector": "projectcalico.org/namespace not in {'kube-system', 'amazon-cloudwatch', "
                                  "'external-dns'}",
                      "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]}),
    gnp("allow-all-egress", {"order": 1, "selector": "all()", "types": ["Egress"], "egress": [{"action": "Allow"}]}),
)
ALLOW_ALL = PRACTICE[1]
EXCEPT_IMDS = {"podSelector": {}, "policyTypes": ["Egress"],
               "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}


def snapshot(*, calico: tuple[dict[str, Any], ...] | None = (), knps: tuple[dict[str, Any], ...] = (),
             namespaces: tuple[str, ...] = ("default", "payments", *ALLOWED), auth: dict[str, Any] | None = None,
             sas: tuple[dict[str, Any], ...] = (), **changes: Any) -> ClusterK8sSnapshot:
    pols = None if calico is None else tuple(
        calico_policy_from_api(p, p["kind"] == "NetworkPolicy") for p in calico)
    snap = ClusterK8sSnapshot(
        CLUSTER, REGION, aws_auth=aws_auth_from_api(auth or aws_auth([NODE_MAPPING])),
        namespaces=tuple(namespace_from_api(namespace(n, **({"team": n} if n == "payments" else {})))
                         for n in namespaces),
        service_accounts=tuple(service_account_from_api(s) for s in sas),
        network_policies=tuple(network_policy_from_api(p) for p in knps),
        calico_installed=calico is not None, calico_policies=pols if pols is not None else None)
    return replace(snap, **changes)


def trust(sub: str, *, like: bool = False, issuer: str = ISSUER) -> dict[str, Any]:
    op = "StringLike" if like else "StringEquals"
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{issuer}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com"}, op: {f"{issuer}:sub": sub}}}]}


def role(name: str, document: dict[str, Any], path: str = "/") -> Role:
    return Role(name, f"arn:aws:iam::{ACCOUNT}:role{path}{name}", path, document)


VPC_CNI = role("prod-vpc-cni", trust("system:serviceaccount:kube-system:aws-node"))
KS_WILDCARD = role("prod-kube-system", trust("system:serviceaccount:kube-system:*", like=True))
ORPHAN_SUB = role("prod-reports", trust("system:serviceaccount:payments:reports"))
AWS_NODE = service_account("kube-system", "aws-node", VPC_CNI.arn)


def inputs(**changes: Any) -> K8Inputs:
    good = K8Inputs(ACCOUNT, role_names=frozenset({"prod-node-role", "KarpenterNodeRole-prod", "prod-vpc-cni"}),
                    user_names=frozenset({"alice"}), node_imds_open=HOP_LIMIT_2, issuer=ISSUER,
                    irsa_roles=(VPC_CNI,))
    return replace(good, **changes)


# rule id -> (passing, failing): each named fixture is (snapshot, inputs)
Case = tuple[ClusterK8sSnapshot, K8Inputs]
CASES: dict[str, tuple[dict[str, Case], dict[str, Case]]] = {
    "K8-000": (
        {"readable": (snapshot(), inputs()),
         "no-aws-auth-configmap-api-mode": (snapshot(aws_auth=aws_auth_from_api(None)), inputs())},
        {"unauthorized": (ClusterK8sSnapshot.unreadable(CLUSTER, REGION, "401 Unauthorized"), inputs()),
         "networkpolicies-forbidden": (snapshot(network_policies=None, gaps=(("networkpolicies", "403"),)),
                                       inputs()),
         "aws-auth-malformed-yaml": (snapshot(auth=aws_auth("- rolearn: [unclosed")), inputs())},
    ),
    "K8-001": (
        {"node-role-bootstrappers-nodes": (snapshot(), inputs()),
         "no-aws-auth": (snapshot(aws_auth=aws_auth_from_api(None)), inputs())},
        {"karpenter-role-in-masters": (snapshot(auth=aws_auth([NODE_MAPPING, KARPENTER_MASTERS])), inputs()),
         "user-in-masters": (snapshot(auth=aws_auth([NODE_MAPPING], [USER_MASTERS])), inputs())},
    ),
    "K8-002": (
        {"roles-and-users-exist": (snapshot(auth=aws_auth([NODE_MAPPING], [USER_MASTERS])), inputs()),
         "role-with-path-compared-by-name": (snapshot(), inputs(role_names=frozenset({"prod-node-role"}))),
         "other-accounts-role-not-judged": (
             snapshot(auth=aws_auth([{**NODE_MAPPING, "rolearn": "arn:aws:iam::210987654321:role/gone"}])), inputs()),
         "iam-not-read": (snapshot(), inputs(role_names=None))},
        {"deleted-role": (snapshot(), inputs(role_names=frozenset({"KarpenterNodeRole-prod"}))),
         "deleted-user": (snapshot(auth=aws_auth([NODE_MAPPING], [USER_MASTERS])),
                          inputs(user_names=frozenset()))},
    ),
    "K8-003": (
        {"practice-calico-policy": (snapshot(calico=PRACTICE), inputs()),
         "nodes-locked-down": (snapshot(calico=None), inputs(node_imds_open=())),
         "k8s-allow-all-except-imds": (snapshot(knps=(knp("default", "egress", EXCEPT_IMDS),
                                                      knp("payments", "egress", EXCEPT_IMDS))), inputs()),
         "k8s-default-deny-egress": (snapshot(knps=tuple(knp(n, "deny", {"podSelector": {}, "policyTypes": ["Egress"]})
                                                         for n in ("default", "payments"))), inputs()),
         "k8s-egress-443-only": (snapshot(knps=tuple(knp(n, "https", {
             "podSelector": {}, "policyTypes": ["Egress"],
             "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}], "ports": [{"protocol": "TCP", "port": 443}]}]})
             for n in ("default", "payments"))), inputs()),
         "deny-log-first-then-deny": (snapshot(calico=(gnp("log-deny", {
             "order": 0.1, "selector": "all()", "types": ["Egress"],
             "egress": [{"action": "Log", "destination": {"nets": ["169.254.169.254/32"]}},
                        {"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]}), ALLOW_ALL)), inputs()),
         "cluster-without-workload-namespaces": (snapshot(calico=None, namespaces=ALLOWED), inputs())},
        {"no-policy-calico-not-installed": (snapshot(calico=None), inputs()),
         "calico-denies-another-ip": (snapshot(calico=(gnp("deny-ecs", {
             "order": 0.5, "selector": "all()", "types": ["Egress"],
             "egress": [{"action": "Deny", "destination": {"nets": ["169.254.170.2/32"]}}]}), ALLOW_ALL)), inputs()),
         "allow-all-ordered-before-deny": (snapshot(calico=(
             gnp("deny-imds", {**PRACTICE[0]["spec"], "order": 2}), ALLOW_ALL)), inputs()),
         "deny-without-order-is-last": (snapshot(calico=(
             gnp("deny-imds", {k: v for k, v in PRACTICE[0]["spec"].items() if k != "order"}), ALLOW_ALL)), inputs()),
         "k8s-allow-all-without-except": (snapshot(knps=tuple(knp(n, "egress", {
             "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]})
             for n in ("default", "payments"))), inputs()),
         "k8s-policy-selects-some-pods": (snapshot(knps=tuple(
             knp(n, "egress", {**EXCEPT_IMDS, "podSelector": {"matchLabels": {"app": "web"}}})
             for n in ("default", "payments"))), inputs()),
         "calico-pass-before-deny": (snapshot(calico=(gnp("pass", {
             "order": 0.1, "selector": "all()", "types": ["Egress"], "egress": [{"action": "Pass"}]}), *PRACTICE)),
             inputs()),
         "calico-deny-on-pod-label": (snapshot(calico=(gnp("deny-imds", {
             **PRACTICE[0]["spec"], "selector": "app == 'web'"}), ALLOW_ALL)), inputs())},
    ),
    "K8-004": (
        {"annotation-matches-exact-sub": (snapshot(sas=(AWS_NODE,)), inputs()),
         "wildcard-sub-covers-annotation": (
             snapshot(sas=(service_account("kube-system", "ebs-csi", KS_WILDCARD.arn),)),
             inputs(irsa_roles=(KS_WILDCARD,))),
         "other-accounts-role-not-judged": (
             snapshot(sas=(service_account("app", "api", "arn:aws:iam::210987654321:role/x"),)), inputs(irsa_roles=())),
         "no-issuer-read": (snapshot(sas=(service_account("app", "api", VPC_CNI.arn),)), inputs(issuer=None))},
        {"annotation-names-role-for-another-sa": (
            snapshot(sas=(AWS_NODE, service_account("payments", "api", VPC_CNI.arn))), inputs()),
         "trust-for-another-issuer": (
             snapshot(sas=(service_account("kube-system", "aws-node", "arn:aws:iam::123456789012:role/old"),)),
             inputs(irsa_roles=(VPC_CNI, role("old", trust("system:serviceaccount:kube-system:aws-node",
                                                            issuer=OTHER_ISSUER))))),
         "annotated-role-does-not-exist": (
             snapshot(sas=(AWS_NODE, service_account("app", "api", f"arn:aws:iam::{ACCOUNT}:role/deleted"))), inputs()),
         "trust-names-missing-service-account": (snapshot(sas=(AWS_NODE,)), inputs(irsa_roles=(VPC_CNI, ORPHAN_SUB)))},
    ),
}


def _params() -> list[Any]:
    out = []
    for rule_id, (passing, failing) in CASES.items():
        out += [pytest.param(rule_id, *case, False, id=f"{rule_id}-pass-{name}") for name, case in passing.items()]
        out += [pytest.param(rule_id, *case, True, id=f"{rule_id}-fail-{name}") for name, case in failing.items()]
    return out


@pytest.mark.parametrize(("rule_id", "snap", "given", "fails"), _params())
def test_rule(rule_id: str, snap: ClusterK8sSnapshot, given: K8Inputs, fails: bool) -> None:
    findings = list(RULES_BY_ID[rule_id].check(snap, given))
    assert bool(findings) is fails, findings
    assert all(f.rule_id == rule_id and f.severity == RULES_BY_ID[rule_id].severity for f in findings)


def test_every_rule_has_passing_and_failing_fixtures() -> None:
    assert [r.rule_id for r in RULES] == ["K8-000", "K8-001", "K8-002", "K8-003", "K8-004"]
    assert set(CASES) == set(RULES_BY_ID)
    assert all(passing and failing for passing, failing in CASES.values())
    assert RULES_BY_ID["K8-000"].severity == Severity.MEDIUM and RULES_BY_ID["K8-004"].severity == Severity.MEDIUM
    assert {RULES_BY_ID[r].severity for r in ("K8-001", "K8-002", "K8-003")} == {Severity.HIGH}


def test_unreadable_cluster_is_only_not_evaluated() -> None:
    snap = ClusterK8sSnapshot.unreadable(CLUSTER, REGION, "endpoint unreachable: connection refused")
    [finding] = detect(snap, inputs())
    assert finding.rule_id == "K8-000" and "not evaluated: endpoint unreachable" in finding.detail


def test_k8_001_names_each_principal_and_the_replacement_commands() -> None:
    found = detect(snapshot(auth=aws_auth([NODE_MAPPING, KARPENTER_MASTERS], [USER_MASTERS])), inputs(),
                   only=("K8-001",))
    assert [f.target_id for f in found] == [KARPENTER, ADMIN_USER]
    karpenter, user = (dict(f.evidence)["commands"] for f in found)
    assert karpenter == [f"aws eks create-access-entry --cluster-name prod --region {REGION} --principal-arn "
                         f"{KARPENTER} --type EC2_LINUX"]
    assert user[0].startswith("aws eks create-access-entry --cluster-name prod") and ADMIN_USER in user[0]
    assert "associate-access-policy" in user[1] and "AmazonEKSEditPolicy" in user[1] and "type=namespace" in user[1]


def test_k8_003_practice_leaves_only_the_allowed_namespaces_reachable() -> None:
    """The practice's allow-all at order 1 lets the three excluded namespaces through: they are findings
    when ImdsAllowedNamespaces is empty, and the denied ones never are."""
    found = detect(snapshot(calico=PRACTICE), inputs(imds_allowed_namespaces=frozenset()), only=("K8-003",))
    assert sorted(f.target_id or "" for f in found) == sorted(ALLOWED)
    assert all("GlobalNetworkPolicy allow-all-egress" in dict(f.evidence)["why"] for f in found)


def test_k8_003_one_finding_per_namespace_with_the_reason() -> None:
    found = detect(snapshot(calico=None), inputs(), only=("K8-003",))
    assert [f.resource_id for f in found] == ["prod/default", "prod/payments"]
    assert "hop limit 2" in found[0].detail and "no network policy selects" in found[0].detail


def test_k8_003_partial_policy_is_said_not_to_protect() -> None:
    ns = Namespace("default", {})
    sel = network_policy_from_api(knp("default", "egress", {**EXCEPT_IMDS, "podSelector": {"matchLabels": {"a": "b"}}}))
    verdict = imds_reachable(ns, (), (sel,))
    assert verdict.reachable and any("selects only some pods" in n for n in verdict.notes)


def test_k8_003_unsupported_selector_is_noted_not_trusted() -> None:
    deny = calico_policy_from_api(gnp("deny", {**PRACTICE[0]["spec"], "selector": "projectcalico.org/namespace ~ 'x'"}),
                                  False)
    verdict = imds_reachable(Namespace("default", {}), (deny,), ())
    assert verdict.reachable and any("treated as unknown" in n for n in verdict.notes)


@pytest.mark.parametrize(("spec", "protected"), [
    ({"namespaceSelector": "team == 'payments'"}, True),
    ({"namespaceSelector": "team == 'billing'"}, False),
    ({"selector": "projectcalico.org/namespace == 'payments'"}, True),
    ({"selector": "projectcalico.org/namespace != 'payments'"}, False),
    ({"selector": "has(projectcalico.org/namespace) && !has(pcns.quarantine)"}, True),
    ({"selector": "pcns.team in {'payments', 'billing'}"}, True),
], ids=["ns-selector-match", "ns-selector-miss", "eq", "neq", "has-not-has", "pcns-in"])
def test_k8_003_calico_selectors(spec: dict[str, Any], protected: bool) -> None:
    deny = calico_policy_from_api(gnp("deny", {"order": 0.5, "types": ["Egress"], "selector": "all()", **spec,
                                               "egress": [{"action": "Deny",
                                                           "destination": {"nets": ["169.254.0.0/16"]}}]}), False)
    ns = namespace_from_api(namespace("payments", team="payments"))
    assert imds_reachable(ns, (deny, calico_policy_from_api(ALLOW_ALL, False)), ()).reachable is not protected


def test_k8_003_namespaced_calico_policy_protects_only_its_namespace() -> None:
    deny = cnp("payments", "deny-imds", {"selector": "all()", "types": ["Egress"],
                                         "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}},
                                                    {"action": "Allow"}]})
    found = detect(snapshot(calico=(deny,)), inputs(), only=("K8-003",))
    assert [f.target_id for f in found] == ["default"]


def test_k8_003_not_nets_and_other_protocols() -> None:
    ns = Namespace("default", {})
    not_nets = calico_policy_from_api(gnp("d", {"order": 1, "selector": "all()", "types": ["Egress"], "egress": [
        {"action": "Deny", "destination": {"notNets": ["10.0.0.0/8"]}}]}), False)
    udp_only = calico_policy_from_api(gnp("d", {"order": 1, "selector": "all()", "types": ["Egress"], "egress": [
        {"action": "Deny", "protocol": "UDP", "destination": {"nets": ["169.254.169.254/32"]}}, {"action": "Allow"}]}),
        False)
    assert not imds_reachable(ns, (not_nets,), ()).reachable
    assert imds_reachable(ns, (udp_only,), ()).reachable


def test_selector_language() -> None:
    lookup = endpoint_lookup("payments", {"team": "payments"})
    assert evaluate(parse("projectcalico.org/namespace not in {'kube-system', \"payments\"}"), lookup) is False
    assert evaluate(parse("pcns.team starts with 'pay' || app == 'x'"), lookup) is True
    assert evaluate(parse("app == 'web'"), lookup) is None  # a pod label: some pods may match
    assert evaluate(parse("!(app == 'web') && global()"), lookup) is False
    assert evaluate(parse(""), lookup) is True
    with pytest.raises(UnsupportedSelector):
        parse("projectcalico.org/namespace =~ 'x'")


def test_aws_auth_parsing() -> None:
    auth = aws_auth_from_api(aws_auth(
        "- rolearn: arn:aws:iam::123456789012:role/prod-node-role\n  username: system:node:{{EC2PrivateDNSName}}\n"
        "  groups:\n    - system:bootstrappers\n    - system:nodes\n- username: no-arn\n",
        "not: a list"))
    assert [(m.kind, m.name, m.groups) for m in auth.mappings] == [
        ("role", "prod-node-role", ("system:bootstrappers", "system:nodes"))]
    assert len(auth.errors) == 2 and "mapRoles[1]" in auth.errors[0] and "mapUsers is not a YAML list" in auth.errors[1]
    assert not aws_auth_from_api(None).present


def test_annotated_service_accounts_for_the_irsa_source() -> None:
    """DESIGN section 5, source 3: the cluster's own ServiceAccounts; None when they were not read."""
    snap = snapshot(sas=(AWS_NODE, service_account("payments", "api", VPC_CNI.arn), service_account("app", "x")))
    assert [sa.sub for sa in snap.annotated(VPC_CNI.arn) or ()] == [
        "system:serviceaccount:kube-system:aws-node", "system:serviceaccount:payments:api"]
    assert snap.annotated(KS_WILDCARD.arn) == ()
    assert replace(snap, service_accounts=None).annotated(VPC_CNI.arn) is None
