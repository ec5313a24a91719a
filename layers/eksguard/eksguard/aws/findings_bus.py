"""Put findings on this account's findings bus (forwarded by an EventBridge rule to the central bus)."""

from __future__ import annotations

from eksguard.aws.clients import Aws


class ForwardError(RuntimeError):
    """EventBridge did not take the finding: raised, so the notifier fails and Lambda retries it."""


def account_alias(aws: Aws) -> str:
    """The account's alias (an account has at most one), or "" when it has none."""
    aliases = aws.client("iam").list_account_aliases().get("AccountAliases", [])
    return str(aliases[0]) if aliases else ""


def put_event(aws: Aws, bus: str, source: str, detail_type: str, detail: str) -> str:
    """One event onto ``bus``; returns its id. PutEvents answers 200 with per-entry failures: raised."""
    response = aws.client("events").put_events(Entries=[{
        "Source": source, "DetailType": detail_type, "Detail": detail, "EventBusName": bus,
    }])
    entry = (response.get("Entries") or [{}])[0]
    if response.get("FailedEntryCount") or not entry.get("EventId"):
        raise ForwardError(f"EventBridge refused the event: {entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
    return str(entry["EventId"])
