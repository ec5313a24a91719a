"""Which launch templates speak for a cluster's nodes in K8-003 (pipeline.kubernetes.imds_open)."""

from __future__ import annotations

from eksguard.pipeline.kubernetes import imds_open
from eksguard.snapshot.eks import EksSnapshot, MetadataOptions, NodeGroupRef, NodeTemplate

LOCKED = MetadataOptions("required", 1, "enabled")
HOP_2 = MetadataOptions("required", 2, "enabled")


def template(tid: str, version: int, metadata: MetadataOptions, *users: str,
             tags: dict[str, str] | None = None) -> NodeTemplate:
    refs = tuple(NodeGroupRef(c, f"{c}-ng", tid, str(version)) for c in users)
    return NodeTemplate(tid, f"{tid}-name", version, version == 1, metadata, refs, tags or {})


def test_a_new_version_no_node_group_uses_yet_belongs_to_the_clusters_of_its_template() -> None:
    eks = EksSnapshot(templates=(template("lt-demo", 1, LOCKED, "demo"), template("lt-demo", 2, HOP_2)))
    assert imds_open(eks, "demo") and not imds_open(eks, "legacy")


def test_a_tagged_template_speaks_for_its_cluster_only() -> None:
    eks = EksSnapshot(templates=(template("lt-x", 1, HOP_2, tags={"eks:cluster-name": "payments"}),))
    assert imds_open(eks, "payments") and not imds_open(eks, "demo")


def test_a_template_no_cluster_can_be_told_for_counts_for_every_cluster() -> None:
    eks = EksSnapshot(templates=(template("lt-orphan", 3, HOP_2),))
    assert imds_open(eks, "demo") and imds_open(eks, "legacy")


def test_locked_down_templates_give_no_reason() -> None:
    eks = EksSnapshot(templates=(template("lt-demo", 1, LOCKED, "demo"), template("lt-orphan", 1, LOCKED)))
    assert imds_open(eks, "demo") == () == imds_open(eks, "legacy")
