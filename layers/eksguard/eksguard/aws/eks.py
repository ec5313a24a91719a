"""EKS reads (paged) that build the cluster-posture snapshot, and the writes: UpdateClusterConfig, and
DisassociateAccessPolicy (EK-006) with what its rollback needs (AssociateAccessPolicy, the access entry's tag)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.snapshot.eks import CLUSTER_ADMIN_POLICY, AccessGrant, ClusterPosture, NodeGroupRef

NOT_FOUND = "ResourceNotFoundException"


def list_cluster_names(aws: Aws, region: str) -> list[str]:
    pages = aws.client("eks", region).get_paginator("list_clusters").paginate()
    return [name for page in pages for name in page.get("clusters", [])]


def read_cluster(aws: Aws, region: str, name: str, grants: bool = False,
                 principal: str | None = None) -> ClusterPosture | None:
    """The cluster as DescribeCluster reports it, or None when it no longer exists. With ``grants``,
    also its cluster-admin-relevant access grants (all principals, or only ``principal``)."""
    eks = aws.client("eks", region)
    try:
        raw = eks.describe_cluster(name=name)["cluster"]
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise
    posture = to_posture(raw)
    if grants and posture.auth_mode != "CONFIG_MAP":
        # ListAccessEntries is refused for CONFIG_MAP clusters: they cannot have access entries.
        posture = replace(posture, grants=read_grants(eks, name, principal))
    return posture


def to_posture(raw: Mapping[str, Any]) -> ClusterPosture:
    vpc = raw.get("resourcesVpcConfig") or {}
    logging = raw.get("logging") or {}
    enabled = {t for entry in logging.get("clusterLogging", []) if entry.get("enabled") for t in entry.get("types", [])}
    key = next((e.get("provider", {}).get("keyArn") for e in raw.get("encryptionConfig") or []
                if "secrets" in e.get("resources", []) and e.get("provider", {}).get("keyArn")), None)
    access = raw.get("accessConfig") or {}
    return ClusterPosture(
        name=raw["name"],
        arn=raw.get("arn", ""),
        endpoint_public=bool(vpc.get("endpointPublicAccess", True)),
        endpoint_private=bool(vpc.get("endpointPrivateAccess", False)),
        public_cidrs=tuple(vpc.get("publicAccessCidrs") or ()),
        logging_enabled=frozenset(enabled),
        secrets_key_arn=key,
        # No accessConfig: a cluster from before access entries, authenticated by aws-auth alone.
        auth_mode=str(access.get("authenticationMode") or "CONFIG_MAP"),
        tags=dict(raw.get("tags") or {}),
        issuer=((raw.get("identity") or {}).get("oidc") or {}).get("issuer"),
        status=str(raw.get("status", "ACTIVE")),
        vpc_image={k: vpc[k] for k in ("endpointPublicAccess", "endpointPrivateAccess", "publicAccessCidrs")
                   if k in vpc},
        logging_image=dict(logging),
        endpoint=raw.get("endpoint"),
        ca_data=(raw.get("certificateAuthority") or {}).get("data"),
    )


def read_grants(eks: Any, cluster: str, principal: str | None = None) -> tuple[AccessGrant, ...]:
    principals = [principal] if principal else [
        arn for page in eks.get_paginator("list_access_entries").paginate(clusterName=cluster)
        for arn in page.get("accessEntries", [])]
    grants: list[AccessGrant] = []
    for arn in principals:
        try:
            policies = _associated(eks, cluster, arn)
            admin = any(p["policyArn"].rsplit("/", 1)[-1] == CLUSTER_ADMIN_POLICY for p in policies)
            # The entry itself (ARN, tags) only where EK-006 may act: one more call per cluster admin, not per entry.
            entry = eks.describe_access_entry(clusterName=cluster, principalArn=arn)["accessEntry"] if admin else {}
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:  # the entry was deleted since: it grants nothing
                continue
            raise
        for policy in policies:
            scope = policy.get("accessScope") or {}
            grants.append(AccessGrant(arn, policy["policyArn"], str(scope.get("type", "cluster")),
                                      tuple(scope.get("namespaces") or ()), str(entry.get("accessEntryArn", "")),
                                      dict(entry.get("tags") or {}), policy))
    return tuple(grants)


def _associated(eks: Any, cluster: str, principal: str) -> list[dict[str, Any]]:
    pages = eks.get_paginator("list_associated_access_policies").paginate(clusterName=cluster, principalArn=principal)
    return [_json_safe(p) for page in pages for p in page.get("associatedAccessPolicies", [])]


def _json_safe(raw: Mapping[str, Any]) -> dict[str, Any]:
    """botocore parses associatedAt/modifiedAt into datetimes; images are stored and alerted as JSON."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in raw.items()}


