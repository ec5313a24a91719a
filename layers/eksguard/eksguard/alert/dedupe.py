"""Storm collapse, the pure part: which alerts may be folded into an open window, under which key,
and for how long. The atomic bookkeeping (a conditional write) is ``eksguard.aws.alert_window``.

A storm is one finding re-reported again and again: every event on a security group re-reads the
whole group, so in audit mode ten edits to one group re-alert its standing findings ten times. The
first alert for a key opens a window of ``AlertWindowSeconds``; later alerts for that key inside the
window are counted instead of sent, and the next message sent for the key says how many were.

Never collapsed: anything eksguard changed (revoked, rewrote-trust, ...), rolled back, or failed to
change. Each change must reach a human on its own.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace

from eksguard.alert.messages import AlertMessage
from eksguard.aws.alert_window import Window
from eksguard.model import ActionKind

# Only "nothing changed" messages may be collapsed: re-reports of a standing finding.
COLLAPSIBLE = frozenset({ActionKind.ALERT_ONLY, ActionKind.EXEMPT})
# How long a window's counter outlives the window, so a later message can still report it.
COUNTER_RETENTION_SECONDS = 7 * 24 * 3600
MAX_WINDOW_SECONDS = 86400


@dataclass(frozen=True)
class StormSettings:
    window_seconds: int = 300
    # The DynamoDB table holding window items (the template's IdempotencyTable); "" disables collapse.
    table: str = ""

    @property
    def enabled(self) -> bool:
        return self.window_seconds > 0 and bool(self.table)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StormSettings:
        env = os.environ if env is None else env
        raw = env.get("EKSGUARD_ALERT_WINDOW_SECONDS", "300").strip()
        if not raw.isdigit() or int(raw) > MAX_WINDOW_SECONDS:
            raise ValueError(f"EKSGUARD_ALERT_WINDOW_SECONDS must be 0-{MAX_WINDOW_SECONDS}, got {raw!r}")
        return cls(window_seconds=int(raw), table=env.get("EKSGUARD_IDEMPOTENCY_TABLE", ""))


# Every message goes out (the sweep has its own "new or changed" filter; the CLI's rollback has no table).
NO_STORM_WINDOW = StormSettings(window_seconds=0)


def storm_key(message: AlertMessage) -> str:
    """``alert#<resource_id>#<rule_id>``, narrowed by the finding's target when it has one, so that two
    different offending rules of one group (SG-002 on port 22 and on 3389) are never merged."""
    key = f"alert#{message.resource_id or message.resource_arn}#{message.rule_id}"
    target = message.target_id or _image_target(message)
    return f"{key}#{target}" if target else key


def _image_target(message: AlertMessage) -> str:
    # Publishers that predate target_id (the security-group guard) name the rule in the before-image.
    before = message.before or {}
    value = before.get("SecurityGroupRuleId")
    return value if isinstance(value, str) else ""


def window_for(message: AlertMessage, now: float, settings: StormSettings) -> Window:
    start = int(now)
    until = start + settings.window_seconds
    return Window(storm_key(message), start, until, until + COUNTER_RETENTION_SECONDS,
                  collapsible=message.action in COLLAPSIBLE)


def with_suppressed(message: AlertMessage, count: int) -> AlertMessage:
    """The message to send, carrying how many similar alerts were collapsed since the last one."""
    return replace(message, suppressed=count) if count > 0 else message
