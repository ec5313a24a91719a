"""Security-group rules SG-001 ... SG-007, Checkov style: for each rule a dict of named passing and failing
fixtures. Plus the registry, ``detect()`` as a whole, and ``classify()`` (which role each group plays)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from eksguard.config import Config
from eksguard.detect.sg import RULES, RULES_BY_ID, detect
from eksguard.model import Finding, Severity
from eksguard.parse.ec2 import Permission
from eksguard.snapshot.sg import Cluster, GroupRole, SecurityGroup, SgRule, SgSnapshot, classify

WORLD4, WORLD6 = "0.0.0.0/0", "::/0"
CLUSTER, CONTROL_PLANE, NODE = GroupRole.CLUSTER, GroupRole.CONTROL_PLANE, GroupRole.NODE
LB, DEFAULT = GroupRole.LOAD_BALANCER, GroupRole.DEFAULT
GID = "sg-0123456789abcdef0"
_ids = itertools.count(1)


# -- helper constructors -------------------------------------------------------------------------------------

Ports = tuple[int, int] | int | None


def _rule(is_egress: bool, source: str, proto: str, ports: Ports, rid: str | None) -> SgRule:
    if isinstance(ports, int):
        ports = (ports, ports)
    low, high = ports if ports is not None else (None, None)
    kind: dict[str, Any]
    if source.startswith("sg-"):
        kind = {"referenced_group_id": source}
    elif source.startswith("pl-"):
        kind = {"prefix_list_id": source}
    elif ":" in source:
        kind = {"cidr_ipv6": source}
    else:
        kind = {"cidr_ipv4": source}
    return SgRule(rid or f"sgr-{next(_ids):04d}", "", is_egress, proto, low, high, **kind)


def ingress(source: str, ports: Ports = 22, proto: str = "tcp",
            rid: str | None = None) -> SgRule:
    """Inbound rule; ``source`` is a CIDR (v4 or v6), ``sg-...`` or ``pl-...``."""
    return _rule(False, source, proto, ports, rid)


def egress(dest: str, ports: Ports = None, proto: str = "-1",
           rid: str | None = None) -> SgRule:
    return _rule(True, dest, proto, ports, rid)


def group(*rules: SgRule, roles: tuple[GroupRole, ...] = (), tags: dict[str, str] | None = None,
          name: str = "app", gid: str = GID, vpc: str = "vpc-1", in_vpc: bool = True) -> SecurityGroup:
    return SecurityGroup(gid, name, vpc, tags or {}, tuple(replace(r, group_id=gid) for r in rules),
                         frozenset(roles), frozenset({"prod"} if roles else ()), in_vpc)


def self_rule(gid: str = GID) -> SgRule:
    return ingress(gid, None, "-1")


def cluster_sg(*extra: SgRule, self_ref: bool = True, open_egress: bool = True) -> SecurityGroup:
    """The EKS cluster security group as EKS creates it (self rule in, all out), plus ``extra``."""
    rules = ([self_rule()] if self_ref else []) + ([egress(WORLD4)] if open_egress else []) + list(extra)
    return group(*rules, roles=(CLUSTER,), name="eks-cluster-sg-prod-1",
                 tags={"aws:eks:cluster-name": "prod", "kubernetes.io/cluster/prod": "owned"})


def removed(perm: Permission, gid: str = GID) -> tuple[tuple[str, Permission], ...]:
    return ((gid, perm),)


def removed_in(proto: str, low: int | None, high: int | None, kind: str, source: str) -> Permission:
    return Permission(False, proto, low, high, kind, source)


@dataclass(frozen=True)
class Case:
    groups: tuple[SecurityGroup, ...]
    config: Config = field(default_factory=Config)
    removed: tuple[tuple[str, Permission], ...] = ()

    @property
    def snapshot(self) -> SgSnapshot:
        return SgSnapshot(self.groups, removed=self.removed)


def case(*groups: SecurityGroup, removed: tuple[tuple[str, Permission], ...] = (), **cfg: Any) -> Case:
    return Case(groups, Config(**cfg), removed)


def run(rule_id: str, c: Case) -> list[Finding]:
    check = RULES_BY_ID[rule_id].check
    return [f for g in c.groups for f in check(g, c.snapshot, c.config)]


# -- fixtures: rule id -> {"pass": {name: Case}, "fail": {name: Case}} ---------------------------------------

BASTION_SSH = ingress("203.0.113.0/24", 22)
K8S_TAG, EKS_TAG, ELBV2_TAG = "kubernetes.io/cluster/prod", "aws:eks:cluster-name", "elbv2.k8s.aws/cluster"

FIXTURES: dict[str, dict[str, dict[str, Case]]] = {
    "SG-001": {
        "fail": {
            "node-ssh-world-v4": case(group(ingress(WORLD4, 22), roles=(NODE,))),
            "node-https-world-v6": case(group(ingress(WORLD6, 443), roles=(NODE,))),
            "cluster-api-world": case(cluster_sg(ingress(WORLD4, 443))),
            "control-plane-host-bits-world": case(group(ingress("208.236.235.254/0", 443),
                                                        roles=(CONTROL_PLANE,))),
            "node-all-traffic-world": case(group(ingress(WORLD4, None, "-1"), roles=(NODE,))),
            "node-icmp-world": case(group(ingress(WORLD4, None, "icmp"), roles=(NODE,))),
        },
        "pass": {
            "node-ssh-private": case(group(ingress("10.0.0.0/8", 22), roles=(NODE,))),
            "node-ssh-narrow-public": case(group(ingress("203.0.113.10/32", 22), roles=(NODE,))),
            "node-from-group": case(group(ingress("sg-0aaa", 10250), roles=(NODE,))),
            "node-egress-world": case(group(egress(WORLD4), roles=(NODE,))),
            "load-balancer-443-world": case(group(ingress(WORLD4, 443), roles=(LB,))),
            "node-and-load-balancer-roles": case(group(ingress(WORLD4, 443), roles=(NODE, LB))),
            "unrelated-group-443-world": case(group(ingress(WORLD4, 443))),
            "default-group-443-world": case(group(ingress(WORLD4, 443), roles=(DEFAULT,))),
        },
    },
    "SG-002": {
        "fail": {
            "ssh-world-v4": case(group(ingress(WORLD4, 22))),
            "ssh-world-host-bits": case(group(ingress("208.236.235.254/0", 22))),
            "ssh-world-v6": case(group(ingress(WORLD6, 22))),
            "rdp-world": case(group(ingress(WORLD4, 3389))),
            "kubelet-world-v6": case(group(ingress(WORLD6, 10250), roles=(NODE,))),
            "dns-udp-world": case(group(ingress(WORLD4, 53, "udp"))),
            "all-traffic-world": case(group(ingress(WORLD4, None, "-1"))),
            "range-0-65535": case(group(ingress(WORLD4, (0, 65535)))),
            "range-20-25": case(group(ingress(WORLD4, (20, 25)))),
            "udp-range-covering-53": case(group(ingress(WORLD6, (1, 1024), "udp"))),
            "custom-protected-port": case(group(ingress(WORLD4, 8443)), protected_ports=frozenset({8443})),
        },
        "pass": {
            "https-world": case(group(ingress(WORLD4, 443))),
            "range-1024-2000-world": case(group(ingress(WORLD4, (1024, 2000)))),
            "ssh-private": case(group(ingress("10.0.0.0/8", 22))),
            "ssh-narrow-public": case(group(ingress("198.51.100.7/32", 22))),
            "ssh-from-group": case(group(ingress("sg-0bbb", 22))),
            "ssh-from-prefix-list": case(group(ingress("pl-0ccc", 22))),
            "icmp-world": case(group(ingress(WORLD4, None, "icmp"))),
            "ssh-egress-world": case(group(egress(WORLD4, 22, "tcp"))),
            "load-balancer-all-traffic": case(group(ingress(WORLD4, None, "-1"), roles=(LB,))),
            "ssh-not-protected-by-config": case(group(ingress(WORLD4, 22)),
                                                protected_ports=frozenset({3389})),
        },
    },
    "SG-003": {
        "fail": {
            "public-slash-8": case(group(ingress("8.0.0.0/8", 443))),
            "public-slash-1": case(group(ingress("0.0.0.0/1", 443))),
            "public-slash-16-under-max-24": case(group(ingress("8.8.0.0/16", 443)), max_public_prefix=24),
            "range-straddling-private": case(group(ingress("10.0.0.0/7", 443))),
            "public-slash-8-host-bits": case(group(ingress("8.8.8.8/8", 443))),
            "ipv6-slash-16": case(group(ingress("2001:db8::/16", 443))),
        },
        "pass": {
            "public-slash-16-at-default": case(group(ingress("8.8.0.0/16", 443))),
            "public-slash-24": case(group(ingress("198.51.100.0/24", 443))),
            "private-10-slash-8": case(group(ingress("10.0.0.0/8", 22))),
            "private-172-16-slash-12": case(group(ingress("172.16.0.0/12", 22))),
            "cgnat-100-64-slash-10": case(group(ingress("100.64.0.0/10", 22))),
            "ipv6-slash-48": case(group(ingress("2001:db8::/48", 443))),
            "ipv6-unique-local": case(group(ingress("fc00::/7", 443))),
            "world-is-other-rules": case(group(ingress(WORLD4, 443))),
            "egress-public-slash-8": case(group(egress("8.0.0.0/8"))),
            "from-group": case(group(ingress("sg-0ddd", 443))),
            "public-slash-8-under-max-8": case(group(ingress("8.0.0.0/8", 443)), max_public_prefix=8),
        },
    },
    "SG-004": {
        "fail": {
            "lb-8080-world": case(group(ingress(WORLD4, 8080), roles=(LB,), name="k8s-elb-a1")),
            "lb-all-traffic-world": case(group(ingress(WORLD4, None, "-1"), roles=(LB,))),
            "lb-range-80-443-world": case(group(ingress(WORLD4, (80, 443)), roles=(LB,))),
            "lb-ssh-world-v6": case(group(ingress(WORLD6, 22), roles=(LB,))),
            "lb-443-udp-range-world": case(group(ingress(WORLD4, (442, 443), "udp"), roles=(LB,))),
        },
        "pass": {
            "lb-443-world": case(group(ingress(WORLD4, 443), roles=(LB,))),
            "lb-80-world": case(group(ingress(WORLD4, 80), roles=(LB,))),
            "lb-443-world-v6": case(group(ingress(WORLD6, 443), roles=(LB,))),
            "lb-8080-private": case(group(ingress("10.0.0.0/8", 8080), roles=(LB,))),
            "lb-8080-allowed-by-config": case(group(ingress(WORLD4, 8080), roles=(LB,)),
                                              public_ports=frozenset({80, 443, 8080})),
            "not-a-load-balancer": case(group(ingress(WORLD4, 8080))),
        },
    },
    "SG-005": {
        "fail": {
            "bastion-ssh-open-egress-v4": case(group(BASTION_SSH, egress(WORLD4), name="bastion")),
            "bastion-ssh-open-egress-v6": case(group(BASTION_SSH, egress(WORLD6), name="bastion")),
            "bastion-ssh-world-open-egress": case(group(ingress(WORLD4, 22), egress(WORLD4))),
            "bastion-ssh-in-range-open-egress": case(group(ingress("203.0.113.0/24", (20, 30)),
                                                           egress(WORLD4))),
        },
        "pass": {
            "bastion-egress-443-only": case(group(BASTION_SSH, egress(WORLD4, 443, "tcp"))),
            "bastion-egress-all-to-vpc": case(group(BASTION_SSH, egress("10.0.0.0/16"))),
            "bastion-no-egress": case(group(BASTION_SSH)),
            "cluster-tagged": case(group(BASTION_SSH, egress(WORLD4), tags={K8S_TAG: "owned"})),
            "eks-cluster-name-tagged": case(group(BASTION_SSH, egress(WORLD4), tags={EKS_TAG: "prod"})),
            "lb-controller-tagged": case(group(BASTION_SSH, egress(WORLD4), tags={ELBV2_TAG: "prod"})),
            "node-role": case(group(BASTION_SSH, egress(WORLD4), roles=(NODE,))),
            "no-ssh-ingress": case(group(ingress(WORLD4, 443), egress(WORLD4))),
            "ssh-from-group-only": case(group(ingress("sg-0eee", 22), egress(WORLD4))),
            "ssh-from-private-range-only": case(group(ingress("10.0.0.0/8", 22), egress(WORLD4))),
        },
    },
    "SG-006": {
        "fail": {
            "cluster-sg-without-self-rule": case(cluster_sg(self_ref=False)),
            "cluster-sg-self-rule-443-only": case(cluster_sg(ingress(GID, 443), self_ref=False)),
            "cluster-sg-egress-443-only": case(cluster_sg(egress(WORLD4, 443, "tcp"), open_egress=False)),
            "cluster-sg-no-egress": case(cluster_sg(open_egress=False)),
            "control-plane-removed-443-from-group": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("tcp", 443, 443, "group", "sg-node"))),
            "node-removed-kubelet-from-group": case(
                group(ingress("sg-node", 443), roles=(NODE,)),
                removed=removed(removed_in("tcp", 10250, 10250, "group", "sg-cp"))),
            "node-removed-all-traffic-from-group": case(
                group(roles=(NODE,)), removed=removed(removed_in("-1", None, None, "group", "sg-cp"))),
            "control-plane-removed-egress-dns-to-group": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(Permission(True, "udp", 53, 53, "group", "sg-node"))),
        },
        "pass": {
            "cluster-sg-with-self-rule": case(cluster_sg()),
            "cluster-sg-minimum-egress": case(cluster_sg(
                egress("sg-node", 443, "tcp"), egress("sg-node", 10250, "tcp"), egress("sg-node", 53, "udp"),
                open_egress=False)),
            "control-plane-removed-443-but-still-there": case(
                group(ingress("sg-node", (0, 65535)), roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("tcp", 443, 443, "group", "sg-node"))),
            "control-plane-removed-443-from-cidr": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("tcp", 443, 443, "ipv4", "10.0.0.0/8"))),
            "control-plane-removed-8080-from-group": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("tcp", 8080, 8080, "group", "sg-node"))),
            "control-plane-removed-icmp-from-group": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("icmp", None, None, "group", "sg-node"))),
            "node-removed-tcp-port-0-from-group": case(
                group(roles=(NODE,)), removed=removed(removed_in("tcp", 0, 0, "group", "sg-cp"))),
            "unrelated-group-removed-443-from-group": case(
                group(), removed=removed(removed_in("tcp", 443, 443, "group", "sg-node"))),
            "removal-on-another-group": case(
                group(roles=(CONTROL_PLANE,)),
                removed=removed(removed_in("tcp", 443, 443, "group", "sg-node"), gid="sg-other")),
            "node-without-removal": case(group(roles=(NODE,))),
        },
    },
    "SG-007": {
        "fail": {
            "default-in-cluster-vpc-with-rules": case(group(self_rule(), egress(WORLD4), roles=(DEFAULT,),
                                                            name="default")),
            "default-in-cluster-vpc-egress-only": case(group(egress(WORLD4), roles=(DEFAULT,),
                                                             name="default")),
        },
        "pass": {
            "default-outside-cluster-vpc": case(group(self_rule(), egress(WORLD4), roles=(DEFAULT,),
                                                      name="default", in_vpc=False)),
            "default-in-cluster-vpc-empty": case(group(roles=(DEFAULT,), name="default")),
            "named-default-without-role": case(group(egress(WORLD4), name="default")),
            "other-group-in-cluster-vpc": case(group(self_rule(), egress(WORLD4), roles=(NODE,))),
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
        assert all(f.severity is RULES_BY_ID[rule_id].severity and f.detail for f in findings)


def test_every_rule_has_pass_and_fail_fixtures() -> None:
    assert set(FIXTURES) == {r.rule_id for r in RULES}
    assert all(v["pass"] and v["fail"] for v in FIXTURES.values())


# -- what a finding points at, and whether it may be revoked -------------------------------------------------

@pytest.mark.parametrize(("rule_id", "make", "remediable"), [
    ("SG-001", lambda r: group(r, roles=(NODE,)), True),
    ("SG-002", lambda r: group(r), True),
    ("SG-004", lambda r: group(r, roles=(LB,)), True),
])
def test_world_rules_target_the_offending_rule(rule_id: str, make: Any, remediable: bool) -> None:
    offending = ingress(WORLD4, None, "-1", rid="sgr-bad")
    fine = ingress("10.0.0.0/8", None, "-1", rid="sgr-ok")
    g = make(offending)
    g = replace(g, rules=(*g.rules, replace(fine, group_id=g.group_id)))
    findings = run(rule_id, case(g))
    assert [(f.target_id, f.resource_id, f.remediable) for f in findings] == [("sgr-bad", GID, remediable)]


def test_grouped_permission_flags_only_the_world_cidr() -> None:
    """One call, two CIDRs, two rules: only the world one is a finding."""
    g = group(ingress("10.0.0.0/8", 22, rid="sgr-vpn"), ingress(WORLD4, 22, rid="sgr-world"), roles=(NODE,))
    findings = detect(SgSnapshot((g,)), Config())
    assert {f.target_id for f in findings} == {"sgr-world"}
    assert {f.rule_id for f in findings} == {"SG-001", "SG-002"}


@pytest.mark.parametrize(("revoke", "remediable"), [(True, True), (False, False)])
def test_sg003_remediable_follows_config(revoke: bool, remediable: bool) -> None:
    c = case(group(ingress("8.0.0.0/8", 443, rid="sgr-wide")), revoke_wide_public_cidrs=revoke)
    assert [(f.target_id, f.remediable) for f in run("SG-003", c)] == [("sgr-wide", remediable)]


@pytest.mark.parametrize("rule_id", ["SG-005", "SG-006", "SG-007"])
def test_alert_only_rules_are_never_remediable(rule_id: str) -> None:
    findings = [f for c in FIXTURES[rule_id]["fail"].values() for f in run(rule_id, c)]
    assert findings and not any(f.remediable for f in findings)


def test_sg005_targets_the_egress_rule() -> None:
    c = case(group(BASTION_SSH, egress(WORLD4, rid="sgr-out")))
    assert [f.target_id for f in run("SG-005", c)] == ["sgr-out"]


def test_sg006_reports_which_ports_were_removed() -> None:
    c = case(group(roles=(CONTROL_PLANE,)), removed=removed(removed_in("tcp", 443, 443, "group", "sg-node")))
    (finding,) = run("SG-006", c)
    assert "443" in finding.detail and "sg-node" in finding.detail and "10250" not in finding.detail


def test_sg006_restricted_cluster_egress_names_the_missing_ports() -> None:
    (finding,) = run("SG-006", case(cluster_sg(egress(WORLD4, 443, "tcp"), open_egress=False)))
    assert "10250, 53" in finding.detail


# -- the registry and detect() -------------------------------------------------------------------------------

def test_rule_ids_are_unique_and_sorted() -> None:
    ids = [r.rule_id for r in RULES]
    assert ids == sorted(ids) == sorted(set(ids))
    assert ids == [f"SG-00{i}" for i in range(1, 8)]
    assert {r.rule_id: r for r in RULES} == RULES_BY_ID
    assert all(r.title and isinstance(r.severity, Severity) for r in RULES)


def test_detect_returns_findings_from_every_rule() -> None:
    groups = (
        group(ingress(WORLD4, 22), roles=(NODE,), gid="sg-node"),  # SG-001, SG-002
        group(ingress("8.0.0.0/8", 443), gid="sg-wide"),  # SG-003
        group(ingress(WORLD4, 8080), roles=(LB,), gid="sg-lb"),  # SG-004
        group(BASTION_SSH, egress(WORLD4), gid="sg-bastion"),  # SG-005
        group(roles=(CLUSTER,), gid="sg-cluster"),  # SG-006
        group(egress(WORLD4), roles=(DEFAULT,), name="default", gid="sg-default"),  # SG-007
    )
    findings = detect(SgSnapshot(groups), Config())
    by_rule = {(f.rule_id, f.resource_id) for f in findings}
    assert {rule_id for rule_id, _ in by_rule} == set(RULES_BY_ID)
    assert {("SG-001", "sg-node"), ("SG-002", "sg-node"), ("SG-003", "sg-wide"), ("SG-004", "sg-lb"),
            ("SG-005", "sg-bastion"), ("SG-006", "sg-cluster"), ("SG-007", "sg-default")} <= by_rule


def test_detect_on_a_clean_snapshot_finds_nothing() -> None:
    groups = (cluster_sg(), group(ingress("sg-cp", 10250), egress(WORLD4), roles=(NODE,), gid="sg-node"),
              group(ingress(WORLD4, 443), ingress(WORLD6, 80), roles=(LB,), gid="sg-lb"))
    assert detect(SgSnapshot(groups), Config()) == []


# -- classify() ----------------------------------------------------------------------------------------------

PROD = Cluster("prod", "vpc-prod", cluster_sg_id="sg-cluster", control_plane_sg_ids=("sg-cp",),
               node_sg_ids=("sg-lt-node", "sg-remote"))
OTHER = Cluster("dev", "vpc-dev", cluster_sg_id="sg-dev-cluster")

CLASSIFY: list[tuple[str, dict[str, Any], set[GroupRole], set[str], bool]] = [
    ("cluster-sg-by-config", {"group_id": "sg-cluster"}, {CLUSTER}, {"prod"}, True),
    ("cluster-sg-by-tag-only", {"group_id": "sg-x", "vpc_id": "vpc-elsewhere",
                                "tags": {EKS_TAG: "prod", K8S_TAG: "owned"}},
     {CLUSTER}, {"prod"}, True),
    ("control-plane-by-cluster-config", {"group_id": "sg-cp"}, {CONTROL_PLANE}, {"prod"}, True),
    ("node-by-launch-template", {"group_id": "sg-lt-node"}, {NODE}, {"prod"}, True),
    ("node-by-remote-access", {"group_id": "sg-remote"}, {NODE}, {"prod"}, True),
    ("node-by-kubernetes-cluster-tag", {"tags": {K8S_TAG: "owned"}}, {NODE}, {"prod"}, True),
    ("node-tag-outside-cluster-vpc", {"vpc_id": "vpc-elsewhere", "tags": {K8S_TAG: "shared"}},
     {NODE}, {"prod"}, True),
    ("load-balancer-by-elbv2-tag", {"tags": {ELBV2_TAG: "prod", K8S_TAG: "owned"}},
     {LB}, {"prod"}, True),
    ("load-balancer-by-stack-tag", {"tags": {"service.k8s.aws/stack": "default/web"}}, {LB}, set(), True),
    ("load-balancer-by-k8s-elb-name", {"name": "k8s-elb-a1b2c3", "tags": {K8S_TAG: "owned"}},
     {LB}, {"prod"}, True),
    ("default-group-in-cluster-vpc", {"name": "default"}, {DEFAULT}, set(), True),
    ("default-group-elsewhere", {"name": "default", "vpc_id": "vpc-elsewhere"}, {DEFAULT}, set(), False),
    ("bystander-in-cluster-vpc", {}, set(), set(), True),
    ("bystander-elsewhere", {"vpc_id": "vpc-elsewhere"}, set(), set(), False),
    ("other-cluster-vpc", {"group_id": "sg-dev-cluster", "vpc_id": "vpc-dev"}, {CLUSTER}, {"dev"}, True),
]


@pytest.mark.parametrize(("args", "roles", "names", "in_vpc"),
                         [pytest.param(*c[1:], id=c[0]) for c in CLASSIFY])
def test_classify(args: dict[str, Any], roles: set[GroupRole], names: set[str], in_vpc: bool) -> None:
    full = {"group_id": "sg-new", "name": "app", "vpc_id": "vpc-prod", "tags": {}, **args}
    got = classify(full["group_id"], full["name"], full["vpc_id"], full["tags"], (PROD, OTHER))
    assert got == (frozenset(roles), frozenset(names), in_vpc)


def test_classify_without_clusters_uses_tags_only() -> None:
    assert classify("sg-1", "app", "vpc-1", {}, ()) == (frozenset(), frozenset(), False)
    assert classify("sg-1", "app", "vpc-1", {"kubernetes.io/cluster/x": "owned"}, ()) == (
        frozenset({NODE}), frozenset({"x"}), True)


# -- SgRule geometry the rules rely on -----------------------------------------------------------------------

@pytest.mark.parametrize(("r", "world", "public"), [
    (ingress(WORLD4), True, True),
    (ingress("208.236.235.254/0"), True, True),
    (ingress(WORLD6), True, True),
    (ingress("0.0.0.0/1"), False, True),
    (ingress("10.1.2.0/24"), False, False),
    (ingress("192.168.0.0/16"), False, False),
    (ingress("169.254.169.254/32"), False, False),
    (ingress("fe80::/64"), False, False),
    (ingress("2600:1f18::/32"), False, True),
    (ingress("sg-1"), False, False),
    (ingress("pl-1"), False, False),
    (ingress("not-a-cidr"), False, False),
], ids=["world-v4", "world-host-bits", "world-v6", "half-world", "rfc1918-10", "rfc1918-192", "link-local",
        "v6-link-local", "v6-public", "group", "prefix-list", "garbage"])
def test_rule_world_and_public(r: SgRule, world: bool, public: bool) -> None:
    assert (r.is_world, r.is_public) == (world, public)


@pytest.mark.parametrize(("r", "allowed", "within"), [
    (ingress(WORLD4, 443), {80, 443}, True),
    (ingress(WORLD4, (80, 81)), {80, 443}, False),
    (ingress(WORLD4, (80, 81)), {80, 81}, True),
    (ingress(WORLD4, (79, 81)), {80, 81}, False),
    (ingress(WORLD4, None, "-1"), {80, 443}, False),
    (ingress(WORLD4, None, "icmp"), {80, 443}, True),
], ids=["single-allowed", "range-partly-allowed", "range-exactly-allowed", "range-one-wider", "all-traffic",
        "icmp-has-no-ports"])
def test_ports_within(r: SgRule, allowed: set[int], within: bool) -> None:
    assert r.ports_within(allowed) is within


@pytest.mark.parametrize(("r", "text"), [
    (ingress(WORLD4, 22), "tcp/22 ingress from 0.0.0.0/0"),
    (ingress(WORLD6, (20, 25)), "tcp/20-25 ingress from ::/0"),
    (egress(WORLD4), "all traffic egress to 0.0.0.0/0"),
    (ingress("sg-9", None, "icmp"), "icmp ingress from sg-9"),
])
def test_describe(r: SgRule, text: str) -> None:
    assert r.describe() == text
