"""Parameters of the cluster-posture rules (EK-001 ... EK-006), read once from the environment the
template gives the cluster guard and the sweep. Kept apart from ``Config`` so that the security-group
guard's configuration, and the tests that pin it, do not change."""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from eksguard.config import ConfigError

# K8-003: the namespaces the EKS Best Practices example lets reach IMDS.
DEFAULT_IMDS_ALLOWED_NAMESPACES = frozenset({"kube-system", "amazon-cloudwatch", "external-dns"})
# A Kubernetes namespace name: a DNS label.
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# EKS quota: at most 40 public access CIDR blocks per cluster endpoint.
MAX_TRUSTED_CIDRS = 40


@dataclass(frozen=True)
class EksConfig:
    # EK-001: what a public endpoint is restricted to; empty means "alert only".
    trusted_cidrs: tuple[str, ...] = ()
    # EK-004: opt-in to write a new launch-template version (only in enforce mode).
    enforce_imdsv2: bool = False
    # EK-006: IAM principal ARNs allowed to hold AmazonEKSClusterAdminPolicy.
    admin_principals: frozenset[str] = frozenset()
    # K8 rules: read each cluster's Kubernetes API (read-only); namespaces allowed to reach IMDS (K8-003).
    read_kubernetes: bool = True
    imds_allowed_namespaces: frozenset[str] = DEFAULT_IMDS_ALLOWED_NAMESPACES
    # The in-cluster guard the sweep subscribes clusters' audit logs to ("": it does not; WatchKubernetesAudit).
    kube_guard_arn: str = ""
    # EK-006: opt-in to disassociate a cluster-scope AmazonEKSClusterAdminPolicy from anyone else (enforce
    # mode only, and never while admin_principals is empty: the planner's lock-out guard).
    revoke_cluster_admin: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EksConfig:
        env = os.environ if env is None else env
        return cls(
            trusted_cidrs=trusted_cidrs(env.get("EKSGUARD_TRUSTED_CIDRS", "")),
            enforce_imdsv2=_bool(env.get("EKSGUARD_ENFORCE_IMDSV2", "false"), "EnforceImdsv2"),
            admin_principals=admin_principals(env.get("EKSGUARD_ADMIN_PRINCIPALS", "")),
            read_kubernetes=_bool(env.get("EKSGUARD_READ_KUBERNETES", "true"), "ReadKubernetes"),
            imds_allowed_namespaces=namespaces(env.get("EKSGUARD_IMDS_ALLOWED_NAMESPACES",
                                                       ",".join(sorted(DEFAULT_IMDS_ALLOWED_NAMESPACES)))),
            kube_guard_arn=env.get("EKSGUARD_KUBE_GUARD_ARN", "").strip(),
            revoke_cluster_admin=_bool(env.get("EKSGUARD_REVOKE_CLUSTER_ADMIN", "false"), "RevokeClusterAdmin"),
        )


def trusted_cidrs(raw: str) -> tuple[str, ...]:
    out: list[str] = []
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        try:
            net = ipaddress.IPv4Network(item, strict=True)
        except ValueError:
            raise ConfigError(f"TrustedCidrs: {item!r} is not an IPv4 CIDR block (host bits must be zero)") from None
        if net.prefixlen == 0:
            # Restricting an endpoint to the whole world would report a fix that changes nothing.
            raise ConfigError("TrustedCidrs must not contain 0.0.0.0/0")
        out.append(str(net))
    if len(out) > MAX_TRUSTED_CIDRS:
        raise ConfigError(f"TrustedCidrs: EKS accepts at most {MAX_TRUSTED_CIDRS} CIDR blocks, got {len(out)}")
    return tuple(dict.fromkeys(out))


def namespaces(raw: str) -> frozenset[str]:
    out = {i.strip() for i in raw.split(",") if i.strip()}
    bad = sorted(n for n in out if not _NAMESPACE.fullmatch(n))
    if bad:
        raise ConfigError(f"ImdsAllowedNamespaces: {', '.join(map(repr, bad))} are not Kubernetes namespace names")
    return frozenset(out)


def admin_principals(raw: str) -> frozenset[str]:
    out: set[str] = set()
    for item in (i.strip() for i in raw.split(",")):
        if not item:
            continue
        parts = item.split(":", 5)
        if len(parts) != 6 or parts[0] != "arn" or parts[2] != "iam" or not parts[5].startswith(("role/", "user/")):
            raise ConfigError(f"AdminPrincipals: {item!r} is not an IAM role or user ARN")
        out.add(item)
    return frozenset(out)


def _bool(raw: str, name: str) -> bool:
    value = raw.strip().lower()
    if value in {"true", "1", "yes"}:
        return True
    if value in {"false", "0", "no", ""}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")
