"""The alert a rollback sends (rolled-back, or failed), whatever it restored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eksguard.alert.messages import AlertMessage
from eksguard.model import ActionKind


def rollback_message(record: Mapping[str, Any], rollback_id: str, status: str, error: str | None,
                     before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, actor: str, time: str,
                     note: str) -> AlertMessage:
    failed = status != "rolled-back"
    return AlertMessage(
        rule_id=str(record.get("rule_id", "")), severity="medium" if failed else "info",
        title="Remediation rolled back" if not failed else "Rollback failed",
        resource_id=str(record.get("resource_id", "")), resource_arn=str(record.get("resource_arn", "")),
        account=str(record.get("account", "")), region=str(record.get("region", "")),
        mode=str(record.get("mode", "enforce")),
        action=(ActionKind.FAILED if failed else ActionKind.ROLLED_BACK).value, remediation_id=rollback_id,
        event_id=str(record.get("event_id", "")), actor=actor, time=time, before=before, after=after,
        summary=f"Rollback of remediation {record.get('remediation_id')} ({record.get('rule_id')}) on "
                f"{record.get('resource_id')} by {actor}: " + (f"FAILED: {error}" if failed else
                                                               f"the before-image is restored; {note}."),
        detail=note, error=error, extra={"rolled_back_remediation_id": record.get("remediation_id")},
    )
