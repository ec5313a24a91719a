"""Apply security-group actions: before-image first, then one revoke call per group and direction, then the
outcome. A failure is an outcome (alerted), never an exception that hides what happened.

Two ways, one guarantee (no before-image, no change):
- ``apply``, for an event: each before-image is a conditional write (a redelivered event finds the first
  attempt's record), the revoke follows it. The outcome is written by ``finish`` once the alert went out, with the
  "alerted" mark, in one write.
- ``apply_batched``, for the sweep: before-images up to 100 a TransactWriteItems call (all stored or none), each
  batch of revokes only after the transaction holding its before-images went through; transactions and revokes
  run side by side within the clients' adaptive rate limit. The outcomes go back in batches too
  (``outcome_records``), after the alerts, each with its "alerted" mark.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

from botocore.exceptions import BotoCoreError, ClientError

from eksguard import arn
from eksguard.aws import ec2
from eksguard.aws.audit import WRITE_LIMIT, AuditRecord, AuditStore, AuditWriteError
from eksguard.aws.clients import Aws, error_code
from eksguard.config import Config
from eksguard.model import ActionKind, EventContext
from eksguard.plan.sg import SgAction

FINAL = frozenset({"revoked", "already-gone"})
# Revoke calls in flight at once (the sweep): well inside EC2's mutating-call burst (a bucket of 200 per account
# and region, refilled 5 a second), whose refill is the real limit on a big backlog: the clients' adaptive retries
# slow down to it on the first throttle.
REVOKE_WORKERS = 16
# Before-image transactions in flight at once (the sweep's, up to WRITE_LIMIT records each): they stay ahead of
# the revokes.
WRITE_WORKERS = 2
RULES_PER_REVOKE = 25  # rule ids per RevokeSecurityGroupIngress/Egress call: one group and direction
NO_IMAGE = ("no exact before-image: the rule was not read with DescribeSecurityGroupRules; refusing to change "
            "without one")


@dataclass(frozen=True)
class SgOutcome:
    action: SgAction
    kind: ActionKind  # what the alert reports: revoked, failed, alert-only, exempt
    status: str  # revoked | already-gone | duplicate | failed | unchanged
    error: str | None = None
    # A retry of the whole event could succeed (throttling, audit table down): let Lambda retry.
    retryable: bool = False
    # The before-image this run stored, whose outcome is still to be written (``finish``, ``outcome_records``).
    record: AuditRecord | None = None

    @property
    def should_alert(self) -> bool:
        return self.status not in ("already-gone", "duplicate")


def apply(actions: Sequence[SgAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
          config: Config) -> list[SgOutcome]:
    outcomes = [SgOutcome(a, a.kind, "unchanged") for a in actions if a.revoke is None]
    pending: list[SgAction] = []
    records: dict[str, AuditRecord] = {}
    resumed: set[str] = set()
    for action in (a for a in actions if a.revoke is not None):
        begun = _begin(action, audit, ctx, config)
        if isinstance(begun, SgOutcome):
            outcomes.append(begun)
            continue
        status, records[action.remediation_id] = begun
        pending.append(action)
        if status == "resumed":
            resumed.add(action.remediation_id)
    for batch in _batches(pending):
        outcomes += _revoke(batch, aws, ctx, resumed, records)
    return outcomes


def finish(outcomes: Iterable[SgOutcome], audit: AuditStore | None, alerted: Collection[str]) -> None:
    """The outcome of every change this run began, with the mark that its alert went out: one write each (and
    the mark alone for an earlier run's revoke whose lost alert this run sent)."""
    if audit is None:
        return
    for o in outcomes:
        rid = o.action.remediation_id
        if o.record is not None:
            audit.finish(rid, o.status, None, o.error, alerted=rid in alerted)
        elif o.status == "revoked" and rid in alerted:
            audit.mark_alerted(rid)


def outcome_records(outcomes: Iterable[SgOutcome], alerted: Collection[str]) -> list[AuditRecord]:
    """Whole audit records (before-image, outcome, alerted mark) for ``AuditStore.put_batch``."""
    return [replace(o.record, outcome=o.status, error=o.error, alerted=o.action.remediation_id in alerted)
            for o in outcomes if o.record is not None]


def apply_batched(actions: Sequence[SgAction], aws: Aws, audit: AuditStore | None, ctx: EventContext,
                  config: Config, revoke_workers: int = REVOKE_WORKERS) -> list[SgOutcome]:
    outcomes = [SgOutcome(a, a.kind, "unchanged") for a in actions if a.revoke is None]
    revokes = [a for a in actions if a.revoke is not None]
    if audit is None:
        return outcomes + [_no_audit(a) for a in revokes]
    ready: list[SgAction] = []
    for action in revokes:
        refused = _refusal(action)
        if refused is None:
            ready.append(action)
        else:
            outcomes.append(refused)
    lock = threading.Lock()
    revoking: list[Future[list[SgOutcome]]] = []
    with ThreadPoolExecutor(max_workers=max(1, revoke_workers)) as revoke_pool, \
            ThreadPoolExecutor(max_workers=WRITE_WORKERS) as write_pool:

        def write_then_revoke(chunk: list[list[SgAction]]) -> list[SgOutcome]:
            records = {a.remediation_id: _record(a, ctx, config) for batch in chunk for a in batch}
            try:
                audit.put_batch(list(records.values()))
            except AuditWriteError as exc:  # no before-image, no change: none of this chunk is revoked
                return [SgOutcome(a, ActionKind.FAILED, "failed", str(exc), retryable=True)
                        for batch in chunk for a in batch]
            futures = [revoke_pool.submit(_revoke, batch, aws, ctx, set(), records) for batch in chunk]
            with lock:
                revoking.extend(futures)
            return []

        writers = [write_pool.submit(write_then_revoke, chunk) for chunk in _chunks(_batches(ready))]
        for future in writers:
            outcomes += future.result()
    # Every chunk's revokes were submitted before its writer returned: all are in the list by now.
    for future in revoking:
        outcomes += future.result()
    return outcomes


def _batches(actions: Iterable[SgAction]) -> list[list[SgAction]]:
    """One revoke call per group and direction, one action per rule id, at most RULES_PER_REVOKE rules a call."""
    by_key: dict[tuple[str, bool], list[SgAction]] = {}
    for action in actions:
        change = action.revoke
        assert change is not None
        batch = by_key.setdefault((change.group_id, change.is_egress), [])
        if all(a.rule != action.rule for a in batch):  # de-duplicate: one revoke per rule id
            batch.append(action)
    return [batch[i:i + RULES_PER_REVOKE] for batch in by_key.values()
            for i in range(0, len(batch), RULES_PER_REVOKE)]


def _chunks(batches: list[list[SgAction]]) -> list[list[list[SgAction]]]:
    """Revoke batches packed whole into chunks of at most WRITE_LIMIT before-images: one transaction each."""
    chunks: list[list[list[SgAction]]] = []
    size = 0
    for batch in batches:
        if not chunks or size + len(batch) > WRITE_LIMIT:
            chunks.append([])
            size = 0
        chunks[-1].append(batch)
        size += len(batch)
    return chunks


def _record(action: SgAction, ctx: EventContext, config: Config) -> AuditRecord:
    rule = action.rule
    assert rule is not None  # a revoke always names its rule
    return AuditRecord(
        remediation_id=action.remediation_id, resource_type="security-group-rule", resource_id=rule.group_id,
        resource_arn=arn.ec2(ctx.partition, ctx.region, ctx.account, "security-group-rule", rule.rule_id),
        rule_id=action.finding.rule_id, event_id=ctx.event_id, actor=ctx.actor, time=ctx.time,
        account=ctx.account, region=ctx.region, mode=config.mode.value, action=ActionKind.REVOKED.value,
        before=dict(rule.image), after=None,
    )


def _no_audit(action: SgAction) -> SgOutcome:
    return SgOutcome(action, ActionKind.FAILED, "failed", "no audit table: refusing to change without a before-image")


def _refusal(action: SgAction) -> SgOutcome | None:
    """A revoke that must not be tried at all: its rule was never read as DescribeSecurityGroupRules returns it."""
    if action.rule is None or not action.rule.image:
        return SgOutcome(action, ActionKind.FAILED, "failed", NO_IMAGE)
    return None


def _begin(action: SgAction, audit: AuditStore | None, ctx: EventContext,
           config: Config) -> SgOutcome | tuple[str, AuditRecord]:
    """Write the before-image. ("new" | "resumed", the record) means go ahead; an outcome means do not touch."""
    if audit is None:
        return _no_audit(action)
    if (refused := _refusal(action)) is not None:
        return refused
    record = _record(action, ctx, config)
    try:
        earlier = audit.begin(record)
    except AuditWriteError as exc:
        return SgOutcome(action, ActionKind.FAILED, "failed", str(exc), retryable=True)
    if earlier is not None and earlier.get("outcome") in FINAL:
        # The same event was handled before (redelivery): nothing to do, alert only if that was lost.
        status = "duplicate" if earlier.get("alerted") == "true" else "revoked"
        return SgOutcome(action, ActionKind.REVOKED, status)
    # An earlier attempt stored the before-image and stopped before its outcome: carry on from there.
    return ("new" if earlier is None else "resumed"), record


def _revoke(batch: Sequence[SgAction], aws: Aws, ctx: EventContext, resumed: Collection[str],
            records: dict[str, AuditRecord]) -> list[SgOutcome]:
    """One revoke call for a batch of one group and direction whose before-images are stored."""
    change = batch[0].revoke
    assert change is not None
    rule_ids = [a.rule.rule_id for a in batch if a.rule is not None]
    transient = False
    try:
        results = ec2.revoke_rules(aws, ctx.region, change.group_id, change.is_egress, rule_ids)
    except ClientError as exc:  # raised only by retries exhausted on throttling and the like
        results = dict.fromkeys(rule_ids, error_code(exc))
    except BotoCoreError as exc:  # the connection, not the answer: a retry may well succeed
        results, transient = dict.fromkeys(rule_ids, error_code(exc)), True
    outcomes = []
    for action in batch:
        assert action.rule is not None
        code = results[action.rule.rule_id]
        record = records[action.remediation_id]
        if code is None:
            outcome = SgOutcome(action, ActionKind.REVOKED, "revoked", record=record)
        elif code in ec2.GONE_CODES:
            # Gone after our own earlier attempt stored its before-image: that attempt revoked it.
            status = "revoked" if action.remediation_id in resumed else "already-gone"
            outcome = SgOutcome(action, ActionKind.REVOKED, status, record=record)
        else:
            outcome = SgOutcome(action, ActionKind.FAILED, "failed", f"revoke failed: {code}",
                                retryable=transient or code in RETRYABLE, record=record)
        outcomes.append(outcome)
    return outcomes


RETRYABLE = frozenset({"Throttling", "RequestLimitExceeded", "ServiceUnavailable", "InternalError",
                       "Unavailable"})
