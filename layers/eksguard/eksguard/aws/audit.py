"""The audit table: a before-image is written before any change, the outcome after.

An event writes its before-image conditionally (a redelivery finds the first attempt's record) and updates the
outcome, with the "alerted" mark, in one write. The sweep writes both in batches (``put_batch``: up to 100 records a
TransactWriteItems call, each call all or nothing): the before-images of a batch of revokes before any of them is
made, the outcomes after.

Layout: ``pk = remediation#<id>``, ``sk = remediation``; the ``by-resource`` index (resource_id, time)
answers "what did eksguard do to this group". Images are stored as JSON strings so they come back
exactly as AWS returned them (a DynamoDB map would turn numbers into Decimals).

Two more namespaces share the table (their items carry neither ``resource_id`` nor ``time``, so the
``by-resource`` index never lists them):
- ``pk = cluster#<region>#<name>``, ``sk = issuer#<issuer URL>``: the cluster -> OIDC issuer history
  (DESIGN section 5), one item per issuer a cluster of that name has had, with ``first_seen``.
- ``pk = sweep#<region>``, ``sk = findings#<n>``: the findings open after the last sweep of the region, as one
  JSON object (fingerprint -> what was stored) packed into as few items as fit under DynamoDB's 400 KB (a few
  hundred bytes a finding: one item, one write, for the open findings of a thousand groups). The fingerprint
  names the finding (rule, resource, target); ``state`` hashes what an alert would say (severity, detail,
  action), so the next sweep alerts only on what is new or changed. Items of the earlier layout, one per finding
  (``sk = finding#<fingerprint>``), are still read, and deleted by the next save.

Alert storm windows (``alert#<resource_id>#<rule_id>[#<target>]``) are not kept here but in the
IdempotencyTable, under its TTL: see ``eksguard.aws.alert_window``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eksguard.aws import parallel
from eksguard.aws.clients import Aws, error_code

BATCH_LIMIT = 25  # items per BatchWriteItem call (DynamoDB's limit): the sweep state
WRITE_LIMIT = 100  # records per TransactWriteItems call (DynamoDB's limit): before-images and outcomes
# Calls per batch while DynamoDB leaves items unprocessed or cancels a transaction for a reason that may pass
# (back-off 50 ms doubling, at most 2 s).
BATCH_ATTEMPTS = 8
# Why DynamoDB cancels a transaction when trying again may succeed; any other reason is raised at once.
PASSING_CANCELLATIONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded",
                                   "RequestLimitExceeded"})
STATE_ITEM_BYTES = 300_000  # JSON per sweep-state item: under DynamoDB's 400 KB item limit with room to spare


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


@dataclass(frozen=True)
class SweepState:
    """What the last sweep of a region left: its open findings by fingerprint, and the items that hold them."""

    findings: Mapping[str, Mapping[str, Any]]
    keys: tuple[str, ...] = ()


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
        """Store whole records, up to WRITE_LIMIT a TransactWriteItems call (``workers`` calls at a time): a call
        stores all its records or none, and one cancelled for a reason that may pass (a conflict, throttling) is
        made again with back-off. Returns only when every record is stored; raises AuditWriteError otherwise,
        once every call was tried (the calls that went through stored their records)."""
        ids = [r.remediation_id for r in records]
        if len(set(ids)) != len(ids):  # DynamoDB refuses a transaction that names one key twice
            raise AuditWriteError("one remediation twice in one batch of audit records")
        puts = [{"Put": {"TableName": self._table, "Item": _to_item(r)}} for r in records]
        parallel.each(self._transact, [puts[i:i + WRITE_LIMIT] for i in range(0, len(puts), WRITE_LIMIT)], workers)

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

    def sweep_state(self, region: str) -> SweepState:
        """The findings the last sweep of ``region`` left open, as it stored them, by fingerprint."""
        findings: dict[str, Mapping[str, Any]] = {}
        keys: list[str] = []
        for item in self._query(f"sweep#{region}", with_sort_key=True):
            keys.append(item["sk"])
            if item["sk"].startswith("findings#"):
                findings.update(json.loads(item["findings"]))
            else:  # one item per finding: the layout before the packing
                findings[item["fingerprint"]] = {k: v for k, v in item.items() if k != "sk"}
        return SweepState(findings, tuple(keys))

    def save_sweep_state(self, region: str, open_findings: Mapping[str, Mapping[str, str]], previous: SweepState,
                         workers: int = 1) -> None:
        """Replace ``previous`` with the findings open now: the packed items written (over the previous ones of the
        same key: one item, one atomic write, up to some 800 findings), then the previous items no longer used
        deleted; 25 writes a request, ``workers`` at a time. A failed save raises, so the sweep fails and is
        retried; until a save goes through, the state may mix the two sweeps' findings."""
        pk = {"S": f"sweep#{region}"}
        bodies = _pack(open_findings, STATE_ITEM_BYTES)
        keys = [f"findings#{i:05d}" for i in range(len(bodies))]
        puts: list[dict[str, Any]] = [{"PutRequest": {"Item": {"pk": pk, "sk": {"S": k}, "findings": {"S": b}}}}
                                      for k, b in zip(keys, bodies, strict=True)]
        deletes = [{"DeleteRequest": {"Key": {"pk": pk, "sk": {"S": k}}}} for k in previous.keys if k not in keys]
        for requests in (puts, deletes):
            parallel.each(lambda batch: self._batch_write(batch, "sweep state"),
                          [requests[i:i + BATCH_LIMIT] for i in range(0, len(requests), BATCH_LIMIT)], workers)

    def _transact(self, items: list[dict[str, Any]]) -> None:
        for attempt in range(BATCH_ATTEMPTS):
            try:
                self._client.transact_write_items(TransactItems=items)
                return
            except BotoCoreError as exc:  # what botocore's own retries could not fix
                raise AuditWriteError(f"audit records: transaction failed ({exc})") from exc
            except ClientError as exc:
                reasons = {r.get("Code") for r in exc.response.get("CancellationReasons", [])} - {"None", None}
                passing = error_code(exc) == "TransactionCanceledException" and reasons <= PASSING_CANCELLATIONS
                if not passing or not reasons or attempt + 1 == BATCH_ATTEMPTS:
                    why = f"{error_code(exc)}: {', '.join(sorted(reasons))}" if reasons else error_code(exc)
                    raise AuditWriteError(f"audit records: transaction of {len(items)} failed ({why}): {exc}") from exc
            time.sleep(min(2.0, 0.05 * 2**attempt))

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

    def _query(self, pk: str, with_sort_key: bool = False) -> list[dict[str, Any]]:
        pages = self._client.get_paginator("query").paginate(
            TableName=self._table, KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": pk}}, ConsistentRead=True)
        dropped = ("pk",) if with_sort_key else ("pk", "sk")
        return [{k: v.get("S") for k, v in item.items() if k not in dropped}
                for page in pages for item in page.get("Items", [])]


def _pack(findings: Mapping[str, Mapping[str, str]], limit: int) -> list[str]:
    """JSON objects of at most ``limit`` bytes each (UTF-8), together holding every finding, in fingerprint order."""
    bodies: list[str] = []
    parts: list[str] = []
    size = 2  # the braces
    for fp in sorted(findings):
        part = f"{json.dumps(fp)}:{json.dumps({k: str(v) for k, v in findings[fp].items()}, sort_keys=True)}"
        cost = len(part.encode()) + 1  # and its comma
        if cost + 2 > limit:
            raise AuditWriteError(f"sweep state: one finding takes {cost} bytes, over {limit}: {fp}")
        if parts and size + cost > limit:
            bodies.append("{" + ",".join(parts) + "}")
            parts, size = [], 2
        parts.append(part)
        size += cost
    if parts:
        bodies.append("{" + ",".join(parts) + "}")
    return bodies


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
