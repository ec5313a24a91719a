"""Publish alert messages to the SNS topic, with the attributes subscribers filter on.

Every publisher goes through ``publish``: the message is validated against the contract first (a
broken message is a bug, raised, never sent), then storm-collapsed (``eksguard.alert.dedupe``).
"""

from __future__ import annotations

import json
import logging
import time

from botocore.exceptions import BotoCoreError, ClientError

from eksguard.alert.dedupe import StormSettings, window_for, with_suppressed
from eksguard.alert.messages import AlertMessage
from eksguard.aws.alert_window import AlertWindows
from eksguard.aws.clients import Aws, error_code

SUBJECT_LIMIT = 100  # SNS rejects longer subjects
log = logging.getLogger(__name__)


def publish(aws: Aws, topic_arn: str, message: AlertMessage, storm: StormSettings | None = None,
            now: float | None = None) -> str | None:
    """Send one alert. Returns the SNS message id, or None when it was collapsed into an open storm
    window (counted, and reported by the next message for the same resource and rule).

    ``storm`` defaults to the function's environment (``AlertWindowSeconds``, the idempotency table)."""
    message.validate()
    storm = StormSettings.from_env() if storm is None else storm
    if not storm.enabled:
        return _send(aws, topic_arn, message)
    window = window_for(message, time.time() if now is None else now, storm)
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


def _send(aws: Aws, topic_arn: str, message: AlertMessage) -> str:
    body = message.to_dict()
    response = aws.client("sns").publish(
        TopicArn=topic_arn,
        Subject=message.subject[:SUBJECT_LIMIT],
        Message=json.dumps(body, sort_keys=True, default=str),
        MessageAttributes={
            name: {"DataType": "String", "StringValue": value} for name, value in message.attributes().items()
        },
    )
    return str(response["MessageId"])
