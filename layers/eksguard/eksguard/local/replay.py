"""Route events through the template's own EventBridge patterns, exactly as EventBridge would,
and invoke every function whose rule matches."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.local.invoke import Invocation, LocalApp, invoke
from eksguard.local.patterns import matches


@dataclass(frozen=True)
class Delivery:
    rule: str
    invocation: Invocation


@dataclass(frozen=True)
class Routed:
    name: str
    deliveries: tuple[Delivery, ...]

    @property
    def matched(self) -> bool:
        return bool(self.deliveries)


def matching_rules(app: LocalApp, event: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(function logical id, rule name) for every deployed rule whose pattern matches."""
    hits = []
    for logical_id, spec in sorted(app.functions.items()):
        if not spec.deployed:
            continue
        for rule in spec.event_rules:
            if rule.pattern is not None and rule.enabled and matches(rule.pattern, event):
                hits.append((logical_id, rule.name))
    return hits


def replay(app: LocalApp, name: str, event: Mapping[str, Any]) -> Routed:
    deliveries = tuple(
        Delivery(f"{fn}.{rule}", invoke(app, fn, event)) for fn, rule in matching_rules(app, event)
    )
    return Routed(name, deliveries)
