"""The audit table: a before-image is written before any change, the outcome after.

An event writes its before-image conditionally (a redelivery finds the first attempt's record) and updates the
outcome, with the "alerted" mark, in one write. The sweep writes both in batches (``put_batch``, BatchWriteItem, 25
a call): the before-images of a batch of revokes before any of them is made, the outcomes after.

Layout: ``pk = remediation#<id>``, ``sk = remediation``; the ``by-resource`` index (resource_id, time)
answers "what did eksguard do to this group". Images are stored as JSON strings so they come back
exactly as AWS returned them (a DynamoDB map would turn numbers into Decimals).

Two more namespaces share the table (their items carry neither ``resource_id`` nor ``time``, so the
``by-resource`` index never lists them):
- ``pk = cluster#<region>#<name>``, ``sk = issuer#<issuer URL>``: the cluster -> OIDC issuer history
  (DESIGN section 5), one item per issuer a cluster of that name has had, with ``first_seen``.
- ``pk = sweep#<region>``, ``sk = finding#<fingerprint>``: the findings open after the last sweep of the
  region. The fingerprint names the finding (rule, resource, target); ``state`` hashes what an alert
  would say (severity, detail, action), so the next sweep alerts only on what is new or changed.

Alert storm windows (``alert#<resource_id>#<rule_id>[#<target>]``) are not kept here but in the
IdempotencyTable, under its TTL: see ``eksguard.aws.alert_window``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eksguard.aws import parallel
from eksguard.aws.clients import Aws, error_code

BATCH_LIMIT = 25  # items per BatchWriteItem call (DynamoDB's limit)
BATCH_ATTEMPTS = 8  # calls per batch while DynamoDB leaves items unprocessed (back-off 50 ms doubling, at most 2 s)


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
    error: str | None = None
    alerted: bool = False  # the alert about this change went out (a redelivery must not send it again)


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
               error: str | None = None, alerted: bool = False) -> None:
        """The outcome, and with ``alerted`` the mark that its alert went out: one write."""
        values: dict[str, Any] = {":o": {"S": outcome}, ":a": {"S": json.dumps(after, sort_keys=True)}}
        expression = "SET outcome = :o, after_image = :a"
        if error:
            values[":e"] = {"S": error}
            expression += ", error_message = :e"
        if alerted:
            values[":t"] = {"S": "true"}
            expression += ", alerted = :t"
        self._client.update_item(TableName=self._table, Key=_key(remediation_id),
                                 UpdateExpression=expression, ExpressionAttributeValues=values)

    def mark_alerted(self, remediation_id: str) -> None:
        self._client.update_item(TableName=self._table, Key=_key(remediation_id),
                                 UpdateExpression="SET alerted = :t", ExpressionAttributeValues={":t": {"S": "true"}},
                                 ConditionExpression="attribute_exists(pk)")

    def put_batch(self, records: Sequence[AuditRecord], workers: int = 1) -> None:
        """Store whole records, 25 a BatchWriteItem call (``workers`` calls at a time), retrying unprocessed items
        with back-off. Returns only when every record is stored; raises AuditWriteError otherwise, once every
        call was tried (some records may have been stored)."""
        ids = [r.remediation_id for r in records]
        if len(set(ids)) != len(ids):  # DynamoDB refuses a batch that names one key twice
            raise AuditWriteError("one remediation twice in one batch of audit records")
        requests = [{"PutRequest": {"Item": _to_item(r)}} for r in records]

        def write(batch: list[dict[str, Any]]) -> None:
            try:
                self._batch_write(batch, "audit records")
            except (ClientError, BotoCoreError) as exc:  # what botocore's own retries could not fix
                raise AuditWriteError(f"audit batch write failed ({error_code(exc)}): {exc}") from exc

        parallel.each(write, [requests[i:i + BATCH_LIMIT] for i in range(0, len(requests), BATCH_LIMIT)], workers)

    def get(self, remediation_id: str) -> dict[str, Any] | None:
        item = self._client.get_item(TableName=self._table, Key=_key(remediation_id),
                                     ConsistentRead=True).get("Item")
        return from_item(item) if item else None


    def record_cluster_issuer(self, region: str, cluster: str, issuer: str, cluster_arn: str, seen_at: str,
                              event_id: str) -> bool:
        """Add ``issuer`` to the cluster's issuer history; False when it was already there."""
        item = {"pk": {"S": f"cluster#{region}#{cluster}"}, "sk": {"S": f"issuer#{issuer}"},
                "cluster": {"S": cluster}, "cluster_arn": {"S": cluster_arn}, "issuer": {"S": issuer},
                "region": {"S": region}, "first_seen": {"S": seen_at}, "event_id": {"S": event_id}}
        try:
            self._client.put_item(TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise AuditWriteError(f"issuer history write failed ({error_code(exc)}): {exc}") from exc
        return True

    def cluster_issuers(self, region: str, cluster: str) -> list[dict[str, Any]]:
        return self._query(f"cluster#{region}#{cluster}")

    def sweep_state(self, region: str) -> dict[str, dict[str, Any]]:
        """Fingerprint -> the finding as the last sweep of ``region`` stored it."""
        return {item["fingerprint"]: item for item in self._query(f"sweep#{region}")}

    def save_sweep_state(self, region: str, open_findings: Mapping[str, Mapping[str, str]],
                         resolved: Iterable[str], workers: int = 1) -> None:
        """Store the findings open now and forget the resolved ones, 25 writes a request, ``workers`` at a time."""
        requests: list[dict[str, Any]] = [
            {"PutRequest": {"Item": {"pk": {"S": f"sweep#{region}"}, "sk": {"S": f"finding#{fp}"},
                                     "fingerprint": {"S": fp}, **{k: {"S": str(v)} for k, v in attrs.items()}}}}
            for fp, attrs in open_findings.items()]
        requests += [{"DeleteRequest": {"Key": {"pk": {"S": f"sweep#{region}"}, "sk": {"S": f"finding#{fp}"}}}}
                     for fp in resolved]
        parallel.each(lambda batch: self._batch_write(batch, "sweep state"),
                      [requests[i:i + BATCH_LIMIT] for i in range(0, len(requests), BATCH_LIMIT)], workers)

    def _batch_write(self, batch: list[dict[str, Any]], what: str) -> None:
        pending = batch
        for attempt in range(BATCH_ATTEMPTS):
            result = self._client.batch_write_item(RequestItems={self._table: pending})
            pending = result.get("UnprocessedItems", {}).get(self._table, [])
            if not pending:
                return
            if attempt + 1 < BATCH_ATTEMPTS:
                time.sleep(min(2.0, 0.05 * 2**attempt))  # DynamoDB asks for back-off on unprocessed items
        raise AuditWriteError(f"{what}: {len(pending)} write(s) still unprocessed after {BATCH_ATTEMPTS} attempts")

    def _query(self, pk: str) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)
        return [{k: v.get("S") for k, v in item.items() if k not in ("pk", "sk")}
                for page in pages for item in page.get("Items", [])]


def _key(remediation_id: str) -> dict[str, Any]:
    return {"pk": {"S": f"remediation#{remediation_id}"}, "sk": {"S": "remediation"}}


def _to_item(r: AuditRecord) -> dict[str, Any]:
    item = {**_key(r.remediation_id)}
    for name in ("remediation_id", "resource_type", "resource_id", "resource_arn", "rule_id", "event_id", "actor",
                 "time", "account", "region", "mode", "action", "outcome"):
        item[name] = {"S": str(getattr(r, name))}
    item["before_image"] = {"S": json.dumps(r.before, sort_keys=True)}
    item["after_image"] = {"S": json.dumps(r.after, sort_keys=True)}
    if r.error:
        item["error_message"] = {"S": r.error}
    if r.alerted:
        item["alerted"] = {"S": "true"}
    return item


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.get("S") for k, v in item.items() if k not in ("pk", "sk")}
    for image in ("before_image", "after_image"):
        if out.get(image) is not None:
            out[image] = json.loads(out[image])
    return out
