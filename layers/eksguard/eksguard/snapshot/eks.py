"""Cluster posture as re-read from AWS: endpoint, logging, encryption, authentication, access grants,
node launch templates and node instances' metadata options, and the region's CloudTrail coverage."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

CLUSTER_ADMIN_POLICY = "AmazonEKSClusterAdminPolicy"
REQUIRED_LOG_TYPES = frozenset({"api", "audit", "authenticator"})
ALL_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")


@dataclass(frozen=True)
class AccessGrant:
    """One access policy associated with one access entry."""

    principal_arn: str
    policy_arn: str
    scope: str = "cluster"  # cluster | namespace
    namespaces: tuple[str, ...] = ()
    # Of the access entry, read (DescribeAccessEntry) only for cluster-admin grants, which EK-006 may act on:
    # its ARN and its tags (the exemption tag on an entry exempts that principal's grant).
    entry_arn: str = ""
    entry_tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    # The association exactly as ListAssociatedAccessPolicies returned it (times as ISO-8601): the before-image.
    image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_cluster_admin(self) -> bool:
        return self.policy_arn.rsplit("/", 1)[-1] == CLUSTER_ADMIN_POLICY


@dataclass(frozen=True)
class ClusterPosture:
    name: str
    arn: str
    endpoint_public: bool
    endpoint_private: bool
    # As DescribeCluster returns them: a public endpoint with no CIDRs set reports ["0.0.0.0/0"].
    public_cidrs: tuple[str, ...]
    logging_enabled: frozenset[str]
    # KMS key of the secrets envelope encryption; None when secrets are not encrypted with KMS.
    secrets_key_arn: str | None
    # CONFIG_MAP | API_AND_CONFIG_MAP | API. DescribeCluster without accessConfig (clusters from
    # before access entries) means aws-auth only: the reader records CONFIG_MAP then.
    auth_mode: str
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    issuer: str | None = None
    status: str = "ACTIVE"
    # None: not read for this event (only the access calls read grants).
    grants: tuple[AccessGrant, ...] | None = None
    # The exact DescribeCluster fields a remediation changes: the audit before-image.
    vpc_image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    logging_image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Where its Kubernetes API answers (DescribeCluster's endpoint and certificateAuthority.data).
    endpoint: str | None = field(default=None, compare=False)
    ca_data: str | None = field(default=None, compare=False, repr=False)

    @property
    def world_open(self) -> bool:
        if not self.endpoint_public:
            return False
        cidrs = self.public_cidrs or ("0.0.0.0/0",)
        return any(_is_world(c) for c in cidrs)


@dataclass(frozen=True)
class NodeGroupRef:
    """A managed node group and the launch-template version it asked for ($Default, $Latest or N)."""

    cluster: str
    name: str
    template_id: str
    version_spec: str

    @property
    def follows_default(self) -> bool:
        return self.version_spec == "$Default"


@dataclass(frozen=True)
class MetadataOptions:
    http_tokens: str | None
    hop_limit: int | None
    http_endpoint: str | None

    @classmethod
    def from_api(cls, raw: Mapping[str, Any] | None) -> MetadataOptions:
        raw = raw or {}
        hop = raw.get("HttpPutResponseHopLimit")
        return cls(raw.get("HttpTokens"), int(hop) if hop is not None else None, raw.get("HttpEndpoint"))

    def problems(self) -> list[str]:
        """Why pods could reach the node's credentials; empty when IMDS is off or locked down."""
        if self.http_endpoint == "disabled":
            return []
        out = []
        if self.http_tokens is None:
            out.append("HttpTokens not set: IMDSv1 stays allowed unless the AMI requires v2")
        elif self.http_tokens != "required":
            out.append(f"IMDSv1 allowed (HttpTokens={self.http_tokens})")
        if self.hop_limit is None:
            out.append("hop limit not set (the AMI's default may be 2)")
        elif self.hop_limit > 1:
            out.append(f"hop limit {self.hop_limit} (> 1: reachable from pods)")
        return out


@dataclass(frozen=True)
class NodeTemplate:
    """One version of a launch template that nodes are (or will be) launched from."""

    template_id: str
    template_name: str
    version: int
    is_default: bool
    metadata: MetadataOptions
    node_groups: tuple[NodeGroupRef, ...] = ()
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    description: str = ""
    # MetadataOptions exactly as DescribeLaunchTemplateVersions returned them: the before-image.
    image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.template_id}:{self.version}"


@dataclass(frozen=True)
class NodeInstance:
    instance_id: str
    cluster: str
    metadata: MetadataOptions
    image: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class TrailCoverage:
    """CT-001: trails that log management (write) events in a region, as seen from it."""

    region: str
    logging_trails: tuple[str, ...]
    all_trails: tuple[str, ...] = ()


@dataclass(frozen=True)
class EksSnapshot:
    clusters: tuple[ClusterPosture, ...] = ()
    templates: tuple[NodeTemplate, ...] = ()
    instances: tuple[NodeInstance, ...] = ()
    trail: TrailCoverage | None = None

    def cluster(self, name: str) -> ClusterPosture | None:
        return next((c for c in self.clusters if c.name == name), None)

    def template(self, key: str) -> NodeTemplate | None:
        return next((t for t in self.templates if t.key == key), None)


def _is_world(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False
