"""IAM posture rules the IRSA guard sees on IAM events, alert only: EK-005 (the CNI policy left on the
node role) and EK-007 (a customer policy granting eks:* or * on *). ``RULES`` is the registry."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from eksguard.detect.rule import Family, Rule
from eksguard.model import Finding, Severity
from eksguard.snapshot.iam_policy import (
    CNI_POLICY,
    IamPostureSnapshot,
    broad_eks_grant,
    is_aws_node_role,
    is_node_role,
)

Check = Callable[[IamPostureSnapshot], Iterator[Finding]]


def ek005_cni_policy_on_node_role(snap: IamPostureSnapshot) -> Iterator[Finding]:
    own = [r for r in snap.cni_roles if is_aws_node_role(r)]
    if not own:
        return  # no other role carries the CNI policy for aws-node: the node role still needs it
    spec = RULES_BY_ID["EK-005"]
    for role in (r for r in snap.cni_roles if is_node_role(r) and r not in own):
        yield Finding("EK-005", spec.severity, spec.title, role.name,
                      f"{CNI_POLICY} is attached to node role {role.name} while aws-node has its own role "
                      f"({', '.join(r.name for r in own)}): every pod on the node can use the CNI's permissions "
                      f"through IMDS. Detach it from the node role only after checking that aws-node runs with "
                      f"its own role (kubectl -n kube-system describe sa aws-node), never blindly: pod "
                      f"networking breaks without it.", target_id=CNI_POLICY)


def ek007_broad_customer_policy(snap: IamPostureSnapshot) -> Iterator[Finding]:
    spec = RULES_BY_ID["EK-007"]
    for policy in snap.policies:
        grant = broad_eks_grant(policy.document)
        if grant is None:
            continue
        if policy.inline_of:
            yield Finding("EK-007", spec.severity, spec.title, policy.inline_of,
                          f"inline policy {policy.name} of role {policy.inline_of} grants {grant}: full control "
                          "of every EKS cluster of the account", target_id=policy.name)
        elif policy.attached_to:
            who = ", ".join(f"{kind} {name}" for kind, name in policy.attached_to)
            yield Finding("EK-007", spec.severity, spec.title, policy.name,
                          f"customer policy {policy.name} grants {grant} and is attached to {who}: full control "
                          "of every EKS cluster of the account; grant eks actions per cluster ARN, or use EKS "
                          "access entries with scoped access policies", target_id=policy.arn)


RULES: tuple[Rule, ...] = (
    Rule("EK-005", "AmazonEKS_CNI_Policy on the node role while aws-node has its own role", Severity.MEDIUM,
         ek005_cni_policy_on_node_role, Family.IAM, "iam-role", ("AttachRolePolicy",), None, ("ExemptTagKey",),
         ("EKS Best Practices: Networking - use a separate IAM role for the VPC CNI",)),
    Rule("EK-007", "Customer policy granting eks:* or * on * attached to a role or user", Severity.HIGH,
         ek007_broad_customer_policy, Family.IAM, "iam-policy", ("AttachRolePolicy", "PutRolePolicy",
                                                                  "CreatePolicyVersion"), None, ("ExemptTagKey",),
         ("AWS FSBP IAM.1", "EKS Best Practices: Identity and access management - least privilege")),
)
RULES_BY_ID = {rule.rule_id: rule for rule in RULES}


def detect(snapshot: IamPostureSnapshot, only: Collection[str] | None = None) -> list[Finding]:
    return [f for rule in RULES if only is None or rule.rule_id in only for f in rule.check(snapshot)]
