"""The rule catalog and the one detection engine every door goes through.

``CATALOG`` is the explicit tuple of every family's rules; ``evaluate`` runs them over a ``Posture``. The
scan and the sweep fill a whole region's posture (and, once per account, the global IAM side); a guard
fills only what its event names and asks only for ``rules_for(event)``. Same snapshots, same rules, so
the three agree finding for finding."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect import eks, iam_policy, irsa, k8s, sg
from eksguard.detect.rule import GLOBAL_FAMILIES, Family, Rule
from eksguard.model import Finding
from eksguard.snapshot.eks import EksSnapshot
from eksguard.snapshot.iam_policy import IamPostureSnapshot
from eksguard.snapshot.irsa import IrsaSnapshot
from eksguard.snapshot.k8s import ClusterK8sSnapshot
from eksguard.snapshot.sg import SgSnapshot

CATALOG: tuple[Rule, ...] = (*sg.RULES, *eks.RULES, *irsa.RULES, *iam_policy.RULES, *k8s.RULES)
BY_ID: Mapping[str, Rule] = {r.rule_id: r for r in CATALOG}


def rule(rule_id: str) -> Rule:
    return BY_ID[rule_id]


def rules_for(event_name: str, families: Collection[Family] | None = None) -> frozenset[str]:
    """Ids of the rules an event re-checks (of the given families): what a guard evaluates."""
    return frozenset(r.rule_id for r in CATALOG
                     if event_name in r.events and (families is None or r.family in families))


def events_of(families: Collection[Family]) -> frozenset[str]:
    """Every event that re-checks a rule of these families: what a guard's EventBridge rule must match."""
    return frozenset(e for r in CATALOG if r.family in families for e in r.events)


def is_global(rule_id: str) -> bool:
    return BY_ID[rule_id].family in GLOBAL_FAMILIES


@dataclass(frozen=True)
class Posture:
    """What the rules look at. None: not read here (its rules yield nothing), never "clean"."""

    sg: SgSnapshot | None = None
    eks: EksSnapshot | None = None
    irsa: IrsaSnapshot | None = None
    iam: IamPostureSnapshot | None = None
    k8s: tuple[tuple[ClusterK8sSnapshot, k8s.K8Inputs], ...] | None = field(default=None, compare=False)


def evaluate(posture: Posture, config: Config, eks_config: EksConfig,
             only: Collection[str] | None = None) -> list[Finding]:
    """Every rule of the catalog (or those in ``only``) over what the posture holds, in catalog order."""
    found: list[Finding] = []
    if posture.sg is not None:
        found += sg.detect(posture.sg, config, only)
    if posture.eks is not None:
        found += eks.detect(posture.eks, eks_config, only)
    if posture.irsa is not None:
        found += irsa.detect(posture.irsa, only)
    if posture.iam is not None:
        found += iam_policy.detect(posture.iam, only)
    for cluster, inputs in posture.k8s or ():
        found += k8s.detect(cluster, inputs, only)
    return found
