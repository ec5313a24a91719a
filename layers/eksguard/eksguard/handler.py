"""The one shape of a Lambda function (``functions/*/app.py``): Powertools Logger, Tracer and Metrics made at
module level (the service name comes from ``POWERTOOLS_SERVICE_NAME``, set per function by the template), the
correlation id taken from the event, idempotency keyed on the event, and the result logged and counted.

    function = LambdaFunction(correlation_id=CLOUDTRAIL_EVENT_ID, idempotency=ONCE_PER_CLOUDTRAIL_EVENT)

    @function
    def lambda_handler(event, context):
        result = sg_guard.handle(event, Config.from_env(), clients.default(), clock.now())
        return function.respond(result, guard_counts(result, Revoked=with_action(result, "revoked")))

No I/O and no boto3 client at import: the idempotency store is built on the first invocation, with eksguard's
own DynamoDB client (aws/clients.py: its endpoint, retries and user agent).
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from eksguard.aws import clients
from eksguard.pipeline.result import GuardResult

Handler = Callable[[Any, LambdaContext], Any]

# Where an event carries its id (JMESPath): the correlation id of every log line, and the idempotency key.
CLOUDTRAIL_EVENT_ID = "detail.eventID"
EVENTBRIDGE_ID = "id"  # a scheduled event has no CloudTrail record, hence no detail.eventID
SNS_MESSAGE_ID = "Records[0].Sns.MessageId"
# The library's loggers (eksguard.aws.sns, ...) all hang below this one.
LIBRARY_LOGGER = "eksguard"


@dataclass(frozen=True)
class Idempotency:
    """One run per event: the key (JMESPath into the event) and how long a response is kept and replayed."""

    key: str
    hours: int


# EventBridge may deliver a CloudTrail event more than once for up to 24 h: one run per CloudTrail event id.
ONCE_PER_CLOUDTRAIL_EVENT = Idempotency(CLOUDTRAIL_EVENT_ID, hours=48)


class Result(Protocol):
    """What a pipeline returns (GuardResult, NotifyResult): a status, the reason of a rejection, a summary."""

    @property
    def status(self) -> str: ...

    @property
    def reason(self) -> str | None: ...

    def to_dict(self) -> dict[str, Any]: ...


class LambdaFunction:
    """One function's Powertools objects, and the decorator that gives its handler the shape every eksguard
    handler has: log context and correlation id, then tracing, then metrics, then idempotency."""

    def __init__(self, *, correlation_id: str | None, idempotency: Idempotency | None = None,
                 metrics: bool = True, log_event: bool = False) -> None:
        self.logger = Logger()
        self.tracer = Tracer()
        self.metrics = Metrics() if metrics else None
        self._correlation_id = correlation_id
        self._idempotency = idempotency
        self._log_event = log_event
        # The library logs through this logger's handler: the same JSON lines, with the correlation id.
        logging.getLogger(LIBRARY_LOGGER)  # registered even before any library module has logged
        copy_config_to_registered_loggers(source_logger=self.logger, include={LIBRARY_LOGGER})

    def __call__(self, body: Handler) -> Handler:
        handler = self._idempotent(body, self._idempotency) if self._idempotency else body
        if self.metrics is not None:
            handler = self.metrics.log_metrics(handler)
        handler = self.tracer.capture_lambda_handler(handler)
        return self.logger.inject_lambda_context(handler, correlation_id_path=self._correlation_id,
                                                 log_event=self._log_event)

    @staticmethod
    def _idempotent(body: Handler, once: Idempotency) -> Handler:
        # Imported here: a function without idempotency (rollback) does not load it at all.
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent

        config = IdempotencyConfig(event_key_jmespath=once.key, expires_after_seconds=once.hours * 3600)
        built: list[Handler] = []

        # Powertools keys its records by the wrapped function's module and name ("app.lambda_handler"),
        # so `body` itself is what idempotent() wraps: the keys stay those of earlier deployments.
        @functools.wraps(body)
        def handler(event: Any, context: LambdaContext) -> Any:
            if not built:  # the first invocation of this container
                store = DynamoDBPersistenceLayer(table_name=os.environ.get("EKSGUARD_IDEMPOTENCY_TABLE", ""),
                                                 boto3_client=clients.default().client("dynamodb"))
                built.append(idempotent(persistence_store=store, config=config)(body))
            return built[0](event, context)

        return handler

    def respond(self, result: Result, counts: Mapping[str, int], *, handled: str = "event handled",
                rejected: str = "event rejected", omit: tuple[str, ...] = ()) -> dict[str, Any]:
        """Log the result (a rejection as an error with its reason, else the summary without the keys in
        ``omit``), add ``counts`` as Count metrics, and return the summary: the function's response."""
        if self.metrics is None:
            raise ValueError("this function was made with metrics=False: it has nothing to count with")
        summary = result.to_dict()
        # stacklevel 3: the line's "location" is the handler's call of respond(), as when it logged itself.
        if result.status == "rejected":
            self.logger.error(rejected, extra={"reason": result.reason}, stacklevel=3)
        else:
            self.logger.info(handled, extra={k: v for k, v in summary.items() if k not in omit}, stacklevel=3)
        for name, value in counts.items():
            self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
        return summary


def guard_counts(result: GuardResult, **counts: int) -> dict[str, int]:
    """What every event guard counts: the event by status (EventsProcessed, EventsSkipped, EventsRejected), its
    findings, the guard's own counts, and the actions that failed."""
    return {f"Events{result.status.capitalize()}": 1, "Findings": result.findings, **counts,
            "Failed": with_action(result, "failed")}


def with_action(result: GuardResult, action: str) -> int:
    return sum(1 for a in result.actions if a.action == action)


def applied(result: GuardResult) -> int:
    """Changes made, whatever their kind."""
    return sum(1 for a in result.actions if a.status == "applied")
