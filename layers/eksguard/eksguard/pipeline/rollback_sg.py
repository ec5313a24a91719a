"""Roll back a security-group revoke: re-authorize the exact rule from its before-image (ports,
protocol, source, description, rule tags), after tagging the group exempt for a while so the guard
does not revoke the restored rule again."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from eksguard.alert.publish import publish
from eksguard.alert.rollback import rollback_message
from eksguard.aws import ec2, ec2_restore
from eksguard.aws.audit import AuditRecord, AuditStore
from eksguard.aws.clients import Aws, error_code
from eksguard.pipeline.rollback_model import EXEMPT_DAYS, RollbackError, RollbackRequest, RollbackResult

RESOURCE_TYPE = "security-group-rule"
ROLLBACK_NAMESPACE = uuid.UUID("3d1b7f2a-8c4e-4a9b-b6d5-2e7f0c1a9b84")


def same_rule(image: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    keys = ("IsEgress", "IpProtocol", "FromPort", "ToPort", "CidrIpv4", "CidrIpv6", "PrefixListId")
    ref = (image.get("ReferencedGroupInfo") or {}).get("GroupId")
    return all(image.get(k) == current.get(k) for k in keys) and ref == (
        current.get("ReferencedGroupInfo") or {}).get("GroupId")


def restore(aws: Aws, audit: AuditStore, record: Mapping[str, Any], request: RollbackRequest) -> RollbackResult:
    rid, group_id = request.remediation_id, str(record.get("resource_id"))
    image, region = record.get("before_image"), str(record.get("region", ""))
    if record.get("outcome") == "rolled-back":
        raise RollbackError(f"remediation {rid} was already rolled back")
    if record.get("outcome") != "revoked" or not isinstance(image, dict):
        raise RollbackError(f"remediation {rid} has outcome {record.get('outcome')!r}: eksguard revoked nothing, "
                            "so there is nothing to roll back")
    tags = ec2_restore.group_tags(aws, region, group_id)
    if tags is None:
        raise RollbackError(f"security group {group_id} no longer exists")
    current = [dict(r.image) for r in ec2.read_rules(aws.client("ec2", region), [group_id]).get(group_id, [])]
    present = next((r for r in current if same_rule(image, r)), None)
    if present is not None:
        return RollbackResult(rid, RESOURCE_TYPE, group_id, "already-restored", restored=image, replaced=present)
    until = (request.today + timedelta(days=EXEMPT_DAYS)).isoformat()
    previous_tag = tags.get(request.exempt_tag_key)
    keep_tag = previous_tag is not None and previous_tag.strip().lower() == "true"
    if request.dry_run:
        return RollbackResult(rid, RESOURCE_TYPE, group_id, "would-roll-back", None, image, None,
                              None if keep_tag else until)
    rollback_id = str(uuid.uuid5(ROLLBACK_NAMESPACE, f"{rid}|{request.time}"))
    audit.begin(AuditRecord(
        remediation_id=rollback_id, resource_type=RESOURCE_TYPE, resource_id=group_id,
        resource_arn=str(record.get("resource_arn", "")), rule_id=str(record.get("rule_id", "")),
        event_id=f"rollback:{rid}", actor=request.actor, time=request.time, account=str(record.get("account", "")),
        region=region, mode=str(record.get("mode", "")), action="rolled-back", before=None, after=image))
    error = None
    try:
        if not keep_tag:  # tag first: the event the restore produces must already find the group exempt
            ec2_restore.tag_group(aws, region, group_id, request.exempt_tag_key, until)
        ec2_restore.authorize_from_image(aws, region, image)
    except ClientError as exc:
        error = f"{exc.operation_name} failed: {error_code(exc)}"
        if not keep_tag:
            error += _put_back_tag(aws, region, group_id, request.exempt_tag_key, previous_tag)
    status = "failed" if error else "rolled-back"
    audit.finish(rollback_id, status, None if error else image, error)
    if not error:
        audit.finish(rid, "rolled-back", None)
    note = ("the group already carried an open-ended exemption" if keep_tag else
            f"group {group_id} tagged {request.exempt_tag_key}={until} so eksguard leaves the restored rule alone")
    publish(aws, request.alert_topic_arn, rollback_message(
        record, rollback_id, status, error, None, None if error else image, request.actor, request.time, note),
        request.storm)
    return RollbackResult(rid, RESOURCE_TYPE, group_id, status, rollback_id, image, None,
                          None if keep_tag else until, error)


def _put_back_tag(aws: Aws, region: str, group_id: str, key: str, previous: str | None) -> str:
    try:
        if previous is None:
            ec2_restore.untag_group(aws, region, group_id, key)
        else:
            ec2_restore.tag_group(aws, region, group_id, key, previous)
    except ClientError as exc:
        return f"; and the tag {key} could not be put back ({error_code(exc)}): check it on {group_id}"
    return ""
