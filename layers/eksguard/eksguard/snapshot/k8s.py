"""What eksguard read inside one cluster, through the Kubernetes API (DESIGN section 9), as frozen values.

Built from the API's own JSON by ``snapshot.k8s_api`` (the reader and the tests share one parser). Nothing here is
judged: a malformed aws-auth entry is recorded as an error, not dropped, and a resource that could not be read is
``None`` with the reason in ``ClusterK8sSnapshot.gaps`` — never an empty tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ROLE_ARN_ANNOTATION = "eks.amazonaws.com/role-arn"
SYSTEM_MASTERS = "system:masters"


@dataclass(frozen=True)
class AwsAuthMapping:
    """One entry of ``mapRoles`` (kind "role") or ``mapUsers`` (kind "user")."""

    kind: str
    arn: str
    username: str
    groups: tuple[str, ...]

    @property
    def name(self) -> str:
        """The role or user name: aws-auth role ARNs carry no path, so IAM is compared by name."""
        return self.arn.rsplit("/", 1)[-1]

    @property
    def account(self) -> str:
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 5 else ""


@dataclass(frozen=True)
class AwsAuth:
    """``kube-system/aws-auth``; ``present=False`` when the ConfigMap does not exist (API-mode clusters)."""

    present: bool
    mappings: tuple[AwsAuthMapping, ...] = ()
    errors: tuple[str, ...] = ()  # malformed YAML or entries: reported by K8-000, never ignored


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: Mapping[str, str]


@dataclass(frozen=True)
class ServiceAccount:
    namespace: str
    name: str
    role_arn: str | None

    @property
    def sub(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass(frozen=True)
class NetworkPolicy:
    """A ``networking.k8s.io/v1`` NetworkPolicy, kept as the API's spec (the IMDS check reads it)."""

    namespace: str
    name: str
    spec: Mapping[str, Any]


@dataclass(frozen=True)
class CalicoRule:
    action: str  # Allow | Deny | Pass | Log
    protocol: str | int | None = None
    source: Mapping[str, Any] | None = None
    destination: Mapping[str, Any] | None = None
    not_protocol: str | int | None = None
    ip_version: int | None = None
    # Every key of the rule as written, so that one the IMDS check does not know is noted, not ignored.
    keys: tuple[str, ...] = ()

    @property
    def nets(self) -> tuple[str, ...]:
        return tuple((self.destination or {}).get("nets") or ())

    @property
    def not_nets(self) -> tuple[str, ...]:
        return tuple((self.destination or {}).get("notNets") or ())


@dataclass(frozen=True)
class CalicoPolicy:
    """A Calico GlobalNetworkPolicy (``namespace`` None) or NetworkPolicy, ``crd.projectcalico.org/v1``."""

    name: str
    namespace: str | None
    order: float | None  # None: applied last
    selector: str  # "" means all()
    namespace_selector: str
    types: tuple[str, ...]
    egress: tuple[CalicoRule, ...]
    tier: str = "default"
    # Host-endpoint-only modifiers (preDNAT, doNotTrack): such a policy never applies to pods.
    host_only: bool = False
    service_account_selector: str = ""

    @property
    def kind(self) -> str:
        return "GlobalNetworkPolicy" if self.namespace is None else "NetworkPolicy (Calico)"

    @property
    def ref(self) -> str:
        where = self.name if self.namespace is None else f"{self.namespace}/{self.name}"
        return f"{self.kind} {where} (order {'none' if self.order is None else f'{self.order:g}'})"


@dataclass(frozen=True)
class ClusterK8sSnapshot:
    """One cluster as read. ``error``: nothing could be read (401, unreachable, TLS); ``gaps``: resources
    not read (forbidden, server error), each with its reason. A ``None`` field was not read."""

    cluster: str
    region: str
    error: str | None = None
    gaps: tuple[tuple[str, str], ...] = ()
    aws_auth: AwsAuth | None = None
    namespaces: tuple[Namespace, ...] | None = None
    service_accounts: tuple[ServiceAccount, ...] | None = None
    network_policies: tuple[NetworkPolicy, ...] | None = None
    calico_installed: bool | None = None
    calico_policies: tuple[CalicoPolicy, ...] | None = None

    @property
    def readable(self) -> bool:
        return self.error is None and not self.gaps

    @classmethod
    def unreadable(cls, cluster: str, region: str, reason: str) -> ClusterK8sSnapshot:
        return cls(cluster, region, error=reason)

    def annotated(self, role_arn: str) -> tuple[ServiceAccount, ...] | None:
        """The ServiceAccounts whose role-arn annotation is exactly ``role_arn`` (DESIGN section 5, source 3:
        exactly one is the role's service account; two or more mean alert only). None: not read."""
        if self.service_accounts is None:
            return None
        return tuple(sa for sa in self.service_accounts if sa.role_arn == role_arn)
