"""What a guard returns: a JSON-able summary for logs, `eksguard local` and tests."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class ActionSummary:
    rule_id: str
    severity: str
    resource_id: str
    target_id: str | None
    action: str
    status: str
    detail: str
    related_rules: tuple[str, ...] = ()
    error: str | None = None


@dataclass(frozen=True)
class GuardResult:
    status: str  # processed | skipped | rejected
    event_id: str | None = None
    event_name: str | None = None
    reason: str | None = None
    findings: int = 0
    actions: tuple[ActionSummary, ...] = ()
    alerts_sent: int = 0
    out_of_scope: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        # Through JSON once, so the live response equals the one the idempotency store replays.
        return json.loads(json.dumps(asdict(self), default=str))
