"""Storm windows in DynamoDB: one conditional write decides, atomically across concurrent Lambdas,
whether an alert opens a window (send it) or falls into an open one (count it, don't send).

The items live in the template's ``IdempotencyTable`` (hash key ``id``, TTL attribute ``expiration``),
namespace ``alert#<resource_id>#<rule_id>[#<target>]``. Not the audit table: that one holds remediation
records only, and audit mode must leave it empty. Powertools' own idempotency keys are
``<function>.<handler>#<hash>``, so the namespaces cannot meet. Attributes: ``window_until`` (epoch
seconds; alerts before it are collapsed), ``suppressed`` (collapsed since the last sent message),
``expiration`` (DynamoDB's TTL drops the item a week after its window).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code


@dataclass(frozen=True)
class Window:
    """The item a sent alert writes: the key, until when it suppresses, when DynamoDB may drop it."""

    key: str
    now: int
    until: int
    expires_at: int
    # False for changes and failures: they always go out, and they reset the window and its counter.
    collapsible: bool


@dataclass(frozen=True)
class Claim:
    send: bool
    # Alerts collapsed since the previous sent message for this key (reported by this one).
    suppressed: int = 0


class AlertWindows:
    def __init__(self, aws: Aws, table_name: str):
        self._client = aws.client("dynamodb")
        self._table = table_name

    def claim(self, window: Window) -> Claim:
        """Open (or restart) the window for this alert, or count it into the open one."""
        values: dict[str, Any] = {":until": {"N": str(window.until)}, ":exp": {"N": str(window.expires_at)},
                                  ":zero": {"N": "0"}}
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {"id": {"S": window.key}},
            "UpdateExpression": "SET window_until = :until, expiration = :exp, suppressed = :zero",
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_OLD",
        }
        if window.collapsible:
            # A missing window_until (a counter outliving its window) also means no open window.
            request["ConditionExpression"] = "attribute_not_exists(window_until) OR window_until <= :now"
            values[":now"] = {"N": str(window.now)}
        try:
            old = self._client.update_item(**request).get("Attributes", {})
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise
            self._count(window.key)
            return Claim(send=False)
        return Claim(send=True, suppressed=int(old.get("suppressed", {}).get("N", "0")))

    def _count(self, key: str) -> None:
        self._client.update_item(TableName=self._table, Key={"id": {"S": key}},
                                 UpdateExpression="ADD suppressed :one",
                                 ExpressionAttributeValues={":one": {"N": "1"}})

    def release(self, window: Window, claim: Claim) -> None:
        """The alert that opened the window was not delivered: close the window and give its counter
        back, so the retry of the event sends it instead of collapsing it into nothing."""
        self._client.update_item(TableName=self._table, Key={"id": {"S": window.key}},
                                 UpdateExpression="SET window_until = :zero ADD suppressed :n",
                                 ExpressionAttributeValues={":zero": {"N": "0"}, ":n": {"N": str(claim.suppressed)}})
