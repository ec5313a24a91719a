"""One alert message per finding that was acted on or changed state. The schema is the contract
other tools rely on: every field of DESIGN section 6 is always present."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

CONTRACT_FIELDS = (
    "rule_id", "severity", "resource_id", "resource_arn", "account", "region", "mode", "action",
    "remediation_id", "event_id", "actor", "before", "after", "summary",
)


@dataclass(frozen=True)
class AlertMessage:
    rule_id: str
    severity: str
    title: str
    resource_id: str
    resource_arn: str
    account: str
    region: str
    mode: str
    action: str
    remediation_id: str
    event_id: str
    actor: str
    time: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    summary: str
    detail: str = ""
    related_rules: tuple[str, ...] = ()
    error: str | None = None
    how_to_exempt: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"[eksguard] {self.severity.upper()} {self.rule_id} {self.action}: {self.resource_id}"

    def to_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["related_rules"] = list(self.related_rules)
        body["before"] = dict(self.before) if self.before is not None else None
        body["after"] = dict(self.after) if self.after is not None else None
        return body

    def attributes(self) -> dict[str, str]:
        return {"severity": self.severity, "rule_id": self.rule_id, "action": self.action}


def security_group_arn(region: str, account: str, group_id: str, partition: str = "aws") -> str:
    return f"arn:{partition}:ec2:{region}:{account}:security-group/{group_id}"
