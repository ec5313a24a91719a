"""The CloudTrail envelope: validate it, name the actor, and decide whether to look at it at all.

Accepts the EventBridge form (``detail`` holds the CloudTrail record) and a bare CloudTrail record
(as found in trail logs), so the same code serves the guards, the CLI and replayed logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eksguard.arn import partition_in, partition_of
from eksguard.model import EventContext

CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail"
# The event's region picks the endpoint eksguard reads from: it must look like a region, nothing else.
REGION = re.compile(r"^[a-z]{2,}(-[a-z]+)+-\d{1,2}[a-z]?$")
EKS_SERVICE_ROLES = ("AWSServiceRoleForAmazonEKS", "AWSServiceRoleForAmazonEKSNodegroup")


class EventError(ValueError):
    """The payload is not a CloudTrail event we can trust to say where to look."""


@dataclass(frozen=True)
class CloudTrailEvent:
    context: EventContext
    request: Mapping[str, Any] = field(compare=False)
    response: Mapping[str, Any] = field(compare=False)
    error_code: str | None = None
    user_type: str | None = None


def parse_envelope(raw: object) -> CloudTrailEvent:
    if not isinstance(raw, Mapping):
        raise EventError(f"event must be a JSON object, got {type(raw).__name__}")
    if "detail" in raw:
        detail = raw["detail"]
        if not isinstance(detail, Mapping):
            raise EventError("event.detail must be an object")
        detail_type = raw.get("detail-type")
        if detail_type is not None and detail_type != CLOUDTRAIL_DETAIL_TYPE:
            raise EventError(f"detail-type {detail_type!r} is not {CLOUDTRAIL_DETAIL_TYPE!r}")
        envelope: Mapping[str, Any] = raw
    else:
        detail, envelope = raw, {}

    event_name = _text(detail, "eventName")
    event_source = _text(detail, "eventSource")
    source = "aws." + event_source.split(".", 1)[0]
    if envelope.get("source") not in (None, source):
        raise EventError(f"envelope source {envelope['source']!r} contradicts eventSource {event_source!r}")
    identity = detail.get("userIdentity") or {}
    if not isinstance(identity, Mapping):
        raise EventError("detail.userIdentity must be an object")
    issuer = _nested(identity, "sessionContext", "sessionIssuer", "arn")
    account = envelope.get("account") or detail.get("recipientAccountId") or identity.get("accountId")
    region = envelope.get("region") or detail.get("awsRegion")
    if region is not None and (not isinstance(region, str) or not REGION.match(region)):
        raise EventError(f"region {region!r} is not an AWS region name")
    error_code = detail.get("errorCode")

    context = EventContext(
        event_id=_text(detail, "eventID"),
        event_name=event_name,
        source=source,
        account=_optional_text(account, "account"),
        region=_optional_text(region, "region"),
        time=_optional_text(envelope.get("time") or detail.get("eventTime"), "time"),
        actor=_actor(identity),
        session_issuer_arn=issuer if isinstance(issuer, str) and issuer else None,
        invoked_by=identity.get("invokedBy") if isinstance(identity.get("invokedBy"), str) else None,
        partition=partition_in(identity.get("arn") if isinstance(identity.get("arn"), str) else None)
        or partition_in(issuer if isinstance(issuer, str) else None) or partition_of(str(region or "")),
    )
    return CloudTrailEvent(
        context=context,
        request=_object_or_empty(detail, "requestParameters"),
        response=_object_or_empty(detail, "responseElements"),
        error_code=str(error_code) if error_code not in (None, "") else None,
        user_type=identity.get("type") if isinstance(identity.get("type"), str) else None,
    )


def skip_reason(event: CloudTrailEvent, own_role_path: str) -> str | None:
    """Why this event must not be acted on, or None. The template's pattern filters the same cases;
    checking again here means a forced or mis-routed delivery still cannot start a loop."""
    if event.error_code:
        return f"failed call ({event.error_code}): nothing changed"
    if is_own_role(event.context.session_issuer_arn, own_role_path):
        return "made by eksguard itself (loop guard)"
    return None


def is_own_role(arn: str | None, own_role_path: str) -> bool:
    if not arn:
        return False
    parts = arn.split(":", 5)
    return len(parts) == 6 and parts[2] == "iam" and parts[5].startswith("role" + own_role_path)


def is_eks_service_role(event: CloudTrailEvent) -> bool:
    # Service-linked roles live under /aws-service-role/: a customer role of the same name does not count.
    issuer = event.context.session_issuer_arn or ""
    return "/aws-service-role/" in issuer and issuer.rsplit("/", 1)[-1] in EKS_SERVICE_ROLES


def _actor(identity: Mapping[str, Any]) -> str:
    for key in ("arn", "invokedBy", "principalId"):
        value = identity.get(key)
        if isinstance(value, str) and value:
            return value
    return "unknown"


def _nested(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _text(detail: Mapping[str, Any], key: str) -> str:
    value = detail.get(key)
    if not isinstance(value, str) or not value.strip():
        raise EventError(f"detail.{key} is missing or not a string")
    return value


def _optional_text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EventError(f"{name} must be a string")
    return value


def _object_or_empty(detail: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = detail.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise EventError(f"detail.{key} must be an object or null")
    return value
