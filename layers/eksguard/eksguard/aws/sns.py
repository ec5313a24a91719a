"""Publish alert messages to the SNS topic, with the attributes subscribers filter on.

Every publisher goes through ``publish``: the message is validated against the contract first (a
broken message is a bug, raised, never sent), then storm-collapsed (``eksguard.alert.dedupe``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eksguard import clock
from eksguard.alert.dedupe import StormSettings, window_for, with_suppressed
from eksguard.alert.messages import AlertMessage
from eksguard.aws.alert_window import AlertWindows
from eksguard.aws.clients import Aws, error_code

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
BATCH_LIMIT = 10  # entries per PublishBatch call
log = logging.getLogger(__name__)


class PublishError(RuntimeError):
    """SNS refused some entries of a PublishBatch (it answers 200 with per-entry failures)."""


def publish(aws: Aws, topic_arn: str, message: AlertMessage, storm: StormSettings | None = None,
            now: float | None = None) -> str | None:
    """Send one alert. Returns the SNS message id, or None when it was collapsed into an open storm
    window (counted, and reported by the next message for the same resource and rule).

    ``storm`` defaults to the function's environment (``AlertWindowSeconds``, the idempotency table)."""
    message.validate()
    storm = StormSettings.from_env() if storm is None else storm
    if not storm.enabled:
        return _send(aws, topic_arn, message)
    window = window_for(message, clock.now().timestamp() if now is None else now, storm)
    windows = AlertWindows(aws, storm.table)
    try:
        claim = windows.claim(window)
    except (ClientError, BotoCoreError) as exc:
        # Fail open: a flood is better than silence when the window table is unreachable.
        log.warning("alert window unavailable (%s): sending without collapse", error_code(exc))
        return _send(aws, topic_arn, message)
    if not claim.send:
        return None
    try:
        return _send(aws, topic_arn, with_suppressed(message, claim.suppressed))
    except (ClientError, BotoCoreError):
        windows.release(window, claim)
        raise


def publish_batch(aws: Aws, topic_arn: str, messages: Sequence[AlertMessage],
                  sent: Callable[[AlertMessage], None] = lambda _: None) -> int:
    """Send many alerts, ten per PublishBatch call (the sweep: no storm window, every message goes out).

    Every message is validated before the first call. ``sent`` is called for each message SNS accepted, as
    soon as its batch returns; a batch with refused entries then raises PublishError naming them (after the
    accepted ones were reported), so the caller's retry sends what is missing. Returns how many were sent."""
    for message in messages:
        message.validate()
    count = 0
    for start in range(0, len(messages), BATCH_LIMIT):
        batch = messages[start:start + BATCH_LIMIT]
        response = aws.client("sns").publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=[
            {"Id": str(n), **_request(m)} for n, m in enumerate(batch)])
        for entry in response.get("Successful", []):
            sent(batch[int(entry["Id"])])
            count += 1
        if failed := response.get("Failed", []):
            raise PublishError(f"SNS refused {len(failed)} of {len(batch)} alert(s): " + "; ".join(
                f"{batch[int(f['Id'])].rule_id} on {batch[int(f['Id'])].resource_id}: {f.get('Code')} "
                f"{f.get('Message', '')}".strip() for f in failed))
    return count


def _request(message: AlertMessage) -> dict[str, Any]:
    return {
        "Subject": message.subject[:SUBJECT_LIMIT],
        "Message": json.dumps(message.to_dict(), sort_keys=True, default=str),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes().items()
        },
    }


def _send(aws: Aws, topic_arn: str, message: AlertMessage) -> str:
    response = aws.client("sns").publish(TopicArn=topic_arn, **_request(message))
    return str(response["MessageId"])
