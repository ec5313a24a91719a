"""One alert message per finding that was acted on or changed state. The schema is the contract
other tools rely on: every field of DESIGN section 6 is always present."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import MISSING as _MISSING
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from eksguard.config import Mode
from eksguard.model import ActionKind, Severity

CONTRACT_FIELDS = (
    "rule_id", "severity", "resource_id", "resource_arn", "account", "region", "mode", "action",
    "remediation_id", "event_id", "actor", "before", "after", "summary",
)
# What eksguard changed: each of these is alerted, never collapsed, and can be rolled back.
CHANGE_ACTIONS = frozenset({
    ActionKind.REVOKED, ActionKind.REWROTE_TRUST, ActionKind.ENABLED_LOGGING, ActionKind.RESTRICTED_ENDPOINT,
    ActionKind.NEW_LAUNCH_TEMPLATE_VERSION,
})
_TEXT_FIELDS = ("rule_id", "severity", "title", "resource_id", "resource_arn", "account", "region", "mode", "action",
                "remediation_id", "event_id", "actor", "time", "summary", "detail", "how_to_exempt", "target_id")
# Values copied from the event (account, region, actor, time) are only checked for presence: a check
# stricter than the event's own could stand between a change already made and its alert.
_NON_EMPTY = ("rule_id", "severity", "account", "region", "mode", "action", "summary")


class ContractError(ValueError):
    """A message that breaks the SNS contract (DESIGN section 6); the text lists every problem."""


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
    # The exact thing the finding is about (a security-group rule id, ...); narrows storm collapse.
    target_id: str = ""
    # Similar alerts collapsed since the previous message for the same resource and rule (storm window).
    suppressed: int = 0
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

    @property
    def changed(self) -> bool:
        """eksguard changed the resource (so the change can be rolled back)."""
        return self.action in CHANGE_ACTIONS

    def problems(self) -> list[str]:
        """Every way this message breaks the contract; empty when it keeps it."""
        out = [f"{name} must be a string, got {type(getattr(self, name)).__name__}"
               for name in _TEXT_FIELDS if not isinstance(getattr(self, name), str)]
        out += [f"{name} is required" for name in _NON_EMPTY
                if isinstance(getattr(self, name), str) and not getattr(self, name).strip()]
        if not (self.resource_id or self.resource_arn):
            out.append("resource_id or resource_arn is required")
        if self.action and self.action not in {a.value for a in ActionKind}:
            out.append(f"action {self.action!r} is not one of {', '.join(a.value for a in ActionKind)}")
        if self.severity and self.severity not in {s.label for s in Severity}:
            out.append(f"severity {self.severity!r} is not one of {', '.join(s.label for s in Severity)}")
        if self.mode and self.mode not in {m.value for m in Mode}:
            out.append(f"mode {self.mode!r} is not one of {', '.join(m.value for m in Mode)}")
        if self.changed and not self.remediation_id:
            out.append(f"remediation_id is required when the action is {self.action} (rollback needs it)")
        for name in ("before", "after"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), Mapping):
                out.append(f"{name} must be an object or null")
        if not isinstance(self.error, str | None):
            out.append("error must be a string or null")
        if not (isinstance(self.related_rules, tuple) and all(isinstance(r, str) for r in self.related_rules)):
            out.append("related_rules must be a list of rule ids")
        if isinstance(self.suppressed, bool) or not isinstance(self.suppressed, int) or self.suppressed < 0:
            out.append("suppressed must be a non-negative integer")
        return out

    def validate(self) -> AlertMessage:
        """Raise ContractError unless the message keeps the contract; returns itself to chain."""
        if problems := self.problems():
            raise ContractError(f"alert {self.rule_id!r} on {self.resource_id!r} breaks the SNS contract: "
                                + "; ".join(problems))
        return self

    @classmethod
    def from_json(cls, text: str | bytes) -> AlertMessage:
        """Parse and validate an SNS message body; ContractError says exactly what is wrong."""
        try:
            body = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ContractError(f"the alert is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ContractError(f"the alert must be a JSON object, got {type(body).__name__}")
        return cls.from_dict(body)

    @classmethod
    def from_dict(cls, body: Mapping[str, Any]) -> AlertMessage:
        required = [f.name for f in fields(cls) if f.default is _MISSING and f.default_factory is _MISSING]
        if missing := [name for name in required if name not in body]:
            raise ContractError(f"the alert lacks required field(s): {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        # Unknown keys are tolerated: a newer publisher may add fields ("at least" in the contract).
        values = {k: v for k, v in body.items() if k in known}
        related = values.get("related_rules", ())
        if isinstance(related, list):
            values["related_rules"] = tuple(related)
        if not isinstance(values.get("extra", {}), Mapping):
            raise ContractError("extra must be an object")
        return cls(**values).validate()
