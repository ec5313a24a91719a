"""Build an ``IrsaSnapshot`` for a set of roles: the clusters of every region their issuers name, the
issuer history of those regions' clusters (only when a stale issuer needs a successor), and the OIDC
providers the trusts and their successors reference. The same reader serves one event's roles and,
with every role of the account, the sweep."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace

from botocore.exceptions import ClientError

from eksguard.aws import iam, kube
from eksguard.aws.audit import AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.aws.eks_issuers import read_cluster_issuers
from eksguard.snapshot.irsa import (
    ClusterIssuer,
    IrsaSnapshot,
    IssuerSeen,
    Role,
    TrustPolicyError,
    eks_issuer,
    issuer_region,
    parse_trust,
    provider_arn,
    provider_issuer,
    referenced_regions,
    successor,
)

log = logging.getLogger(__name__)


def read_snapshot(aws: Aws, roles: Sequence[Role], account: str, audit: AuditStore | None,
                  partition: str = "aws", known: Mapping[str, tuple[ClusterIssuer, ...]] | None = None,
                  extra_providers: Iterable[str] = (),
                  service_accounts: bool = False) -> tuple[IrsaSnapshot, dict[str, str]]:
    """The snapshot, and the regions whose clusters could not be read (region -> error code): issuers
    there are not judged stale or live, rather than guessed. With ``service_accounts``, the ServiceAccounts of
    the live clusters whose roles have no exact sub and no tag are read too (DESIGN section 5, third source)."""
    known = dict(known or {})
    clusters: list[ClusterIssuer] = []
    unreadable: dict[str, str] = {}
    for region in sorted(referenced_regions(roles) | set(known)):
        try:
            found = known[region] if region in known else read_cluster_issuers(aws, region)
        except ClientError as exc:
            unreadable[region] = error_code(exc)
            continue
        known[region] = found
        clusters += found
    snap = IrsaSnapshot(tuple(roles), account, partition, {}, tuple(clusters), frozenset(known))
    stale_regions = {issuer_region(i) for i in _stale(snap)}
    snap = replace(snap, history=tuple(_history(audit, [c for c in clusters if c.region in stale_regions])))
    arns = [a for r in roles for s in r.trust.irsa_statements for a in s.provider_arns]
    for role in roles:
        for stale in (i for s in role.trust.irsa_statements for i in s.eks_issuers if i in _stale(snap)):
            cluster, _ = successor(role, stale, snap)
            if cluster is not None and cluster.issuer:
                arns.append(provider_arn(account, cluster.issuer, partition))
    snap = replace(snap, providers=iam.providers(aws, [*arns, *extra_providers]))
    if service_accounts:
        snap = replace(snap, annotated=_annotations(aws, snap))
    return snap, unreadable


def _annotations(aws: Aws, snap: IrsaSnapshot) -> dict[tuple[str, str], tuple[str, ...]]:
    """(issuer, role ARN) -> subs of the ServiceAccounts annotated with the role, for every role the trust and the
    tag leave without a service account, read from its live cluster (read once; an unreadable one is left out)."""
    wanted: dict[str, list[Role]] = {}
    for role in snap.roles:
        for stmt in role.trust.irsa_statements:
            for issuer in stmt.eks_issuers:
                if not role.known_subs(issuer)[0] and snap.live_cluster(issuer) is not None:
                    wanted.setdefault(issuer.lower(), []).append(role)
    out: dict[tuple[str, str], tuple[str, ...]] = {}
    for issuer, roles in wanted.items():
        cluster = snap.live_cluster(issuer)
        assert cluster is not None
        read = kube.read_cluster(aws, kube.ClusterEndpoint(cluster.name, cluster.region, cluster.endpoint,
                                                           cluster.ca_data))
        if read.service_accounts is None:
            log.warning("ServiceAccounts of %s not read: %s", cluster.name, read.error or read.gaps)
            continue
        for role in roles:
            out[(issuer, role.arn.lower())] = tuple(sa.sub for sa in read.service_accounts
                                                    if (sa.role_arn or "").lower() == role.arn.lower())
    return out


def _stale(snap: IrsaSnapshot) -> set[str]:
    return {i for r in snap.roles for s in r.trust.irsa_statements for i in s.eks_issuers
            if issuer_region(i) in snap.regions and snap.live_cluster(i) is None}


def _history(audit: AuditStore | None, clusters: Iterable[ClusterIssuer]) -> Iterator[IssuerSeen]:
    if audit is None:
        return
    for cluster in clusters:
        for item in audit.cluster_issuers(cluster.region, cluster.name):
            issuer = eks_issuer(str(item.get("issuer", "")))
            if issuer:
                yield IssuerSeen(cluster.name, cluster.region, issuer)


def observe(audit: AuditStore | None, snap: IrsaSnapshot, event_id: str, time: str) -> int:
    """Record (cluster, issuer) for every live issuer the snapshot's trusts name, so a later re-creation
    of that cluster finds these roles. Best effort: history helps later refreshes but never decides
    whether a trust is compliant, so a failed write is logged and the event carries on."""
    if audit is None:
        return 0
    live = {c for r in snap.roles for s in r.trust.irsa_statements for i in s.eks_issuers
            if (c := snap.live_cluster(i)) is not None}
    recorded = 0
    for cluster in sorted(live, key=lambda c: (c.region, c.name)):
        recorded += record(audit, cluster, event_id, time)
    return recorded


def record(audit: AuditStore, cluster: ClusterIssuer, event_id: str, time: str) -> bool:
    if not cluster.issuer:
        return False
    try:
        # The URL form DescribeCluster returns, as the cluster guard and the sweep record it.
        return audit.record_cluster_issuer(cluster.region, cluster.name, f"https://{cluster.issuer}", cluster.arn,
                                           time, event_id)
    except AuditWriteError as exc:
        log.warning("issuer history not recorded for %s: %s", cluster.name, exc)
        return False


def roles_trusting(aws: Aws, wanted: Iterable[str] = (), region: str | None = None,
                   live: Iterable[str] = ()) -> list[Role]:
    """Re-read (GetRole: trust and tags) every role whose trust names one of the ``wanted`` issuers or
    provider ARNs, or — with ``region`` — an EKS issuer of that region other than the ``live`` ones.
    One ListRoles scan, then GetRole per candidate only."""
    keys = {w.lower() for w in wanted}
    current = {i.lower() for i in live}
    out = []
    for raw in iam.list_roles(aws):
        try:
            trust = parse_trust(raw["AssumeRolePolicyDocument"])
        except TrustPolicyError as exc:  # IAM accepted it, so it is no IRSA trust this reader knows
            log.warning("role %s skipped: %s", raw["RoleName"], exc)
            continue
        hit = False
        for stmt in trust.irsa_statements:
            for arn in stmt.provider_arns:
                issuer = provider_issuer(arn) or ""
                stale_here = issuer_region(issuer) == region and issuer.lower() not in current
                hit |= arn.lower() in keys or issuer.lower() in keys or stale_here
        if hit and (role := iam.read_role(aws, raw["RoleName"])) is not None:
            out.append(role)
    return out
