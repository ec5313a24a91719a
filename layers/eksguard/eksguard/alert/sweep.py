"""The one summary message each sweep sends (rule_id SWEEP): counts by rule and severity in ``extra``."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from eksguard.alert.messages import AlertMessage
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext, Severity


def summary_message(ctx: EventContext, config: Config, counts: Mapping[str, Any]) -> AlertMessage:
    worst = max((Severity.parse(s) for s in counts["by_severity"]), default=Severity.INFO)
    by_sev = ", ".join(f"{n} {s}" for s, n in counts["by_severity"].items()) or "none"
    by_rule = ", ".join(f"{r} {n}" for r, n in counts["by_rule"].items()) or "none"
    return AlertMessage(
        rule_id="SWEEP", severity=worst.label, title=f"eksguard sweep of {ctx.region}",
        resource_id=f"sweep:{ctx.region}", resource_arn="", account=ctx.account, region=ctx.region,
        mode=config.mode.value, action=ActionKind.ALERT_ONLY.value, remediation_id="", event_id=ctx.event_id,
        actor=ctx.actor, time=ctx.time, before=None, after=None,
        summary=f"Sweep of {ctx.region}: {counts['open']} open finding(s) ({by_sev}); by rule: {by_rule}; "
                f"{counts['new']} new, {counts['changed']} changed, {counts['remediated']} remediated, "
                f"{counts['failed']} failed, {counts['resolved_since_last_sweep']} resolved since the last sweep.",
        detail=json.dumps(counts, sort_keys=True),
        target_id=ctx.event_id,
        extra=dict(counts),
    )

