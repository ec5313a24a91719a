"""IAM permission policies and the roles around the VPC CNI, as re-read for EK-005 and EK-007."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eksguard.snapshot.irsa import SA_TAG, Role, like_match, sa_from_tag, service_account_sub

CNI_POLICY = "AmazonEKS_CNI_Policy"
AWS_NODE_SUB = service_account_sub("kube-system", "aws-node")
NODE_SERVICE = "ec2.amazonaws.com"
POD_IDENTITY_SERVICE = "pods.eks.amazonaws.com"
_PROBE = "eks:describecluster"  # an EKS action no sensible exclusion list leaves out by accident


@dataclass(frozen=True)
class PolicyView:
    """A customer managed policy (default version) or one inline role policy."""

    arn: str  # the policy's ARN, or the role's ARN for an inline policy
    name: str
    document: Mapping[str, Any] = field(compare=False, repr=False)
    tags: Mapping[str, str] = field(default_factory=dict, compare=False)
    attached_to: tuple[tuple[str, str], ...] = ()  # (role|user|group, name)
    inline_of: str | None = None  # the role holding an inline policy


@dataclass(frozen=True)
class IamPostureSnapshot:
    account: str
    policies: tuple[PolicyView, ...] = ()
    # Every role AmazonEKS_CNI_Policy is attached to, re-read (trust and tags).
    cni_roles: tuple[Role, ...] = ()


def _list(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value] if value is not None else []
    return [str(v) for v in items]


def broad_eks_grant(document: Mapping[str, Any]) -> str | None:
    """How the policy grants ``eks:*`` or ``*`` on ``*`` (an Allow with Resource ``*``), or None."""
    statements = document.get("Statement")
    for stmt in statements if isinstance(statements, list) else [statements]:
        if not isinstance(stmt, Mapping) or stmt.get("Effect") != "Allow" or "*" not in _list(stmt.get("Resource")):
            continue
        actions = [a.lower() for a in _list(stmt.get("Action"))]
        if "*" in actions:
            return "Action * on Resource *"
        if any((a.endswith("*") and "eks:".startswith(a[:-1])) or a == "eks:*" for a in actions):
            return "Action eks:* on Resource *"
        excluded = [a.lower() for a in _list(stmt.get("NotAction"))]
        if "NotAction" in stmt and not any(like_match(p, _PROBE) for p in excluded):
            return "NotAction that leaves eks:* allowed, on Resource *"
    return None


def is_node_role(role: Role) -> bool:
    return any(kind == "Service" and value == NODE_SERVICE
               for s in role.trust.statements if s.allows for kind, value in s.principals)


def is_aws_node_role(role: Role) -> bool:
    """A role the aws-node service account assumes: IRSA with its exact sub, or a Pod Identity (or IRSA)
    role tagged ``eksguard:service-account=kube-system/aws-node``."""
    if sa_from_tag(role.tags.get(SA_TAG, "")) == AWS_NODE_SUB:
        return True
    return any(AWS_NODE_SUB in c.values for s in role.trust.irsa_statements for c in s.conditions
               if c.positive and c.claim == "sub" and not c.like)
