"""What every event guard does around its own stages: open the CloudTrail event (reject what cannot be trusted,
skip what is not its business), send the alert of each outcome that needs one, and hand Lambda what a retry may
fix."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, Protocol

from eksguard.alert.messages import AlertMessage
from eksguard.alert.publish import publish
from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.errors import RetryableError
from eksguard.parse.envelope import CloudTrailEvent, EventError, parse_envelope, skip_reason
from eksguard.pipeline.result import GuardResult


class Outcome(Protocol):
    """An apply stage's outcome (SgOutcome, EksOutcome, TrustOutcome)."""

    @property
    def should_alert(self) -> bool: ...

    @property
    def status(self) -> str: ...

    @property
    def retryable(self) -> bool: ...

    @property
    def error(self) -> str | None: ...

    @property
    def action(self) -> Any: ...  # has remediation_id


def open_event(raw: Mapping[str, Any], config: Config, handled: Collection[str],
               not_handled: str) -> CloudTrailEvent | GuardResult:
    """The parsed event, or the result that ends the invocation here (rejected, or skipped with the reason)."""
    try:
        event = parse_envelope(raw)
    except EventError as exc:
        return GuardResult("rejected", reason=str(exc))
    ctx = event.context
    if reason := skip_reason(event, config.own_role_path):
        return GuardResult("skipped", ctx.event_id, ctx.event_name, reason)
    if ctx.event_name not in handled:
        return GuardResult("skipped", ctx.event_id, ctx.event_name, not_handled)
    return event


def alert_outcomes[O: Outcome](outcomes: Sequence[O], build: Callable[[O], AlertMessage], changed: str, aws: Aws,
                               audit: AuditStore | None, config: Config) -> int:
    """One alert per outcome that needs one; a change (status ``changed``) is marked alerted in its audit record,
    so a redelivered event finds it done. Returns how many were sent (storm collapse may hold some back)."""
    sent = 0
    for outcome in (o for o in outcomes if o.should_alert):
        if not config.alert_topic_arn:
            raise RetryableError("no alert topic configured (EKSGUARD_ALERT_TOPIC_ARN)")
        sent += publish(aws, config.alert_topic_arn, build(outcome)) is not None
        if audit is not None and outcome.status == changed:
            audit.mark_alerted(outcome.action.remediation_id)
    return sent


def raise_if_retryable(outcomes: Sequence[Outcome], what: str = "remediation(s)") -> None:
    """After the alerts went out: let Lambda retry the event (then dead-letter it) when a retry may succeed."""
    failed = [o for o in outcomes if o.retryable]
    if failed:
        raise RetryableError(f"{len(failed)} {what} failed and may succeed on retry: "
                             + "; ".join(o.error or "" for o in failed))
