"""Each EKS cluster's current OIDC issuer, per region (ListClusters + DescribeCluster).

The IRSA guard runs where IAM events arrive (us-east-1) but clusters live in every region: the region
to read comes from the issuer host a trust policy names (``oidc.eks.<region>.amazonaws.com``).
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.snapshot.irsa import ClusterIssuer, eks_issuer

NOT_FOUND = "ResourceNotFoundException"


def read_cluster_issuer(aws: Aws, region: str, name: str) -> ClusterIssuer | None:
    try:
        raw = aws.client("eks", region).describe_cluster(name=name)["cluster"]
    except ClientError as exc:
        if error_code(exc) == NOT_FOUND:  # deleted between ListClusters and now
            return None
        raise
    issuer = ((raw.get("identity") or {}).get("oidc") or {}).get("issuer")
    return ClusterIssuer(raw["name"], region, raw.get("arn", ""), eks_issuer(issuer) if issuer else None,
                         raw.get("endpoint"), (raw.get("certificateAuthority") or {}).get("data"))


def read_cluster_issuers(aws: Aws, region: str) -> tuple[ClusterIssuer, ...]:
    """Every cluster of the region with its issuer. Errors propagate: a region that cannot be read is
    not judged (the caller leaves it out of the snapshot's regions), never taken as "no clusters"."""
    pages = aws.client("eks", region).get_paginator("list_clusters").paginate()
    names = [n for page in pages for n in page.get("clusters", [])]
    found = (read_cluster_issuer(aws, region, name) for name in names)
    return tuple(c for c in found if c is not None)
