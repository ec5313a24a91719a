"""What eksguard read inside one cluster, through the Kubernetes API (DESIGN section 9), as frozen values.

Built from the API's own JSON (``from_api`` functions), so the reader, the stand-in and the tests share one
parser. Nothing here is judged: a malformed aws-auth entry is recorded as an error, not dropped, and a resource
that could not be read is ``None`` with the reason in ``ClusterK8sSnapshot.gaps`` — never an empty tuple.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

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


# --- parsing the API's JSON -------------------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        raise ValueError(f"object without metadata.name: {str(obj)[:120]}")
    return meta


def aws_auth_from_api(configmap: Mapping[str, Any] | None) -> AwsAuth:
    if configmap is None:
        return AwsAuth(present=False)
    data = configmap.get("data") or {}
    mappings: list[AwsAuthMapping] = []
    errors: list[str] = []
    for key, kind, arn_key in (("mapRoles", "role", "rolearn"), ("mapUsers", "user", "userarn")):
        raw = data.get(key)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        if not isinstance(raw, str):
            errors.append(f"{key} is not a string: its mappings were not evaluated")
            continue
        try:
            entries = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            errors.append(f"{key} is not valid YAML ({str(exc).splitlines()[0]}): its mappings were not evaluated")
            continue
        if not isinstance(entries, list):
            errors.append(f"{key} is not a YAML list: its mappings were not evaluated")
            continue
        for i, entry in enumerate(entries):
            arn = entry.get(arn_key) if isinstance(entry, dict) else None
            groups = entry.get("groups", []) if isinstance(entry, dict) else None
            if not isinstance(arn, str) or not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                errors.append(f"{key}[{i}] has no {arn_key} string or a malformed groups list")
                continue
            mappings.append(AwsAuthMapping(kind, arn.strip(), str(entry.get("username", "")), tuple(groups)))
    return AwsAuth(True, tuple(mappings), tuple(errors))


def namespace_from_api(obj: Mapping[str, Any]) -> Namespace:
    meta = _meta(obj)
    return Namespace(meta["name"], dict(meta.get("labels") or {}))


def service_account_from_api(obj: Mapping[str, Any]) -> ServiceAccount:
    meta = _meta(obj)
    role = (meta.get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
    return ServiceAccount(str(meta.get("namespace", "")), meta["name"], role.strip() if isinstance(role, str) else None)


def network_policy_from_api(obj: Mapping[str, Any]) -> NetworkPolicy:
    meta = _meta(obj)
    return NetworkPolicy(str(meta.get("namespace", "")), meta["name"], dict(obj.get("spec") or {}))


def calico_rule_from_api(raw: Mapping[str, Any]) -> CalicoRule:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("action"), str):
        raise ValueError(f"Calico rule without an action: {str(raw)[:120]}")
    return CalicoRule(raw["action"], raw.get("protocol"), raw.get("source"), raw.get("destination"),
                      raw.get("notProtocol"), raw.get("ipVersion"), tuple(raw))


def calico_policy_from_api(obj: Mapping[str, Any], namespaced: bool) -> CalicoPolicy:
    meta, spec = _meta(obj), obj.get("spec") or {}
    egress = tuple(calico_rule_from_api(r) for r in spec.get("egress") or ())
    types = spec.get("types")
    if not types:  # Calico's default: Ingress, plus Egress when the policy has egress rules
        types = ["Ingress", *(["Egress"] if egress else [])]
    order = spec.get("order")
    return CalicoPolicy(meta["name"], str(meta.get("namespace", "")) if namespaced else None,
                        float(order) if order is not None else None, str(spec.get("selector") or "").strip(),
                        str(spec.get("namespaceSelector") or "").strip(), tuple(types), egress,
                        str(spec.get("tier") or "default"),
                        bool(spec.get("preDNAT") or spec.get("doNotTrack")),
                        str(spec.get("serviceAccountSelector") or "").strip())
