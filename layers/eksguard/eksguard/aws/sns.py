"""Publish alert messages to the SNS topic, with the attributes subscribers filter on."""

from __future__ import annotations

import json

from eksguard.alert.messages import AlertMessage
from eksguard.aws.clients import Aws

SUBJECT_LIMIT = 100  # SNS rejects longer subjects


def publish(aws: Aws, topic_arn: str, message: AlertMessage) -> str:
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
