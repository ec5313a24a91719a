"""The in-cluster event path's plumbing: a subscription filter on a cluster's control-plane log group that
sends the audit log's writes to what the K8 rules read to the in-cluster guard (KubeGuardFunction)."""

from __future__ import annotations

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code

FILTER_NAME = "eksguard-k8s-audit"
_VERBS = " || ".join(f'($.verb = "{v}")' for v in ("create", "update", "patch", "delete", "deletecollection"))
_RESOURCES = " || ".join(f'($.objectRef.resource = "{r}")' for r in (
    "configmaps", "serviceaccounts", "namespaces", "networkpolicies", "globalnetworkpolicies"))
# Writes only, to the resources the K8 rules read (the guard narrows ConfigMaps to kube-system/aws-auth).
FILTER_PATTERN = f"{{ ({_VERBS}) && ({_RESOURCES}) }}"
MAX_FILTERS = 2  # CloudWatch Logs quota: subscription filters per log group


def log_group(cluster: str) -> str:
    return f"/aws/eks/{cluster}/cluster"


def ensure_audit_subscription(aws: Aws, region: str, cluster: str, destination_arn: str) -> str:
    """Subscribe the cluster's audit log to ``destination_arn``; returns what was done (never raises for a
    log group that does not exist yet or has no room: those are reported, and the next sweep tries again)."""
    logs = aws.client("logs", region)
    group = log_group(cluster)
    try:
        current = logs.describe_subscription_filters(logGroupName=group).get("subscriptionFilters", [])
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return "no control-plane log group yet"
        raise
    ours = [f for f in current if f.get("filterName") == FILTER_NAME]
    if any(f.get("destinationArn") == destination_arn and f.get("filterPattern") == FILTER_PATTERN for f in ours):
        return "subscribed"
    if not ours and len(current) >= MAX_FILTERS:
        return f"not subscribed: the log group already has {len(current)} subscription filters (the quota)"
    logs.put_subscription_filter(logGroupName=group, filterName=FILTER_NAME, filterPattern=FILTER_PATTERN,
                                 destinationArn=destination_arn)
    return "subscribed now"
