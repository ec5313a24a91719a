"""The Kubernetes half of a region's posture (DESIGN section 9): each cluster's API read read-only
(``aws.kube``), paired with what the K8 rules need from the account side (``K8Inputs``): IAM role and user
names, the IRSA roles, the cluster's issuer, and why its nodes let pods reach IMDS (EK-004's reasons)."""

from __future__ import annotations

from eksguard.aws.clients import Aws
from eksguard.aws.iam_account import AccountIam
from eksguard.aws.launch_templates import cluster_of
from eksguard.config_eks import EksConfig
from eksguard.detect.k8s import K8Inputs
from eksguard.snapshot.eks import ClusterPosture, EksSnapshot
from eksguard.snapshot.irsa import eks_issuer
from eksguard.snapshot.k8s import ClusterK8sSnapshot

K8sPosture = tuple[tuple[ClusterK8sSnapshot, K8Inputs], ...]


def read_kubernetes(aws: Aws, region: str, eks: EksSnapshot, iam: AccountIam | None, account: str,
                    config: EksConfig) -> K8sPosture:
    """Every cluster of the region (ACTIVE ones: a creating cluster has no API yet), read and paired with its
    inputs. ``iam`` None: the IAM side was not read, so the rules needing it (K8-002, K8-004) stay silent."""
    from eksguard.aws import kube  # lightkube, imported only when a cluster is read (cold start)

    out = []
    for cluster in (c for c in eks.clusters if c.status == "ACTIVE"):
        snap = kube.read_cluster(aws, kube.ClusterEndpoint(cluster.name, region, cluster.endpoint, cluster.ca_data))
        out.append((snap, inputs(cluster, eks, iam, account, config)))
    return tuple(out)


def inputs(cluster: ClusterPosture, eks: EksSnapshot, iam: AccountIam | None, account: str,
           config: EksConfig) -> K8Inputs:
    return K8Inputs(
        account=account,
        role_names=iam.role_names if iam is not None else None,
        user_names=iam.user_names if iam is not None else None,
        node_imds_open=imds_open(eks, cluster.name),
        imds_allowed_namespaces=config.imds_allowed_namespaces,
        issuer=eks_issuer(cluster.issuer) if cluster.issuer else None,
        irsa_roles=iam.irsa_roles if iam is not None else None,
    )


def imds_open(eks: EksSnapshot, cluster: str) -> tuple[str, ...]:
    """Why nodes of ``cluster`` may let pods reach IMDS: EK-004's problems of the launch templates its node groups
    use (any version) or that are tagged for it, of templates no cluster can be told for (they may launch its
    nodes), and of its running nodes."""
    reasons: list[str] = []
    # A template belongs to the clusters whose node groups use any of its versions (a new version no node group
    # uses yet is the next one theirs roll to), or to the cluster it is tagged for.
    owners: dict[str, set[str]] = {}
    for t in eks.templates:
        tagged = cluster_of(t.tags)
        owners.setdefault(t.template_id, set()).update(n.cluster for n in t.node_groups)
        owners[t.template_id].update({tagged} if tagged else ())
    for t in eks.templates:
        users = owners[t.template_id]
        if (not users or cluster in users) and (problems := t.metadata.problems()):
            reasons.append(f"launch template {t.template_name} v{t.version}: {'; '.join(problems)}")
    for i in eks.instances:
        if i.cluster == cluster and (problems := i.metadata.problems()):
            reasons.append(f"node {i.instance_id}: {'; '.join(problems)}")
    return tuple(reasons)
