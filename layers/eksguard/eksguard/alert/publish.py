"""The decision to publish: every alert is validated against the contract (a broken message is a bug, raised,
never sent), storm-collapsed (``eksguard.alert.dedupe``; the atomic bookkeeping in ``aws.alert_window``), and
handed to ``aws.sns`` with the attributes subscribers filter on."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from eksguard import clock
from eksguard.alert.dedupe import StormSettings, window_for, with_suppressed
from eksguard.alert.messages import AlertMessage
from eksguard.aws import sns
from eksguard.aws.alert_window import AlertWindows
from eksguard.aws.clients import Aws, error_code

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
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
        return sns.send(aws, topic_arn, request(message))
    window = window_for(message, clock.now().timestamp() if now is None else now, storm)
    windows = AlertWindows(aws, storm.table)
    try:
        claim = windows.claim(window)
    except (ClientError, BotoCoreError) as exc:
        # Fail open: a flood is better than silence when the window table is unreachable.
        log.warning("alert window unavailable (%s): sending without collapse", error_code(exc))
        return sns.send(aws, topic_arn, request(message))
    if not claim.send:
        return None
    try:
        return sns.send(aws, topic_arn, request(with_suppressed(message, claim.suppressed)))
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
    for start in range(0, len(messages), sns.BATCH_LIMIT):
        batch = messages[start:start + sns.BATCH_LIMIT]
        answer = sns.send_batch(aws, topic_arn, [request(m) for m in batch])
        for index in answer.accepted:
            sent(batch[index])
            count += 1
        if answer.refused:
            raise PublishError(f"SNS refused {len(answer.refused)} of {len(batch)} alert(s): " + "; ".join(
                f"{batch[i].rule_id} on {batch[i].resource_id}: {why}" for i, why in answer.refused))
    return count


def request(message: AlertMessage) -> dict[str, Any]:
    """The SNS request for one alert: subject, the JSON body, and the attributes subscribers filter on."""
    return {
        "Subject": message.subject[:SUBJECT_LIMIT],
        "Message": json.dumps(message.to_dict(), sort_keys=True, default=str),
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes().items()
        },
    }
