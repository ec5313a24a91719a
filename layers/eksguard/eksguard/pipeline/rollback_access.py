"""Roll back an EK-006 disassociation: re-associate the access policy with exactly the scope of the before-image,
after tagging the access entry exempt for a while so the guard does not disassociate the restore again.

The exemption goes on the access entry, not on the cluster: a cluster tag would also exempt EK-001 and EK-002
(a world-open endpoint, logging turned off) for a week; the entry's tag exempts this one principal's grant."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from eksguard.alert.publish import publish
from eksguard.alert.rollback import rollback_message
from eksguard.apply.eks import ACCESS_POLICY
from eksguard.aws import eks as eks_api
from eksguard.aws.audit import AuditRecord, AuditStore
from eksguard.aws.clients import Aws, error_code
from eksguard.pipeline.rollback_model import EXEMPT_DAYS, RollbackError, RollbackRequest, RollbackResult

RESOURCE_TYPE = ACCESS_POLICY
ROLLBACK_NAMESPACE = uuid.UUID("5e2a9c4b-7d13-4f6a-9b08-3c1d2e4f5a67")


def restore(aws: Aws, audit: AuditStore, record: Mapping[str, Any], request: RollbackRequest) -> RollbackResult:
    rid, image = request.remediation_id, record.get("before_image")
    region = str(record.get("region", ""))
    if record.get("outcome") == "rolled-back":
        raise RollbackError(f"remediation {rid} was already rolled back")
    if record.get("outcome") != "applied" or not isinstance(image, dict):
        raise RollbackError(f"remediation {rid} has outcome {record.get('outcome')!r}: eksguard disassociated "
                            "nothing, so there is nothing to roll back")
    cluster, principal = str(image["clusterName"]), str(image["principalArn"])
    association = dict(image["associatedAccessPolicy"])
    policy, scope = str(association["policyArn"]), dict(association["accessScope"])
    entry = eks_api.read_access_entry(aws, region, cluster, principal)
    if entry is None:
        raise RollbackError(f"the access entry of {principal} on cluster {cluster} no longer exists (or the cluster "
                            "does not): re-create the entry first (aws eks create-access-entry), then roll back")
    current = next((p for p in eks_api.read_associated_policies(aws, region, cluster, principal)
                    if p.get("policyArn") == policy), None)
    recreated = _changed_since(image, entry, current)
    if recreated and not request.force:
        raise RollbackError(f"{recreated} since eksguard disassociated it: restoring would overwrite that change. "
                            "Compare `replaced` and `restored` with --dry-run, then re-run with --force")
    until = (request.today + timedelta(days=EXEMPT_DAYS)).isoformat()
    tags, entry_arn = dict(entry.get("tags") or {}), str(entry["accessEntryArn"])
    previous_tag = tags.get(request.exempt_tag_key)
    keep_tag = previous_tag is not None and previous_tag.strip().lower() == "true"
    restored = {"clusterName": cluster, "principalArn": principal, "accessEntryArn": entry_arn,
                "associatedAccessPolicy": {"policyArn": policy, "accessScope": scope}}
    replaced = {**restored, "associatedAccessPolicy": current}
    if request.dry_run:
        return RollbackResult(rid, RESOURCE_TYPE, cluster, "would-roll-back", None, restored, replaced,
                              None if keep_tag else until)
    rollback_id = str(uuid.uuid5(ROLLBACK_NAMESPACE, f"{rid}|{request.time}"))
    audit.begin(AuditRecord(
        remediation_id=rollback_id, resource_type=RESOURCE_TYPE, resource_id=cluster, resource_arn=entry_arn,
        rule_id=str(record.get("rule_id", "")), event_id=f"rollback:{rid}", actor=request.actor, time=request.time,
        account=str(record.get("account", "")), region=region, mode=str(record.get("mode", "")),
        action="rolled-back", before=replaced, after=restored))
    error = None
    try:
        if not keep_tag:  # tag first: the event the restore produces must already find the entry exempt
            eks_api.tag_resource(aws, region, entry_arn, request.exempt_tag_key, until)
        eks_api.associate_policy(aws, region, cluster, principal, policy, scope)
        now = next((p for p in eks_api.read_associated_policies(aws, region, cluster, principal)
                    if p.get("policyArn") == policy), None)
        if now is None or not _same_scope(now.get("accessScope"), scope):
            error = "the association differs from the before-image after the restore"
    except ClientError as exc:
        error = f"{exc.operation_name} failed: {error_code(exc)}"
    if error is not None and not keep_tag:
        error += _put_back_tag(aws, region, entry_arn, request.exempt_tag_key, previous_tag)
    status = "failed" if error else "rolled-back"
    audit.finish(rollback_id, status, None if error else restored, error)
    if not error:  # the remediation itself now reads as undone (its after-image is kept for the record)
        written = record.get("after_image")
        audit.finish(rid, "rolled-back", written if isinstance(written, dict) else None)
    note = ("the access entry already carried an open-ended exemption" if keep_tag else
            f"access entry of {principal} tagged {request.exempt_tag_key}={until} so eksguard leaves the restored "
            "grant alone")
    publish(aws, request.alert_topic_arn, rollback_message(
        record, rollback_id, status, error, replaced, None if error else restored, request.actor, request.time, note),
        request.storm)
    return RollbackResult(rid, RESOURCE_TYPE, cluster, status, rollback_id, restored, replaced,
                          None if keep_tag else until, error)


def _changed_since(image: Mapping[str, Any], entry: Mapping[str, Any], current: Mapping[str, Any] | None) -> str:
    """What happened after the disassociation that a restore would overwrite ("" when nothing did)."""
    if current is not None:
        scope = current.get("accessScope") or {}
        where = "the whole cluster" if scope.get("type") == "cluster" else f"namespaces {scope.get('namespaces')}"
        return f"the policy was associated again (on {where})"
    before_entry = image.get("accessEntryArn")
    if before_entry and before_entry != entry.get("accessEntryArn"):
        return f"the access entry was deleted and re-created (now {entry.get('accessEntryArn')})"
    return ""


def _same_scope(found: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    found = found or {}
    return bool(found.get("type") == wanted.get("type")
                and sorted(found.get("namespaces") or []) == sorted(wanted.get("namespaces") or []))


def _put_back_tag(aws: Aws, region: str, entry_arn: str, key: str, previous: str | None) -> str:
    """A failed restore must not leave the entry exempt for a week: put the tag back as it was."""
    try:
        if previous is None:
            eks_api.untag_resource(aws, region, entry_arn, key)
        else:
            eks_api.tag_resource(aws, region, entry_arn, key, previous)
    except ClientError as exc:
        return f"; and the tag {key} could not be put back ({error_code(exc)}): check it on {entry_arn}"
    return ""
