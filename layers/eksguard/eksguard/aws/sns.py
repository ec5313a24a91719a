"""Send alert requests to the SNS topic: Publish, and PublishBatch ten at a time. What to send, whether to
send it at all (storm collapse) and how it reads is decided in ``eksguard.alert.publish``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eksguard.aws.clients import Aws

BATCH_LIMIT = 10  # entries per PublishBatch call


@dataclass(frozen=True)
class BatchAnswer:
    """PublishBatch answers 200 with per-entry failures: the indexes SNS took, and those it refused."""

    accepted: tuple[int, ...]
    refused: tuple[tuple[int, str], ...]  # (index, "Code message")


def send(aws: Aws, topic_arn: str, request: Mapping[str, Any]) -> str:
    """One Publish (``request``: Subject, Message, MessageAttributes); returns the SNS message id."""
    response = aws.client("sns").publish(TopicArn=topic_arn, **request)
    return str(response["MessageId"])


def send_batch(aws: Aws, topic_arn: str, requests: Sequence[Mapping[str, Any]]) -> BatchAnswer:
    """At most BATCH_LIMIT requests in one PublishBatch call."""
    if len(requests) > BATCH_LIMIT:
        raise ValueError(f"PublishBatch takes at most {BATCH_LIMIT} entries, got {len(requests)}")
    response = aws.client("sns").publish_batch(TopicArn=topic_arn, PublishBatchRequestEntries=[
        {"Id": str(n), **r} for n, r in enumerate(requests)])
    return BatchAnswer(tuple(int(e["Id"]) for e in response.get("Successful", [])),
                       tuple((int(f["Id"]), f"{f.get('Code')} {f.get('Message', '')}".strip())
                             for f in response.get("Failed", [])))
