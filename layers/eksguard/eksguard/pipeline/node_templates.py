"""Which launch templates are node templates (DESIGN section 3), chosen in one place for the scan, the sweep and the
guards, so they judge the same templates.

Its own module, not part of ``pipeline.posture``: the cluster guard needs the choice but none of the posture
engine's Kubernetes and IRSA reads, so it does not import them (nor ship the KubernetesLayer).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from eksguard.aws import ec2
from eksguard.aws import launch_templates as lt_api
from eksguard.aws.clients import Aws
from eksguard.config import Config, Scope
from eksguard.snapshot.eks import NodeGroupRef, NodeTemplate
from eksguard.snapshot.sg import GroupRole

NODE_GROUP_ROLES = frozenset({GroupRole.CLUSTER, GroupRole.NODE})


def node_templates(aws: Aws, region: str, config: Config, refs: Sequence[NodeGroupRef],
                   node_sgs: Collection[str] | None = None, ids: Collection[str] | None = None,
                   extra_versions: Mapping[str, Iterable[int]] | None = None) -> tuple[NodeTemplate, ...]:
    """The region's node launch templates (DESIGN section 3), or those among ``ids``: a template is one when a node
    group uses it (``refs``: the node groups of every cluster), when its default or latest version carries a node
    or cluster security group, when it is tagged for a cluster (EKS's own copy aside), or, with Scope=all, always.
    ``node_sgs``: the region's node and cluster groups when the caller read them; None: the groups the templates
    carry are classified here, as the region's snapshot classifies them. The scan, the sweep and the guards all
    choose them here, so they judge the same templates."""
    every = lt_api.describe_templates(aws, region, ids=ids or (), everything=ids is None)
    if not every:
        return ()
    carried = lt_api.template_groups(aws, region, None if ids is None else list(every))
    if node_sgs is None:
        wanted = {g for groups in carried.values() for g in groups}
        node_sgs = {g.group_id for g in ec2.read_groups(aws, region, wanted) if g.roles & NODE_GROUP_ROLES}
    used = {r.template_id for r in refs}
    chosen = {i: lt for i, lt in every.items()
              if i in used or carried.get(i, frozenset()) & set(node_sgs) or config.scope is Scope.ALL
              or _tagged_customer_template(lt)}
    return lt_api.read_node_templates(aws, region, refs, chosen, extra_versions)


def _tagged_customer_template(lt: Mapping[str, Any]) -> bool:
    tags = {t["Key"]: t.get("Value", "") for t in lt.get("Tags", [])}
    # EKS's own copy of a node group's template carries eks:nodegroup-name; the customer's is the one to check.
    return lt_api.is_node_tagged(tags) and lt_api.EKS_OWNED_TAG not in tags
