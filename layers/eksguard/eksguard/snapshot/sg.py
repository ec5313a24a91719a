"""Security groups as re-read from AWS, and how each relates to an EKS cluster."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Any

from eksguard.parse.ec2 import Permission

ALL_PORTS = (0, 65535)
# Ranges that are not "public": RFC 1918, carrier-grade NAT, link-local, IPv6 unique-local/link-local.
NON_PUBLIC = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
              "127.0.0.0/8", "fc00::/7", "fe80::/10", "::1/128")
)


class GroupRole(StrEnum):
    CLUSTER = "cluster"  # the EKS-created cluster security group
    CONTROL_PLANE = "control-plane"  # additional security groups given to the cluster
    NODE = "node"  # node groups, their launch templates, kubernetes.io/cluster/* tagged groups
    LOAD_BALANCER = "load-balancer"  # made by the AWS Load Balancer Controller or the in-tree provider
    DEFAULT = "default"  # a VPC's default group


CLUSTER_ROLES = frozenset({GroupRole.CLUSTER, GroupRole.CONTROL_PLANE, GroupRole.NODE})


@dataclass(frozen=True)
class SgRule:
    rule_id: str
    group_id: str
    is_egress: bool
    protocol: str
    from_port: int | None
    to_port: int | None
    cidr_ipv4: str | None = None
    cidr_ipv6: str | None = None
    prefix_list_id: str | None = None
    referenced_group_id: str | None = None
    description: str | None = None
    # The rule exactly as DescribeSecurityGroupRules returned it: the audit before-image.
    image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @cached_property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
        cidr = self.cidr_ipv4 or self.cidr_ipv6
        if cidr is None:
            return None
        try:
            # strict=False: AWS accepts host bits ("208.236.235.254/0" is the whole world).
            return ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            return None

    @property
    def source(self) -> str:
        return self.cidr_ipv4 or self.cidr_ipv6 or self.prefix_list_id or self.referenced_group_id or "?"

    @property
    def is_world(self) -> bool:
        return self.network is not None and self.network.prefixlen == 0

    @property
    def is_public(self) -> bool:
        net = self.network
        return net is not None and not any(
            net.version == n.version and net.subnet_of(n)  # type: ignore[arg-type]
            for n in NON_PUBLIC
        )

    @property
    def all_traffic(self) -> bool:
        return self.protocol == "-1"

    @property
    def port_range(self) -> tuple[int, int] | None:
        """Inclusive range of TCP/UDP ports reached; None for protocols without ports (ICMP...)."""
        if self.all_traffic:
            return ALL_PORTS
        if self.protocol not in ("tcp", "udp"):
            return None
        low = 0 if self.from_port is None else self.from_port
        high = 65535 if self.to_port is None else self.to_port
        return low, high

    def reaches_port(self, port: int) -> bool:
        rng = self.port_range
        return rng is not None and rng[0] <= port <= rng[1]

    def ports_within(self, allowed: Iterable[int]) -> bool:
        """True when every port the rule opens is in ``allowed`` (protocols without ports: True)."""
        rng = self.port_range
        if rng is None:
            return True
        allowed_set = set(allowed)
        if rng[1] - rng[0] > len(allowed_set):
            return False
        return all(p in allowed_set for p in range(rng[0], rng[1] + 1))

    def describe(self) -> str:
        direction = "egress to" if self.is_egress else "ingress from"
        if self.all_traffic:
            what = "all traffic"
        elif self.port_range is None:
            what = self.protocol
        elif self.port_range[0] == self.port_range[1]:
            what = f"{self.protocol}/{self.port_range[0]}"
        else:
            what = f"{self.protocol}/{self.port_range[0]}-{self.port_range[1]}"
        return f"{what} {direction} {self.source}"


@dataclass(frozen=True)
class SecurityGroup:
    group_id: str
    name: str
    vpc_id: str
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    rules: tuple[SgRule, ...] = ()
    roles: frozenset[GroupRole] = frozenset()
    clusters: frozenset[str] = frozenset()
    # The group lives in a VPC that hosts an EKS cluster (Scope=eks covers exactly these).
    in_cluster_vpc: bool = False

    @property
    def ingress(self) -> tuple[SgRule, ...]:
        return tuple(r for r in self.rules if not r.is_egress)

    @property
    def egress(self) -> tuple[SgRule, ...]:
        return tuple(r for r in self.rules if r.is_egress)

    @property
    def eks_tagged(self) -> bool:
        return any(
            k.startswith("kubernetes.io/cluster/") or k in ("aws:eks:cluster-name", "elbv2.k8s.aws/cluster")
            for k in self.tags
        )


@dataclass(frozen=True)
class Cluster:
    name: str
    vpc_id: str
    arn: str = ""
    cluster_sg_id: str | None = None
    control_plane_sg_ids: tuple[str, ...] = ()
    node_sg_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class SgSnapshot:
    groups: tuple[SecurityGroup, ...]
    clusters: tuple[Cluster, ...] = ()
    # (group id, permission) the triggering call revoked: SG-006 asks whether EKS needed them.
    removed: tuple[tuple[str, Permission], ...] = ()
    # Groups the event named that no longer exist: nothing to do, nothing to alert.
    missing_group_ids: tuple[str, ...] = ()

    def group(self, group_id: str) -> SecurityGroup | None:
        return self._by_id.get(group_id)

    @cached_property
    def _by_id(self) -> Mapping[str, SecurityGroup]:
        # A region has thousands of groups and the planner asks once per finding: an index, not a scan.
        out: dict[str, SecurityGroup] = {}
        for g in self.groups:
            out.setdefault(g.group_id, g)
        return out


def classify(
    group_id: str, name: str, vpc_id: str, tags: Mapping[str, str], clusters: Iterable[Cluster]
) -> tuple[frozenset[GroupRole], frozenset[str], bool]:
    """Roles of one group, the clusters it serves, and whether its VPC hosts a cluster. Pure."""
    roles: set[GroupRole] = set()
    names: set[str] = set()
    in_cluster_vpc = False
    for cluster in clusters:
        in_cluster_vpc |= cluster.vpc_id == vpc_id
        if group_id == cluster.cluster_sg_id:
            roles.add(GroupRole.CLUSTER)
        if group_id in cluster.control_plane_sg_ids:
            roles.add(GroupRole.CONTROL_PLANE)
        if group_id in cluster.node_sg_ids:
            roles.add(GroupRole.NODE)
        if group_id in (cluster.cluster_sg_id, *cluster.control_plane_sg_ids, *cluster.node_sg_ids):
            names.add(cluster.name)
    if "aws:eks:cluster-name" in tags:
        roles.add(GroupRole.CLUSTER)
        names.add(tags["aws:eks:cluster-name"])
    lb_cluster = tags.get("elbv2.k8s.aws/cluster")
    is_lb = lb_cluster is not None or "service.k8s.aws/stack" in tags or name.startswith("k8s-elb-")
    tagged = {k.removeprefix("kubernetes.io/cluster/") for k in tags if k.startswith("kubernetes.io/cluster/")}
    if is_lb:
        roles.add(GroupRole.LOAD_BALANCER)
        names |= tagged | ({lb_cluster} if lb_cluster else set())
    elif tagged:
        # The Kubernetes cloud provider marks the node security group with exactly this tag.
        names |= tagged
        if GroupRole.CLUSTER not in roles:
            roles.add(GroupRole.NODE)
    if name == "default":
        roles.add(GroupRole.DEFAULT)
    return frozenset(roles), frozenset(names), in_cluster_vpc or bool(names)
