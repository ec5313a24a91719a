"""Put findings on this account's findings bus (forwarded by an EventBridge rule to the central bus)."""

from __future__ import annotations

from eksguard.alert.central import DETAIL_TYPE, SOURCE, detail
from eksguard.alert.messages import AlertMessage
from eksguard.aws.clients import Aws


class ForwardError(RuntimeError):
    """EventBridge did not take the finding: raised, so the notifier fails and Lambda retries it."""


def account_alias(aws: Aws) -> str:
    """The account's alias (an account has at most one), or "" when it has none."""
    aliases = aws.client("iam").list_account_aliases().get("AccountAliases", [])
    return str(aliases[0]) if aliases else ""


def put_finding(aws: Aws, bus: str, message: AlertMessage, alias: str) -> str:
    """One finding onto ``bus``; returns the event id. PutEvents answers 200 with per-entry failures."""
    response = aws.client("events").put_events(Entries=[{
        "Source": SOURCE, "DetailType": DETAIL_TYPE, "Detail": detail(message, alias), "EventBusName": bus,
    }])
    entry = (response.get("Entries") or [{}])[0]
    if response.get("FailedEntryCount") or not entry.get("EventId"):
        raise ForwardError(f"EventBridge refused the finding {message.rule_id} on {message.resource_id}: "
                           f"{entry.get('ErrorCode')} {entry.get('ErrorMessage')}")
    return str(entry["EventId"])