def read_node_groups(aws: Aws, region: str, clusters: Iterable[str]) -> list[NodeGroupRef]:
    """Managed node groups that launch from a launch template of the customer's."""
    eks = aws.client("eks", region)
    refs: list[NodeGroupRef] = []
    for cluster in clusters:
        try:
            pages = list(eks.get_paginator("list_nodegroups").paginate(clusterName=cluster))
        except ClientError as exc:
            if error_code(exc) == NOT_FOUND:
                continue
            raise
        for name in (n for page in pages for n in page.get("nodegroups", [])):
            ng = eks.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            lt = ng.get("launchTemplate") or {}
            if lt.get("id"):
                refs.append(NodeGroupRef(cluster, name, lt["id"], str(lt.get("version") or "$Default")))
    return refs


def update_endpoint(aws: Aws, region: str, cluster: str, vpc_request: Mapping[str, Any]) -> dict[str, Any]:
    response = aws.client("eks", region).update_cluster_config(name=cluster, resourcesVpcConfig=dict(vpc_request))
    return _update_image(response)


def update_logging(aws: Aws, region: str, cluster: str, logging_request: Mapping[str, Any]) -> dict[str, Any]:
    response = aws.client("eks", region).update_cluster_config(name=cluster, logging=dict(logging_request))
    return _update_image(response)


def _update_image(response: Mapping[str, Any]) -> dict[str, Any]:
    update = response.get("update") or {}
    return {"updateId": update.get("id"), "status": update.get("status"), "type": update.get("type")}


# -- Access policies (EK-006) and their rollback --------------------------------------------------------------

def disassociate_policy(aws: Aws, region: str, cluster: str, principal: str, policy_arn: str) -> None:
    """Raises ClientError ResourceNotFoundException when the association (or its entry, or the cluster) is gone."""
    aws.client("eks", region).disassociate_access_policy(clusterName=cluster, principalArn=principal,
                                                         policyArn=policy_arn)


def associate_policy(aws: Aws, region: str, cluster: str, principal: str, policy_arn: str,
                     scope: Mapping[str, Any]) -> dict[str, Any]:
    response = aws.client("eks", region).associate_access_policy(
        clusterName=cluster, principalArn=principal, policyArn=policy_arn, accessScope=dict(scope))
    return _json_safe(response.get("associatedAccessPolicy") or {})


def read_access_entry(aws: Aws, region: str, cluster: str, principal: str) -> dict[str, Any] | None:
    """The access entry (with its tags), or None when it (or its cluster) no longer exists."""
    try:
        entry = aws.client("eks", region).describe_access_entry(clusterName=cluster, principalArn=principal)
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:
            return None
        raise
    return _json_safe(entry["accessEntry"])


def read_associated_policies(aws: Aws, region: str, cluster: str, principal: str) -> list[dict[str, Any]]:
    return _associated(aws.client("eks", region), cluster, principal)


def tag_resource(aws: Aws, region: str, resource_arn: str, key: str, value: str) -> None:
    aws.client("eks", region).tag_resource(resourceArn=resource_arn, tags={key: value})


def untag_resource(aws: Aws, region: str, resource_arn: str, key: str) -> None:
    aws.client("eks", region).untag_resource(resourceArn=resource_arn, tagKeys=[key])
