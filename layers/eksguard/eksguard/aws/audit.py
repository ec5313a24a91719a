"""The audit table: a before-image is written (conditionally) before any change, the outcome after.

Layout: ``pk = remediation#<id>``, ``sk = remediation``; the ``by-resource`` index (resource_id, time)
answers "what did eksguard do to this group". Images are stored as JSON strings so they come back
exactly as AWS returned them (a DynamoDB map would turn numbers into Decimals).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code


class AuditWriteError(RuntimeError):
    """The before-image could not be stored: the change must not be made."""


@dataclass(frozen=True)
class AuditRecord:
    remediation_id: str
    # What the before-image is, so rollback knows how to restore it: "security-group-rule", ...
    resource_type: str
    resource_id: str
    resource_arn: str
    rule_id: str
    event_id: str
    actor: str
    time: str
    account: str
    region: str
    mode: str
    action: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    outcome: str = "pending"


class AuditStore:
    def __init__(self, aws: Aws, table_name: str):
        if not table_name:
            raise AuditWriteError("no audit table configured (EKSGUARD_AUDIT_TABLE)")
        self._client = aws.client("dynamodb")
        self._table = table_name

    def begin(self, record: AuditRecord) -> Mapping[str, Any] | None:
        """Store the before-image. Returns None when new, or the earlier record of the same
        remediation (a redelivered event) so the caller can tell whether it already finished."""
        item = _to_item(record)
        try:
            self._client.put_item(TableName=self._table, Item=item,
                                  ConditionExpression="attribute_not_exists(pk)")
            return None
        except ClientError as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise AuditWriteError(f"audit write failed ({error_code(exc)}): {exc}") from exc
        existing = self.get(record.remediation_id)
        if existing is None:  # deleted between the two calls: treat as new
            raise AuditWriteError(f"audit record {record.remediation_id} vanished during write")
        return existing

    def finish(self, remediation_id: str, outcome: str, after: Mapping[str, Any] | None,
               error: str | None = None) -> None:
        values: dict[str, Any] = {":o": {"S": outcome}, ":a": {"S": json.dumps(after, sort_keys=True)}}
        expression = "SET outcome = :o, after_image = :a"
        if error:
            values[":e"] = {"S": error}
            expression += ", error_message = :e"
        self._client.update_item(TableName=self._table, Key=_key(remediation_id),
                                 UpdateExpression=expression, ExpressionAttributeValues=values)

    def mark_alerted(self, remediation_id: str) -> None:
        self._client.update_item(TableName=self._table, Key=_key(remediation_id),
                                 UpdateExpression="SET alerted = :t", ExpressionAttributeValues={":t": {"S": "true"}},
                                 ConditionExpression="attribute_exists(pk)")

    def get(self, remediation_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=_key(remediation_id),
                                     ConsistentRead=True).get("Item")
        return from_item(item) if item else None


def _key(remediation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"remediation#{remediation_id}"}, "sk": {"S": "remediation"}}


def _to_item(r: AuditRecord) -> dict[str, Any]:
    item = {**_key(r.remediation_id)}
    for name in ("remediation_id", "resource_type", "resource_id", "resource_arn", "rule_id", "event_id", "actor",
                 "time", "account", "region", "mode", "action", "outcome"):
        item[name] = {"S": str(getattr(r, name))}
    item["before_image"] = {"S": json.dumps(r.before, sort_keys=True)}
    item["after_image"] = {"S": json.dumps(r.after, sort_keys=True)}
    return item


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.get("S") for k, v in item.items() if k not in ("pk", "sk")}
    for image in ("before_image", "after_image"):
        if out.get(image) is not None:
            out[image] = json.loads(out[image])
    return out
