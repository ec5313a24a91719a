"""Types shared by every stage of the pipeline. All frozen: stages hand values on, never mutate them."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum, StrEnum
from typing import Any


class Severity(IntEnum):
    """Ordered so that ``max()`` picks the worst."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, raw: str) -> Severity:
        try:
            return cls[raw.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {raw!r}; use one of {[s.label for s in cls]}") from None


class ActionKind(StrEnum):
    """The ``action`` field of the SNS contract (DESIGN section 6)."""

    REVOKED = "revoked"
    REWROTE_TRUST = "rewrote-trust"
    ENABLED_LOGGING = "enabled-logging"
    RESTRICTED_ENDPOINT = "restricted-endpoint"
    NEW_LAUNCH_TEMPLATE_VERSION = "new-launch-template-version"
    ROLLED_BACK = "rolled-back"
    ALERT_ONLY = "alert-only"
    EXEMPT = "exempt"
    FAILED = "failed"


@dataclass(frozen=True)
class EventContext:
    """Who did what, where and when: the part of a CloudTrail event every stage needs."""

    event_id: str
    event_name: str
    source: str
    account: str
    region: str
    time: str
    actor: str
    session_issuer_arn: str | None = None
    invoked_by: str | None = None
    # The account's partition (aws, aws-cn, aws-us-gov): every ARN eksguard builds uses it.
    partition: str = "aws"


@dataclass(frozen=True)
class Finding:
    """A rule's verdict on one resource (or one rule of a security group)."""

    rule_id: str
    severity: Severity
    title: str
    resource_id: str
    detail: str
    # The exact thing the finding is about, as AWS describes it (a security-group rule id, ...).
    target_id: str | None = None
    remediable: bool = False
    evidence: tuple[tuple[str, Any], ...] = field(default=())
