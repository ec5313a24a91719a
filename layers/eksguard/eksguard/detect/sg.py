"""Security-group rules SG-001 ... SG-007 (docs/rules.md). Each check is a small pure function;
``RULES`` is the explicit registry, in rule-id order."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from eksguard.config import Config
from eksguard.detect.rule import Family, Rule
from eksguard.model import ActionKind, Finding, Severity
from eksguard.parse.ec2 import SG_EVENTS
from eksguard.snapshot.sg import CLUSTER_ROLES, GroupRole, SecurityGroup, SgRule, SgSnapshot

# IPv6 counterpart of MaxPublicPrefix: wider than a whole ISP allocation (/32) is "too broad".
IPV6_MAX_PUBLIC_PREFIX = 32
# What EKS needs between the control plane and nodes (EKS User Guide, security group requirements).
EKS_REQUIRED_PORTS = (443, 10250, 53)

Check = Callable[[SecurityGroup, SgSnapshot, Config], Iterator[Finding]]
# Every security-group call re-reads the groups it names and re-checks all their rules.
EVENTS = tuple(sorted(SG_EVENTS))


def _rule(rule_id: str, title: str, severity: Severity, check: Check, action: ActionKind | None,
          parameters: tuple[str, ...], references: tuple[str, ...]) -> Rule:
    return Rule(rule_id, title, severity, check, Family.SECURITY_GROUP, "security-group", EVENTS, action,
                ("Scope", "ExemptTagKey", *parameters), references)


def _finding(rule_id: str, group: SecurityGroup, detail: str, rule: SgRule | None = None,
             remediable: bool = False) -> Finding:
    spec = RULES_BY_ID[rule_id]
    return Finding(rule_id, spec.severity, spec.title, group.group_id, detail,
                   target_id=rule.rule_id if rule else None, remediable=remediable and spec.action is not None)


def _world_ingress(group: SecurityGroup) -> Iterator[SgRule]:
    return (r for r in group.ingress if r.is_world)


def sg001_world_to_cluster_sg(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    if not group.roles & CLUSTER_ROLES or GroupRole.LOAD_BALANCER in group.roles:
        return
    roles = "/".join(sorted(r.value for r in group.roles & CLUSTER_ROLES))
    for rule in _world_ingress(group):
        yield _finding("SG-001", group, f"{rule.describe()} on {roles} security group {group.group_id}",
                       rule, remediable=True)


def sg002_world_to_protected_port(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    if GroupRole.LOAD_BALANCER in group.roles:
        return
    for rule in _world_ingress(group):
        hit = sorted(p for p in cfg.protected_ports if rule.reaches_port(p))
        if rule.all_traffic or hit:
            what = "all traffic" if rule.all_traffic else f"protected port(s) {', '.join(map(str, hit))}"
            yield _finding("SG-002", group, f"{rule.describe()} opens {what} to the internet", rule, True)


def sg003_wide_public_cidr(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    for rule in group.ingress:
        net = rule.network
        if net is None or rule.is_world or not rule.is_public:
            continue
        limit = cfg.max_public_prefix if net.version == 4 else IPV6_MAX_PUBLIC_PREFIX
        if net.prefixlen < limit:
            yield _finding("SG-003", group, f"{rule.describe()}: public range wider than /{limit}", rule,
                           remediable=cfg.revoke_wide_public_cidrs)


def sg004_lb_non_public_port(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    if GroupRole.LOAD_BALANCER not in group.roles:
        return
    allowed = sorted(cfg.public_ports)
    for rule in _world_ingress(group):
        if not rule.ports_within(allowed):
            yield _finding("SG-004", group, f"{rule.describe()} on a load balancer; public ports are "
                           f"{', '.join(map(str, allowed))}", rule, remediable=True)


def sg005_bastion_open_egress(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    # A bastion takes SSH from the internet (an office range, a VPN exit). SSH from inside the VPC
    # (10.0.0.0/8) is every admin-reachable host, and AWS gives every new group all-traffic egress:
    # counting those would flag half of all groups.
    bastion_like = (
        not group.eks_tagged
        and not group.roles
        and any(r.reaches_port(22) and r.is_public for r in group.ingress)
    )
    if not bastion_like:
        return
    for rule in group.egress:
        if rule.all_traffic and rule.is_world:
            yield _finding("SG-005", group, "bastion-like group (SSH from the internet, no EKS tag) allows "
                           f"{rule.describe()}; remove it once kubeconfig is fetched", rule)


def sg006_required_rule_removed(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    if GroupRole.CLUSTER in group.roles:
        has_self = any(r.referenced_group_id == group.group_id and r.all_traffic for r in group.ingress)
        if not has_self:
            yield _finding("SG-006", group, "the cluster security group lost its inbound all-traffic self rule "
                           "(EKS re-creates it on the next cluster update; nodes and control plane cannot talk)")
        missing = [p for p in EKS_REQUIRED_PORTS if not any(r.reaches_port(p) for r in group.egress)]
        if missing:
            yield _finding("SG-006", group, "the cluster security group no longer allows egress on "
                           f"{', '.join(map(str, missing))} (EKS minimum: 443, 10250, 53)")
    if not group.roles & CLUSTER_ROLES:
        return
    for group_id, perm in snap.removed:
        if group_id != group.group_id or (GroupRole.CLUSTER in group.roles and perm.source == group.group_id):
            continue  # the cluster SG's own self rule is reported above
        reached = [p for p in EKS_REQUIRED_PORTS if perm.protocol == "-1" or (
            perm.protocol in ("tcp", "udp")
            and (0 if perm.from_port is None else perm.from_port) <= p
            <= (65535 if perm.to_port is None else perm.to_port))]
        still_there = any(all(r.reaches_port(p) for p in reached) for r in group.rules
                          if r.is_egress == perm.is_egress and r.source == perm.source)
        if reached and perm.source_kind == "group" and not still_there:
            yield _finding("SG-006", group, f"a rule EKS needs was removed: {perm.protocol} "
                           f"{', '.join(map(str, reached))} {'to' if perm.is_egress else 'from'} {perm.source}")


def sg007_default_group_has_rules(group: SecurityGroup, snap: SgSnapshot, cfg: Config) -> Iterator[Finding]:
    if GroupRole.DEFAULT in group.roles and group.in_cluster_vpc and group.rules:
        yield _finding("SG-007", group, f"default security group of {group.vpc_id} has {len(group.rules)} "
                       "rule(s); resources placed in it by mistake get them")


REVOKE = ActionKind.REVOKED
RULES: tuple[Rule, ...] = (
    _rule("SG-001", "World-open ingress on an EKS cluster, control-plane or node security group", Severity.HIGH,
          sg001_world_to_cluster_sg, REVOKE, (),
          ("AWS FSBP EC2.18", "AWS FSBP EC2.19", "EKS Best Practices: Network security - security groups")),
    _rule("SG-002", "World-open ingress to a protected port or all traffic", Severity.CRITICAL,
          sg002_world_to_protected_port, REVOKE, ("ProtectedPorts",),
          ("CIS AWS Foundations 5.2/5.3", "AWS FSBP EC2.13", "AWS FSBP EC2.14", "AWS FSBP EC2.19")),
    _rule("SG-003", "Ingress from a public CIDR wider than MaxPublicPrefix", Severity.MEDIUM, sg003_wide_public_cidr,
          REVOKE, ("MaxPublicPrefix", "RevokeWidePublicCidrs"), ("AWS FSBP EC2.18",)),
    _rule("SG-004", "Load-balancer security group open to the world beyond PublicPorts", Severity.HIGH,
          sg004_lb_non_public_port, REVOKE, ("PublicPorts",),
          ("AWS FSBP EC2.18", "EKS Best Practices: Network security - load balancers")),
    _rule("SG-005", "Bastion-like security group with all-traffic egress to the world", Severity.LOW,
          sg005_bastion_open_egress, None, (), ("EKS Best Practices: Infrastructure security - bastion access",)),
    _rule("SG-006", "A security-group rule EKS needs is missing", Severity.HIGH, sg006_required_rule_removed, None,
          (), ("EKS User Guide: Amazon EKS security group requirements",)),
    _rule("SG-007", "Default security group has rules in a VPC that hosts a cluster", Severity.MEDIUM,
          sg007_default_group_has_rules, None, (), ("CIS AWS Foundations 5.4", "AWS FSBP EC2.2")),
)
RULES_BY_ID = {rule.rule_id: rule for rule in RULES}


def detect(snapshot: SgSnapshot, config: Config, only: Collection[str] | None = None) -> list[Finding]:
    rules = [r for r in RULES if only is None or r.rule_id in only]
    return [f for group in snapshot.groups for rule in rules for f in rule.check(group, snapshot, config)]
