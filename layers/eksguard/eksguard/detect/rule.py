"""One rule spec for every family, as data next to its check (DESIGN section 2): the catalog
(``detect/catalog.py``) is the tuple of every family's ``RULES``, and the guards' event routing, the
planners' dispatch, ``docs/rules.md`` and ``eksguard rules`` are derived from it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from eksguard.model import ActionKind, Finding, Severity


class Family(StrEnum):
    SECURITY_GROUP = "security-group"
    CLUSTER = "cluster"
    CLOUDTRAIL = "cloudtrail"
    IRSA = "irsa"
    IAM = "iam"
    KUBERNETES = "kubernetes"


# IAM is global: these families are read once per account and reported under the region "global".
GLOBAL_FAMILIES = frozenset({Family.IRSA, Family.IAM})


@dataclass(frozen=True)
class Rule:
    rule_id: str
    title: str
    severity: Severity
    check: Callable[..., Iterator[Finding]]  # the family's signature: see that family's ``detect``
    family: Family
    resource_type: str  # what ``Finding.resource_id`` names: security-group, eks-cluster, iam-role, ...
    # CloudTrail (or Kubernetes audit) events after which a guard re-checks the rule; the sweep runs every rule.
    events: tuple[str, ...] = ()
    # What enforce mode may do about a finding (None: alert only, in any mode).
    action: ActionKind | None = None
    parameters: tuple[str, ...] = ()  # template parameters the rule reads
    references: tuple[str, ...] = ()  # CIS Amazon EKS Benchmark, AWS FSBP controls, EKS Best Practices

    def to_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "title": self.title, "severity": self.severity.label,
                "family": self.family.value, "resource_type": self.resource_type, "events": list(self.events),
                "action": self.action.value if self.action else None, "parameters": list(self.parameters),
                "references": list(self.references)}
