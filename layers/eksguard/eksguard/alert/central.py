"""The organization's central stream: one finding as an EventBridge event, member bus -> central bus.

A member's notifier puts each alert (the SNS contract message, never raw CloudTrail) on its own bus;
EventBridge forwards it to the security account. The central notifier labels it with the account and
region EventBridge stamped on the event - the caller's own, which a member cannot forge - and refuses
an event whose alert claims another account or region than the one that sent it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.alert.messages import AlertMessage, ContractError

SOURCE = "eksguard"
DETAIL_TYPE = "eksguard Finding"
# EventBridge refuses entries over 256 KB; the detail is the largest part of one.
DETAIL_LIMIT = 250 * 1024
_ACCOUNT = re.compile(r"^[0-9]{12}$")


@dataclass(frozen=True)
class Origin:
    """Where a finding came from, as the central stream shows it."""

    account: str
    region: str
    alias: str = ""

    @property
    def label(self) -> str:
        """``team-b-prod (222222222222) / eu-west-1`` - or the bare id when the account has no alias."""
        name = f"{self.alias} ({self.account})" if self.alias else self.account
        return f"{name} / {self.region}"


@dataclass(frozen=True)
class CentralFinding:
    origin: Origin
    message: AlertMessage


def detail(message: AlertMessage, alias: str) -> str:
    """The event detail a member puts on its findings bus: the contract message plus the alias."""
    body = json.dumps({"alert": message.validate().to_dict(), "account_alias": alias}, sort_keys=True,
                      default=str)
    if len(body.encode()) > DETAIL_LIMIT:
        raise ContractError(f"alert {message.rule_id} on {message.resource_id} is {len(body.encode())} bytes: "
                            f"over EventBridge's limit for one event")
    return body


def is_central_event(event: Any) -> bool:
    return isinstance(event, Mapping) and event.get("detail-type") == DETAIL_TYPE and "Records" not in event


def parse(event: Mapping[str, Any]) -> CentralFinding:
    """A forwarded finding, checked; ContractError says what is wrong (nothing is posted then)."""
    if event.get("source") != SOURCE or event.get("detail-type") != DETAIL_TYPE:
        raise ContractError(f"not an eksguard finding: source {event.get('source')!r}, "
                            f"detail-type {event.get('detail-type')!r}")
    account, region, body = event.get("account"), event.get("region"), event.get("detail")
    if not isinstance(account, str) or not _ACCOUNT.match(account):
        raise ContractError(f"the event has no valid account: {account!r}")
    if not isinstance(region, str) or not region:
        raise ContractError("the event has no region")
    if not isinstance(body, Mapping) or not isinstance(body.get("alert"), Mapping):
        raise ContractError("the event detail has no alert object")
    message = AlertMessage.from_dict(body["alert"])
    if (message.account, message.region) != (account, region):
        raise ContractError(f"the alert claims {message.account} / {message.region} but was sent by "
                            f"{account} / {region}: refused")
    alias = body.get("account_alias", "")
    return CentralFinding(Origin(account, region, alias if isinstance(alias, str) else ""), message)
